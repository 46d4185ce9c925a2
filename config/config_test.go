package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/config"
	"github.com/sluice-siem/sluice/gateway"
)

// problems flattens a joined error (errors.Join, nested for the gateway section) into
// its leaf messages.
func problems(err error) []string {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, problems(e)...)
		}
		return out
	}
	return []string{err.Error()}
}

// paths returns the path each problem starts with ("path: message").
func paths(err error) []string {
	var out []string
	for _, p := range problems(err) {
		path, _, _ := strings.Cut(p, ": ")
		out = append(out, path)
	}
	return out
}

// touch creates an empty file and returns its path.
func touch(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func validKey(name string) gateway.APIKey {
	return gateway.APIKey{Name: name, SHA256: gateway.HashKey("secret-" + name), Types: []string{"*"}}
}

func TestDefaultBindsByRole(t *testing.T) {
	for _, tc := range []struct {
		role                   config.Role
		http, grpc, lumberjack string
		kind                   string
	}{
		// Every role listens on loopback only unless told otherwise (the deployment
		// files in deploy/ set 0.0.0.0).
		{config.RoleDev, "127.0.0.1:8080", "127.0.0.1:9090", "127.0.0.1:5044", "embedded"},
		{config.RoleGateway, "127.0.0.1:8080", "127.0.0.1:9090", "127.0.0.1:5044", "kinesis"},
		{config.RoleTransform, "127.0.0.1:8080", "127.0.0.1:9090", "127.0.0.1:5044", "kinesis"},
	} {
		c := config.Default(tc.role)
		if c.HTTP.Addr != tc.http || c.GRPC.Addr != tc.grpc || c.Lumberjack.Addr != tc.lumberjack {
			t.Errorf("Default(%s) addrs = %q %q %q, want %q %q %q", tc.role,
				c.HTTP.Addr, c.GRPC.Addr, c.Lumberjack.Addr, tc.http, tc.grpc, tc.lumberjack)
		}
		if c.Stream.Kind != tc.kind {
			t.Errorf("Default(%s).Stream.Kind = %q, want %q", tc.role, c.Stream.Kind, tc.kind)
		}
		if c.Shutdown.DrainDelay >= c.Shutdown.Timeout {
			t.Errorf("Default(%s) drain delay %v not below timeout %v", tc.role, c.Shutdown.DrainDelay, c.Shutdown.Timeout)
		}
	}
}

func TestDefaultIsFreshEachCall(t *testing.T) {
	a := config.Default(config.RoleDev)
	a.Gateway.Routing.Streams["firewall"] = "changed"
	a.Gateway.Routing.TypeFields[0] = "changed"
	b := config.Default(config.RoleDev)
	if b.Gateway.Routing.Streams["firewall"] != "sluice-firewall" || b.Gateway.Routing.TypeFields[0] != "fields.log_type" {
		t.Fatalf("Default shares maps or slices between calls: %v %v", b.Gateway.Routing.Streams, b.Gateway.Routing.TypeFields)
	}
}

func TestDefaultValidatesForItsRole(t *testing.T) {
	if err := config.Default(config.RoleDev).Validate(config.RoleDev); err != nil {
		t.Errorf("Default(dev).Validate: %v", err)
	}
	// The transform tier has no sink until one is named: it never writes to local
	// disk by default (see TestTransformNeedsASink).
	tr := config.Default(config.RoleTransform)
	if got := paths(tr.Validate(config.RoleTransform)); !slices.Equal(got, []string{"sink.kind"}) {
		t.Errorf("Default(transform).Validate: problems at %q, want sink.kind", got)
	}
	tr.Sink.Kind = "file"
	if err := tr.Validate(config.RoleTransform); err != nil {
		t.Errorf("Default(transform) with sink.kind file: %v", err)
	}

	// The gateway refuses to run without keys, and says which setting is missing.
	err := config.Default(config.RoleGateway).Validate(config.RoleGateway)
	if got := paths(err); !slices.Equal(got, []string{"gateway.auth.keys"}) {
		t.Fatalf("Default(gateway).Validate problems at %q, want only gateway.auth.keys (err: %v)", got, err)
	}

	withKeys := config.Default(config.RoleGateway)
	withKeys.Gateway.Auth.Keys = []gateway.APIKey{validKey("ci")}
	if err := withKeys.Validate(config.RoleGateway); err != nil {
		t.Errorf("gateway defaults with a key: %v", err)
	}
	disabled := config.Default(config.RoleGateway)
	disabled.Gateway.Auth.Disabled = true
	if err := disabled.Validate(config.RoleGateway); err != nil {
		t.Errorf("gateway defaults with auth disabled: %v", err)
	}
}

func TestValidateStreamKindByRole(t *testing.T) {
	dev := config.Default(config.RoleDev)
	dev.Stream.Kind = "kinesis"
	if got := paths(dev.Validate(config.RoleDev)); !slices.Equal(got, []string{"stream.kind"}) {
		t.Errorf("dev on kinesis: problems at %q, want stream.kind", got)
	}
	tr := config.Default(config.RoleTransform)
	tr.Sink.Kind = "file"
	tr.Stream.Kind = "embedded"
	if got := paths(tr.Validate(config.RoleTransform)); !slices.Equal(got, []string{"stream.kind"}) {
		t.Errorf("transform on embedded: problems at %q, want stream.kind", got)
	}
	tr.Stream.Kind = "kafka"
	if got := paths(tr.Validate(config.RoleTransform)); !slices.Equal(got, []string{"stream.kind"}) {
		t.Errorf("transform on kafka: problems at %q, want stream.kind", got)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	cert, key := touch(t, "cert.pem"), touch(t, "key.pem")

	c := config.Default(config.RoleGateway)
	c.HTTP.Addr = "localhost"                                                           // no port
	c.GRPC.TLS.CertFile = cert                                                          // without key_file
	c.Lumberjack.TLS = config.TLS{CertFile: cert, KeyFile: key, ClientAuth: "required"} // no CA
	c.Gateway.Routing.UnknownTypes = "maybe"
	c.Gateway.Routing.Streams["firewall"] = "bad stream!"
	c.Gateway.Routing.Streams["Bad Type"] = "fine-stream"
	c.Gateway.Limits.MaxBatchEvents = -1
	c.Gateway.Auth.Keys = []gateway.APIKey{
		{Name: "ci", SHA256: "not-hex", Types: []string{"*"}},
		validKey("ci"), // same name
	}
	c.Log.Level = "loud"
	c.Stream.Embedded.Shards = 0
	c.Shutdown.DrainDelay = c.Shutdown.Timeout

	err := c.Validate(config.RoleGateway)
	if err == nil {
		t.Fatal("Validate accepted a config with many problems")
	}
	want := []string{
		"http.addr",
		"grpc.tls.key_file",
		"lumberjack.tls.client_ca_file",
		"gateway.routing.streams.Bad Type",
		"gateway.routing.streams.firewall",
		"gateway.routing.unknown_types",
		"gateway.limits.max_batch_events",
		"gateway.auth.keys[0].sha256",
		"gateway.auth.keys[1].name",
		"stream.embedded.shards",
		"shutdown.drain_delay",
		"log.level",
	}
	got := paths(err)
	if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
		t.Errorf("problem paths:\n got  %q\n want %q", got, want)
	}
	msg := err.Error()
	for _, p := range want {
		if !strings.Contains(msg, p+": ") {
			t.Errorf("joined error does not mention %s:\n%s", p, msg)
		}
	}

	// Top level: 6 own problems plus the gateway section, itself one joined error.
	top := err.(interface{ Unwrap() []error }).Unwrap()
	if len(top) != 7 {
		t.Errorf("Validate joined %d errors at the top, want 7 (6 + the gateway section)", len(top))
	}
	var gw interface{ Unwrap() []error }
	for _, e := range top {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			gw = j
		}
	}
	if gw == nil || len(gw.Unwrap()) != 6 {
		t.Errorf("gateway section is not one joined error of 6 problems: %v", gw)
	}
	if len(got) != 12 {
		t.Errorf("%d problems, want 12", len(got))
	}
}

