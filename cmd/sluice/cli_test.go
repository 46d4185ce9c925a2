package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/config"
	"github.com/sluice-siem/sluice/gateway"
)

// cli runs the command line with an environment of exactly env (never the process's)
// and returns the exit code and what it printed.
func cli(t *testing.T, stdin string, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	lookup := func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
	code = run(ctx, args, strings.NewReader(stdin), &out, &errOut, lookup)
	return code, out.String(), errOut.String()
}

func TestValidateGoodFile(t *testing.T) {
	code, stdout, stderr := cli(t, "", nil, "validate", "-c", "testdata/good.yaml", "--role", "dev")
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	if want := "testdata/good.yaml: valid for sluice dev\n"; stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
	if stderr != "" {
		t.Errorf("stderr = %q, want nothing", stderr)
	}
}

func TestValidateAppliesTheEnvironment(t *testing.T) {
	code, _, stderr := cli(t, "", map[string]string{"SLUICE_LOG_LEVEL": "loud"},
		"validate", "--config", "testdata/good.yaml", "--role", "dev")
	if code != 1 || !strings.Contains(stderr, `log.level: must be debug, info, warn or error, not "loud"`) {
		t.Fatalf("exit %d, stderr:\n%s\nwant 1 and the log.level problem", code, stderr)
	}
}

func TestValidateBadFileListsEveryProblem(t *testing.T) {
	// No --role: validate checks for the gateway role.
	code, stdout, stderr := cli(t, "", nil, "validate", "-c", "testdata/bad.yaml")
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if lines[0] != "testdata/bad.yaml: 7 problem(s):" {
		t.Errorf("first line = %q, want the file and the count of 7", lines[0])
	}
	want := []string{
		"http.addr",
		"gateway.routing.unknown_types",
		"gateway.limits.max_batch_events",
		"gateway.auth.keys",
		"stream.kind",
		"shutdown.drain_delay",
		"log.level",
	}
	if len(lines)-1 != len(want) {
		t.Fatalf("%d problem lines, want %d:\n%s", len(lines)-1, len(want), stderr)
	}
	for i, path := range want {
		if !strings.HasPrefix(lines[i+1], "  "+path+": ") {
			t.Errorf("problem %d = %q, want it to start with %q", i+1, lines[i+1], path+": ")
		}
	}
}

func TestValidateLoadProblemsAreCountedOneEach(t *testing.T) {
	code, _, stderr := cli(t, "", nil, "validate", "-c", "testdata/types.yaml", "--role", "dev")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.HasPrefix(stderr, "testdata/types.yaml: 3 problem(s):\n") {
		t.Errorf("stderr does not start with a count of 3:\n%s", stderr)
	}
	for _, want := range []string{"line 4", "many", "line 7", "huge", "line 9", "levle"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not mention %q:\n%s", want, stderr)
		}
	}
}

func TestValidateUsageErrors(t *testing.T) {
	code, _, stderr := cli(t, "", nil, "validate")
	if code != 2 || !strings.Contains(stderr, "-c FILE is required") {
		t.Errorf("validate without -c: exit %d, stderr %q; want 2 and the reason", code, stderr)
	}
	code, _, stderr = cli(t, "", nil, "validate", "-c", "testdata/good.yaml", "--role", "consumer")
	if code != 2 || !strings.Contains(stderr, `"consumer"`) {
		t.Errorf("validate --role consumer: exit %d, stderr %q; want 2 naming the role", code, stderr)
	}
	code, _, _ = cli(t, "", nil, "validate", "--no-such-flag")
	if code != 2 {
		t.Errorf("validate --no-such-flag: exit %d, want 2", code)
	}
}

func TestValidateMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.yaml")
	code, _, stderr := cli(t, "", nil, "validate", "-c", path)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(stderr, path) {
		t.Errorf("stderr does not name %s:\n%s", path, stderr)
	}
}

