package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/config"
	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/internal/bytesize"
)

// envOf is an environment of exactly vars, so that tests never see the process's.
func envOf(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadWithoutFileOrEnvIsDefault(t *testing.T) {
	for _, role := range []config.Role{config.RoleDev, config.RoleGateway, config.RoleTransform} {
		c, err := config.Load(role, "", envOf(nil))
		if err != nil {
			t.Fatalf("Load(%s): %v", role, err)
		}
		if !reflect.DeepEqual(c, config.Default(role)) {
			t.Errorf("Load(%s) with nothing set differs from Default", role)
		}
	}
}

func TestLoadFileOverlaysDefaults(t *testing.T) {
	path := writeFile(t, "sluice.yaml", `
http:
  addr: 127.0.0.1:18080
gateway:
  limits:
    max_body_bytes: 1MiB
  auth:
    keys:
      - {name: ci, sha256: `+gateway.HashKey("k")+`, types: ["*"]}
shutdown:
  timeout: 10s
log:
  level: debug
`)
	got, err := config.Load(config.RoleDev, path, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := config.Default(config.RoleDev)
	want.HTTP.Addr = "127.0.0.1:18080"
	want.Gateway.Limits.MaxBodyBytes = bytesize.MiB
	want.Gateway.Auth.Keys = []gateway.APIKey{{Name: "ci", SHA256: gateway.HashKey("k"), Types: []string{"*"}}}
	want.Shutdown.Timeout = 10 * time.Second
	want.Log.Level = "debug"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load changed more (or less) than the file names:\n got  %+v\n want %+v", got, want)
	}
}

func TestLoadEmptyFileIsDefault(t *testing.T) {
	got, err := config.Load(config.RoleGateway, writeFile(t, "empty.yaml", "# nothing\n"), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, config.Default(config.RoleGateway)) {
		t.Error("an empty file changed the defaults")
	}
}

func TestLoadUnknownFieldWithLine(t *testing.T) {
	path := writeFile(t, "typo.yaml", "http:\n  addr: \":1\"\n  adress: \":2\"\n")
	_, err := config.Load(config.RoleDev, path, envOf(nil))
	if err == nil {
		t.Fatal("unknown field accepted")
	}
	for _, want := range []string{path, "line 3", "adress"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestLoadReportsEveryTypeError(t *testing.T) {
	path := writeFile(t, "types.yaml", `stream:
  embedded:
    shards: many
gateway:
  limits:
    max_batch_events: lots
shutdown:
  timeout: soon
`)
	_, err := config.Load(config.RoleDev, path, envOf(nil))
	if err == nil {
		t.Fatal("type errors accepted")
	}
	for _, want := range []string{"line 3", "many", "line 6", "lots", "line 8", "soon"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	ps := problems(err)
	if len(ps) != 3 {
		t.Errorf("Load reported %d problems, want 3 (one per bad field):\n%v", len(ps), err)
	}
	for _, p := range ps {
		if !strings.HasPrefix(p, path+": line ") {
			t.Errorf("problem %q does not start with the file and line", p)
		}
	}
}

// TestLoadDurationWithoutUnit: a duration written as a bare number (the natural
// "0" to turn a wait off) is refused with its line and how to write it, in the file and
// in the environment alike.
func TestLoadDurationWithoutUnit(t *testing.T) {
	path := writeFile(t, "durations.yaml", "tracing:\n  keep_slow: 0\n")
	_, err := config.Load(config.RoleDev, path, envOf(map[string]string{"SLUICE_SHUTDOWN_TIMEOUT": "30"}))
	ps := problems(err)
	if len(ps) != 2 {
		t.Fatalf("problems %q, want the file's and the variable's", ps)
	}
	for i, want := range []string{path + ": line 2: ", "SLUICE_SHUTDOWN_TIMEOUT (for shutdown.timeout): "} {
		if !strings.HasPrefix(ps[i], want) || !strings.HasSuffix(ps[i], "(a duration needs a unit: 0s, 250ms, 5s, 1m, 1h30m)") {
			t.Errorf("problem %q: want it to start %q and say a duration needs a unit", ps[i], want)
		}
	}
	if _, err := config.Load(config.RoleDev, writeFile(t, "ok.yaml", "tracing:\n  keep_slow: 0s\n"), envOf(nil)); err != nil {
		t.Errorf("keep_slow: 0s: %v", err)
	}
}

// A bad byte size must not hide the problems after it.
func TestLoadBadByteSizeDoesNotStopDecoding(t *testing.T) {
	path := writeFile(t, "size.yaml", `gateway:
  limits:
    max_body_bytes: huge
stream:
  embedded:
    shards: many
    max_bytes: 1 parsec
`)
	_, err := config.Load(config.RoleDev, path, envOf(nil))
	if err == nil {
		t.Fatal("bad byte size accepted")
	}
	for _, want := range []string{"line 3", "huge", "line 6", "many", "line 7", "parsec"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if got := len(problems(err)); got != 3 {
		t.Errorf("Load reported %d problems, want 3 (one per bad field):\n%v", got, err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.yaml")
	_, err := config.Load(config.RoleDev, path, envOf(nil))
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Load of a missing file: %v, want an error naming %s", err, path)
	}
}

func TestLoadEnvOverrides(t *testing.T) {
	keyHash := gateway.HashKey("k1")
	env := map[string]string{
		"SLUICE_HTTP_ADDR":                     "127.0.0.1:18080",
		"SLUICE_SHUTDOWN_TIMEOUT":              "5s",
		"SLUICE_GATEWAY_LIMITS_MAX_BODY_BYTES": "2MiB",
		"SLUICE_GATEWAY_ROUTING_TYPE_FIELDS":   "[a.b, c]",
		"SLUICE_GATEWAY_ROUTING_STREAMS":       "{fw: s1}",
		"SLUICE_GATEWAY_AUTH_KEYS":             `[{name: k1, sha256: ` + keyHash + `, types: [firewall, ids]}, {name: k2, sha256: ` + keyHash + `, types: ["*"]}]`,
		"SLUICE_SINK_FILE_FSYNC":               "true",
		"SLUICE_STREAM_EMBEDDED_SHARDS":        "8",
		"SLUICE_HTTP_TLS_CLIENT_AUTH":          "optional",
		"SLUICE_UNRELATED":                     "ignored",
	}
	got, err := config.Load(config.RoleDev, "", envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	want := config.Default(config.RoleDev)
	want.HTTP.Addr = "127.0.0.1:18080"
	want.Shutdown.Timeout = 5 * time.Second
	want.Gateway.Limits.MaxBodyBytes = 2 * bytesize.MiB
	want.Gateway.Routing.TypeFields = []string{"a.b", "c"}
	want.Gateway.Routing.Streams = map[string]string{"fw": "s1"} // replaced, not merged
	want.Gateway.Auth.Keys = []gateway.APIKey{
		{Name: "k1", SHA256: keyHash, Types: []string{"firewall", "ids"}},
		{Name: "k2", SHA256: keyHash, Types: []string{"*"}},
	}
	want.Sink.File.Fsync = true
	want.Stream.Embedded.Shards = 8
	want.HTTP.TLS.ClientAuth = "optional"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("env overrides:\n got  %+v\n want %+v", got, want)
	}
}

func TestLoadEnvStringIsTakenVerbatim(t *testing.T) {
	// A string field is not parsed as YAML: these would be a map, a number and null.
	for _, v := range []string{"{a: b}", "8080", "~", ""} {
		got, err := config.Load(config.RoleDev, "", envOf(map[string]string{"SLUICE_SINK_FILE_DIR": v}))
		if err != nil {
			t.Fatalf("SLUICE_SINK_FILE_DIR=%q: %v", v, err)
		}
		if got.Sink.File.Dir != v {
			t.Errorf("SLUICE_SINK_FILE_DIR=%q gave %q", v, got.Sink.File.Dir)
		}
	}
}

func TestLoadEnvBeatsFile(t *testing.T) {
	path := writeFile(t, "f.yaml", "http:\n  addr: 127.0.0.1:1111\nlog:\n  level: warn\n")
	got, err := config.Load(config.RoleDev, path, envOf(map[string]string{"SLUICE_HTTP_ADDR": "127.0.0.1:2222"}))
	if err != nil {
		t.Fatal(err)
	}
	if got.HTTP.Addr != "127.0.0.1:2222" {
		t.Errorf("http.addr = %q, want the environment's 127.0.0.1:2222", got.HTTP.Addr)
	}
	if got.Log.Level != "warn" {
		t.Errorf("log.level = %q, want the file's warn", got.Log.Level)
	}
}

func TestLoadBadEnvNamesTheVariable(t *testing.T) {
	_, err := config.Load(config.RoleDev, "", envOf(map[string]string{
		"SLUICE_SHUTDOWN_TIMEOUT":              "soon",
		"SLUICE_GATEWAY_LIMITS_MAX_BODY_BYTES": "lots",
		"SLUICE_HTTP_ADDR":                     ":1", // fine
	}))
	if err == nil {
		t.Fatal("bad environment values accepted")
	}
	ps := problems(err)
	if len(ps) != 2 {
		t.Fatalf("%d problems, want 2:\n%v", len(ps), err)
	}
	for _, want := range []string{"SLUICE_SHUTDOWN_TIMEOUT", "shutdown.timeout", "soon", "SLUICE_GATEWAY_LIMITS_MAX_BODY_BYTES", "lots"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestLoadReportsFileAndEnvProblemsTogether(t *testing.T) {
	path := writeFile(t, "f.yaml", "log:\n  levl: debug\n")
	_, err := config.Load(config.RoleDev, path, envOf(map[string]string{"SLUICE_STREAM_EMBEDDED_SHARDS": "four"}))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"levl", "SLUICE_STREAM_EMBEDDED_SHARDS"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestEnvName(t *testing.T) {
	for path, want := range map[string]string{
		"gateway.limits.max_body_bytes": "SLUICE_GATEWAY_LIMITS_MAX_BODY_BYTES",
		"http.addr":                     "SLUICE_HTTP_ADDR",
		"grpc.tls.client_ca_file":       "SLUICE_GRPC_TLS_CLIENT_CA_FILE",
	} {
		if got := config.EnvName(path); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestDocumentRoundTrips(t *testing.T) {
	for _, role := range []config.Role{config.RoleDev, config.RoleGateway, config.RoleTransform} {
		t.Run(string(role), func(t *testing.T) {
			def := config.Default(role)
			doc, err := config.Document(def)
			if err != nil {
				t.Fatal(err)
			}
			var any map[string]any
			if err := yaml.Unmarshal(doc, &any); err != nil {
				t.Fatalf("Document is not YAML: %v\n%s", err, doc)
			}
			got, err := config.Load(role, writeFile(t, "defaults.yaml", string(doc)), envOf(nil))
			if err != nil {
				t.Fatalf("Load(Document(Default)): %v\n%s", err, doc)
			}
			// The one representational difference: "keys: []" decodes as an empty list,
			// where the default has none (nil). Both mean "no keys".
			def.Gateway.Auth.Keys = []gateway.APIKey{}
			if !reflect.DeepEqual(got, def) {
				t.Errorf("Load(Document(Default(%s))) != Default(%s):\n got  %+v\n want %+v", role, role, got, def)
			}
		})
	}
}

func TestDocumentComments(t *testing.T) {
	doc, err := config.Document(config.Default(config.RoleDev))
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	for _, want := range []string{
		"(SLUICE_HTTP_ADDR)",
		"(SLUICE_GRPC_TLS_CLIENT_AUTH)",
		"(SLUICE_GATEWAY_LIMITS_MAX_BODY_BYTES)",
		"(SLUICE_GATEWAY_ROUTING_STREAMS)",
		"(SLUICE_GATEWAY_AUTH_KEYS)",
		"(SLUICE_STREAM_EMBEDDED_MAX_BYTES)",
		"(SLUICE_SHUTDOWN_DRAIN_DELAY)",
		"(SLUICE_LOG_LEVEL)",
		"# host:port to listen on; empty disables (SLUICE_LUMBERJACK_ADDR)",
		"# the stream between the tiers\n",
		"127.0.0.1:8080",
		"256MiB",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("Document does not contain %q", want)
		}
	}
	// The comment sits on the line above its field.
	if !strings.Contains(s, "(SLUICE_LOG_LEVEL)\n  level: info\n") {
		t.Errorf("log.level comment is not right above the field:\n%s", s)
	}
	// Each variable is documented once.
	for _, v := range []string{"(SLUICE_HTTP_ADDR)", "(SLUICE_HTTP_TLS_CERT_FILE)"} {
		if n := strings.Count(s, v); n != 1 {
			t.Errorf("%s appears %d times", v, n)
		}
	}
}

// A file's map replaces the default map, as the environment variable does, so that a
// file can drop the default routes.
func TestLoadFileMapReplacesDefault(t *testing.T) {
	path := writeFile(t, "m.yaml", "gateway:\n  routing:\n    streams: {fw: s1}\n")
	got, err := config.Load(config.RoleDev, path, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"fw": "s1"}; !reflect.DeepEqual(got.Gateway.Routing.Streams, want) {
		t.Errorf("streams = %v, want %v (as SLUICE_GATEWAY_ROUTING_STREAMS gives)", got.Gateway.Routing.Streams, want)
	}
}

// An empty variable for a non-string setting is an error, not a silent zero value.
func TestLoadEnvEmptyNonString(t *testing.T) {
	_, err := config.Load(config.RoleDev, "", envOf(map[string]string{
		"SLUICE_GRPC_READ_TIMEOUT": "",
		"SLUICE_SINK_FILE_FSYNC":   " ",
		"SLUICE_HTTP_ADDR":         "", // a string: empty disables the listener
	}))
	if err == nil {
		t.Fatal("empty values accepted")
	}
	for _, want := range []string{"SLUICE_GRPC_READ_TIMEOUT (for grpc.read_timeout): empty value", "SLUICE_SINK_FILE_FSYNC (for sink.file.fsync): empty value"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "SLUICE_HTTP_ADDR") {
		t.Errorf("empty string setting reported: %v", err)
	}
}