func TestValidateTLS(t *testing.T) {
	cert, key, ca := touch(t, "cert.pem"), touch(t, "key.pem"), touch(t, "ca.pem")
	missing := filepath.Join(t.TempDir(), "nope.pem")
	for _, tc := range []struct {
		name string
		tls  config.TLS
		want []string
	}{
		{"off", config.TLS{ClientAuth: "none"}, nil},
		{"on", config.TLS{CertFile: cert, KeyFile: key}, nil},
		{"mutual", config.TLS{CertFile: cert, KeyFile: key, ClientCAFile: ca, ClientAuth: "required"}, nil},
		{"key without cert", config.TLS{KeyFile: key}, []string{"http.tls.cert_file"}},
		{"missing files", config.TLS{CertFile: missing, KeyFile: key, ClientCAFile: missing, ClientAuth: "optional"},
			[]string{"http.tls.cert_file", "http.tls.client_ca_file"}},
		{"client auth without TLS", config.TLS{ClientCAFile: ca, ClientAuth: "optional"}, []string{"http.tls.client_auth"}},
		{"client auth typo", config.TLS{CertFile: cert, KeyFile: key, ClientAuth: "always"}, []string{"http.tls.client_auth"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default(config.RoleDev)
			c.HTTP.TLS = tc.tls
			got := paths(c.Validate(config.RoleDev))
			if !slices.Equal(got, tc.want) {
				t.Errorf("problems at %q, want %q", got, tc.want)
			}
		})
	}
}