func TestDefaultsGateway(t *testing.T) {
	code, stdout, stderr := cli(t, "", nil, "defaults", "gateway")
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	// Loopback by default in every role: deployments choose 0.0.0.0.
	for _, want := range []string{"# sluice gateway:", "(SLUICE_HTTP_ADDR)", "addr: 127.0.0.1:8080", "(SLUICE_GATEWAY_AUTH_KEYS)", "kind: kinesis",
		"(SLUICE_HTTP_MAX_CONNECTIONS)", "(SLUICE_GRPC_MAX_CONCURRENT_STREAMS)", "(SLUICE_GRPC_KEEPALIVE_MIN_TIME)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("defaults gateway does not print %q", want)
		}
	}

	// What it prints is a configuration file that loads back to the defaults.
	path := filepath.Join(t.TempDir(), "defaults.yaml")
	if err := os.WriteFile(path, []byte(stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := config.Load(config.RoleGateway, path, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("load the printed defaults: %v", err)
	}
	want := config.Default(config.RoleGateway)
	want.Gateway.Auth.Keys = []gateway.APIKey{} // "keys: []" loads as an empty list
	if !reflect.DeepEqual(got, want) {
		t.Errorf("printed defaults load as\n %+v\nwant\n %+v", got, want)
	}
}

func TestDefaultsRoles(t *testing.T) {
	code, stdout, _ := cli(t, "", nil, "defaults")
	if code != 0 || !strings.Contains(stdout, "# sluice dev:") || !strings.Contains(stdout, "127.0.0.1:8080") {
		t.Errorf("defaults without a role: exit %d, want 0 and the dev defaults", code)
	}
	for _, args := range [][]string{{"defaults", "bogus"}, {"defaults", "dev", "gateway"}} {
		code, stdout, stderr := cli(t, "", nil, args...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, "usage: sluice defaults") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and the usage on stderr", args, code, stdout, stderr)
		}
	}
}

func TestHashKeyFromStdin(t *testing.T) {
	for _, stdin := range []string{"secret\n", "secret", "  secret  \r\n", "secret\nignored second line\n"} {
		code, stdout, stderr := cli(t, stdin, nil, "hash-key")
		if code != 0 {
			t.Fatalf("stdin %q: exit %d; stderr %s", stdin, code, stderr)
		}
		if want := gateway.HashKey("secret") + "\n"; stdout != want {
			t.Errorf("stdin %q: stdout %q, want %q", stdin, stdout, want)
		}
	}
	// The documented example in testdata/good.yaml is that same hash.
	if gateway.HashKey("secret") != "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b" {
		t.Error("gateway.HashKey is not the hex SHA-256 of the key")
	}
}

func TestHashKeyEmptyStdin(t *testing.T) {
	for _, stdin := range []string{"", "\n", "   \n"} {
		code, stdout, stderr := cli(t, stdin, nil, "hash-key")
		if code != 2 || stdout != "" || !strings.Contains(stderr, "no key") {
			t.Errorf("stdin %q: exit %d, stdout %q, stderr %q; want 2 and a message", stdin, code, stdout, stderr)
		}
	}
}

func TestHashKeyGenerate(t *testing.T) {
	code, stdout, stderr := cli(t, "", nil, "hash-key", "--generate")
	if code != 0 {
		t.Fatalf("exit %d; stderr %s", code, stderr)
	}
	m := regexp.MustCompile(`^key: +(slk_[0-9a-f]{48})\nsha256: ([0-9a-f]{64})\n$`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("output %q is not a key line and a sha256 line", stdout)
	}
	if gateway.HashKey(m[1]) != m[2] {
		t.Errorf("printed hash %s is not the hash of the printed key %s", m[2], m[1])
	}
	_, again, _ := cli(t, "", nil, "hash-key", "--generate")
	if again == stdout {
		t.Error("two generated keys are the same")
	}
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		code, stdout, stderr := cli(t, "", nil, arg)
		if code != 0 || !regexp.MustCompile(`^sluice \S+\n$`).MatchString(stdout) || stderr != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 0 and \"sluice VERSION\"", arg, code, stdout, stderr)
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	code, stdout, stderr := cli(t, "", nil, "frobnicate")
	if code != 2 || stdout != "" || !strings.Contains(stderr, `unknown command "frobnicate"`) || !strings.Contains(stderr, "Usage:") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 2, the command named and the usage", code, stdout, stderr)
	}
	code, _, stderr = cli(t, "", nil)
	if code != 2 || !strings.Contains(stderr, "Usage:") {
		t.Errorf("no command: exit %d, stderr %q; want 2 and the usage", code, stderr)
	}
	code, stdout, _ = cli(t, "", nil, "help")
	if code != 0 || !strings.Contains(stdout, "Usage:") {
		t.Errorf("help: exit %d, stdout %q; want 0 and the usage on stdout", code, stdout)
	}
}

func TestDevRefusesInvalidConfig(t *testing.T) {
	start := time.Now()
	code, _, stderr := cli(t, "", map[string]string{"SLUICE_LOG_LEVEL": "loud"}, "dev", "--data-dir", t.TempDir())
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "sluice dev: configuration: 1 problem(s):") || !strings.Contains(stderr, "log.level") {
		t.Errorf("stderr does not report the log.level problem:\n%s", stderr)
	}
	// It stopped before building anything: the first log line of a start is never written.
	if strings.Contains(stderr, "starting sluice") {
		t.Errorf("dev started despite the invalid config:\n%s", stderr)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v to refuse a bad config", d)
	}
}

func TestDevFlagsAreValidated(t *testing.T) {
	code, _, stderr := cli(t, "", nil, "dev", "--http", "localhost", "--data-dir", t.TempDir())
	if code != 1 || !strings.Contains(stderr, "http.addr") || strings.Contains(stderr, "starting sluice") {
		t.Errorf("dev --http localhost: exit %d, stderr:\n%s\nwant 1 naming http.addr, before starting", code, stderr)
	}
	code, _, stderr = cli(t, "", nil, "dev", "stray")
	if code != 2 || !strings.Contains(stderr, "unexpected arguments") {
		t.Errorf("dev stray: exit %d, stderr %q; want 2", code, stderr)
	}
	code, _, stderr = cli(t, "", nil, "dev", "-c", "testdata/types.yaml")
	if code != 1 || !strings.Contains(stderr, "3 problem(s)") {
		t.Errorf("dev -c types.yaml: exit %d, stderr:\n%s\nwant 1 and the load problems", code, stderr)
	}
}

// TestTransformRefusesNoSink: a transform tier with no sink configured would write
// NDJSON to the task's ephemeral disk. `sluice transform` and `sluice validate --role
// transform` refuse it, naming what to set, and accept sink.kind file set on purpose,
// creating no data directory before it is written to.
func TestTransformRefusesNoSink(t *testing.T) {
	cfgPath := filepath.Join(t.TempDir(), "transform.yaml")
	if err := os.WriteFile(cfgPath, []byte("stream: {kind: kinesis, leases: {store: memory}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	for _, args := range [][]string{
		{"validate", "-c", cfgPath, "--role", "transform"},
		{"transform", "-c", cfgPath, "--data-dir", dataDir},
	} {
		code, _, stderr := cli(t, "", nil, args...)
		if code != 1 || !strings.Contains(stderr, "sink.kind: no sink configured") ||
			!strings.Contains(stderr, "SLUICE_SINK_SEARCH_ADDRESSES") || !strings.Contains(stderr, "sink.kind: file") {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant 1 and the sink.kind problem naming both ways out", args, code, stderr)
		}
		if strings.Contains(stderr, "starting sluice") {
			t.Errorf("%v: started despite no sink:\n%s", args, stderr)
		}
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("data directory created by a refused start: %v", err)
	}
	code, stdout, stderr := cli(t, "", map[string]string{"SLUICE_SINK_KIND": "file"}, "validate", "-c", cfgPath, "--role", "transform")
	if code != 0 || !strings.Contains(stdout, "valid for sluice transform") {
		t.Errorf("sink.kind file set explicitly: exit %d, stderr:\n%s", code, stderr)
	}
	code, _, stderr = cli(t, "", map[string]string{"SLUICE_SINK_SEARCH_ADDRESSES": "[http://127.0.0.1:9200]", "SLUICE_SINK_DEAD_LETTERS_KIND": "file"},
		"validate", "-c", cfgPath, "--role", "transform")
	if code != 0 {
		t.Errorf("search addresses set: exit %d, stderr:\n%s", code, stderr)
	}
	// sluice dev keeps its file sink by default.
	code, _, stderr = cli(t, "", nil, "validate", "-c", "testdata/good.yaml", "--role", "dev")
	if code != 0 {
		t.Errorf("dev with no sink: exit %d, stderr:\n%s", code, stderr)
	}
}