func TestValidateAddr(t *testing.T) {
	for addr, ok := range map[string]bool{
		"":                true, // disabled
		":8080":           true,
		"127.0.0.1:0":     true,
		"[::1]:9090":      true,
		"host.internal:1": true,
		"localhost":       false,
		"localhost:":      false,
		"localhost:http":  false,
		"8080":            false,
		"::1":             false,
		":65536":          false,
		":-1":             false,
	} {
		c := config.Default(config.RoleDev)
		c.GRPC.Addr = addr
		got := paths(c.Validate(config.RoleDev))
		if ok != (len(got) == 0) || (!ok && !slices.Equal(got, []string{"grpc.addr"})) {
			t.Errorf("grpc.addr %q: problems at %q, want ok=%v", addr, got, ok)
		}
	}
}

func TestValidateNeedsAReceiver(t *testing.T) {
	c := config.Default(config.RoleDev)
	c.HTTP.Addr, c.GRPC.Addr = "", ""
	if err := c.Validate(config.RoleDev); err != nil {
		t.Errorf("dev with lumberjack only: %v", err)
	}
	c.Lumberjack.Addr = ""
	if got := paths(c.Validate(config.RoleDev)); !slices.Equal(got, []string{"http.addr"}) {
		t.Errorf("dev without http, grpc and lumberjack: problems at %q, want http.addr", got)
	}
	tr := config.Default(config.RoleTransform)
	tr.Sink.Kind = "file"
	tr.HTTP.Addr, tr.GRPC.Addr = "", ""
	if err := tr.Validate(config.RoleTransform); err != nil {
		t.Errorf("transform without receivers: %v", err)
	}
}

func TestValidateShutdown(t *testing.T) {
	for _, tc := range []struct {
		timeout, drain time.Duration
		want           []string
	}{
		{30 * time.Second, 29 * time.Second, nil},
		{30 * time.Second, 30 * time.Second, []string{"shutdown.drain_delay"}},
		{30 * time.Second, -time.Second, []string{"shutdown.drain_delay"}},
		{0, 0, []string{"shutdown.timeout", "shutdown.drain_delay"}},
	} {
		c := config.Default(config.RoleDev)
		c.Shutdown = config.Shutdown{Timeout: tc.timeout, DrainDelay: tc.drain}
		if got := paths(c.Validate(config.RoleDev)); !slices.Equal(got, tc.want) {
			t.Errorf("shutdown %v/%v: problems at %q, want %q", tc.timeout, tc.drain, got, tc.want)
		}
	}
}

func TestValidateEmbeddedFitsARequest(t *testing.T) {
	c := config.Default(config.RoleDev)
	c.Stream.Embedded.MaxBytes = c.Gateway.Limits.MaxDecodedBytes - 1
	if got := paths(c.Validate(config.RoleDev)); !slices.Equal(got, []string{"stream.embedded.max_bytes"}) {
		t.Errorf("problems at %q, want stream.embedded.max_bytes", got)
	}
}

// The syslog and RELP receivers are off by default; when set, their addresses are
// checked with the other listeners', and RELP's window must fit one gateway batch.
func TestSyslogAndRELPListeners(t *testing.T) {
	for _, role := range []config.Role{config.RoleDev, config.RoleGateway} {
		c := config.Default(role)
		if c.Syslog.TCP.Addr != "" || c.Syslog.TLS.Addr != "" || c.Syslog.UDP.Addr != "" || c.RELP.Addr != "" {
			t.Errorf("%s: syslog or RELP listens by default: %+v %q", role, c.Syslog, c.RELP.Addr)
		}
	}
	c := config.Default(config.RoleDev)
	c.Syslog.TCP.Addr, c.Syslog.UDP.Addr, c.RELP.Addr = "localhost", "127.0.0.1:5514", "127.0.0.1:2514"
	c.Gateway.Limits.MaxBatchEvents = 100 // RELP's default window is 128
	got := paths(c.Validate(config.RoleDev))
	if !slices.Equal(got, []string{"syslog.tcp.addr", "relp.window"}) {
		t.Errorf("problems at %q, want syslog.tcp.addr and relp.window", got)
	}
	// A gateway with only a syslog listener receives something.
	only := config.Default(config.RoleDev)
	only.HTTP.Addr, only.GRPC.Addr, only.Lumberjack.Addr, only.Syslog.UDP.Addr = "", "", "", "127.0.0.1:5514"
	if err := only.Validate(config.RoleDev); err != nil {
		t.Errorf("syslog alone: %v", err)
	}
}

// TestConsoleDefaultsAndKey: the console is on in dev only, and sluice transform, which
// has no API keys, needs the console's own key to serve it; the section checks itself.
func TestConsoleDefaultsAndKey(t *testing.T) {
	for role, want := range map[config.Role]bool{config.RoleDev: true, config.RoleGateway: false, config.RoleTransform: false} {
		if got := config.Default(role).UI.Enabled; got != want {
			t.Errorf("%s: ui.enabled %v by default", role, got)
		}
	}
	env := func(vars map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	}
	c, err := config.Load(config.RoleTransform, "", env(map[string]string{"SLUICE_UI_ENABLED": "true", "SLUICE_HTTP_ADDR": "127.0.0.1:8080"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(config.RoleTransform); err == nil || !strings.Contains(err.Error(), "ui.admin_key_sha256: required") {
		t.Errorf("transform with the console and no key: %v", err)
	}
	c.UI.AdminKeySHA256 = gateway.HashKey("k")
	c.Stream.Leases.Store = "memory"
	if err := c.Validate(config.RoleTransform); err != nil && strings.Contains(err.Error(), "ui.") {
		t.Errorf("transform with the console's key: %v", err)
	}
	c.UI.TapRate = 0
	if err := c.Validate(config.RoleTransform); err == nil || !strings.Contains(err.Error(), "ui.tap_rate") {
		t.Errorf("a bad tap rate: %v", err)
	}
}
