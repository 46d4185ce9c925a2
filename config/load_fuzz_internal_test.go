package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// topLevelKeys are the YAML names of Config's fields: where every path starts.
func topLevelKeys() []string {
	var keys []string
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	return keys
}

// startsWithPath reports whether a problem starts with a configuration path: a
// top-level key followed by '.', '[', ':' or ' '.
func startsWithPath(line string, keys []string) bool {
	for _, k := range keys {
		if rest, ok := strings.CutPrefix(line, k); ok && rest != "" && strings.ContainsRune(".[: ", rune(rest[0])) {
			return true
		}
	}
	return false
}

// problems returns the problems of a (possibly joined) error, failing if one of them
// wraps several: each problem must stand on its own to carry its own path.
func problems(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, problems(t, e)...)
		}
		return out
	}
	for inner := errors.Unwrap(err); inner != nil; inner = errors.Unwrap(inner) {
		if j, ok := inner.(interface{ Unwrap() []error }); ok && len(j.Unwrap()) > 1 {
			t.Fatalf("one problem wraps %d: only the first carries the path:\n%s", len(j.Unwrap()), err)
		}
	}
	return []string{err.Error()}
}

// FuzzLoad guards the configuration loader: a hostile file (and one hostile
// environment variable) never makes Load or Validate panic; every problem Load reports
// names the file or the variable, and every problem Validate reports starts with the
// path of the setting (a problem is a leaf of the joined errors, not a line: values
// quoted raw may hold newlines); and decoding a file over the defaults twice gives
// what decoding it once does, as an overlay should.
func FuzzLoad(f *testing.F) {
	seeds := []string{
		"",
		"# nothing\n",
		"http:\n  addr: 127.0.0.1:18080\nlog:\n  level: debug\nshutdown:\n  timeout: 10s\n",
		"gateway:\n  limits:\n    max_body_bytes: 1MiB\n  auth:\n    keys:\n      - {name: ci, sha256: 00, types: ['*']}\n",
		"gateway:\n  routing:\n    streams: {firewall: s1}\n    type_fields: [a.b]\n",
		"bulk:\n  index_types:\n    - {pattern: 'logs-*-*', type: firewall}\n    - {pattern: '', type: 'Bad Type'}\n  version: 6.0.0\n",
		"stream:\n  kind: kinesis\n  kinesis:\n    region: eu-west-1\n  consumer:\n    streams: [a]\nsink:\n  kind: search\n  search:\n    addresses: ['http://localhost:9200']\n",
		"pipelines:\n  vpn:\n    processors:\n      - grok: {field: message, patterns: ['%{GREEDYDATA:x}']}\n    unknown: 1\n",
		"lookups:\n  mmdb: {city: {path: /nonexistent.mmdb}}\n  cidr: {zones: {path: x.csv}}\n  threat_intel: {feeds: {files: [a.txt]}}\n",
		"lumberjack:\n  max_frame_bytes: 8GiB\n  types: ['Bad']\n",
		"unknown: 1\nhttp: [1, 2]\nlog: {level: 3}\n",
		"a: &a [*a]\n",
		"http: &h {addr: ':1', tls: *h}\n",
		"gateway: {routing: {streams: &s {a: *s}}}\n",
		"---\nhttp: {addr: ':1'}\n---\nhttp: {addr: ':2'}\n",
		"!!binary aGVsbG8=",
		"http:\n  read_timeout: 1e400h\n  idle_timeout: -1s\nshutdown: {timeout: 9999999999999999999s}\n",
		"stream:\n  embedded:\n    max_bytes: 99999999999999999999GiB\n    shards: -1\n",
		"pipelines_dir: /nonexistent\n",
		strings.Repeat("[", 100000) + strings.Repeat("]", 100000),
		strings.Repeat("a:\n ", 10000) + "b",
		"pipelines:\n" + strings.Repeat("  p: {processors: []}\n", 10000),
		"gateway:\n  routing:\n    type_fields: [" + strings.Repeat("a.b, ", 100000) + "c]\n",
		"log:\n  level: '" + strings.Repeat("x", 1<<20) + "'\n",
		"laughs:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n  a1: &a1 [*a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0]\n  a2: &a2 [*a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1]\n  a3: &a3 [*a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2]\n  a4: &a4 [*a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3]\n  a5: &a5 [*a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4]\n",
	}
	for i, s := range seeds {
		f.Add([]byte(s), uint16(i), "x")
	}
	f.Add([]byte(""), uint16(3), "[a, b]")
	f.Add([]byte(""), uint16(40), "{a: &a [*a]}")
	f.Add([]byte(""), uint16(60), "")
	f.Add([]byte(""), uint16(90), strings.Repeat("[", 100000))

	keys := topLevelKeys()
	roles := []Role{RoleDev, RoleGateway, RoleTransform}
	path := filepath.Join(f.TempDir(), "sluice.yaml")
	f.Fuzz(func(t *testing.T, data []byte, choice uint16, envVal string) {
		if len(data)+len(envVal) > 4<<20 {
			return
		}
		start := time.Now()
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		role := roles[int(choice)%len(roles)]
		fields := leaves(reflect.ValueOf(&Config{}), "")
		chosen := fields[int(choice/3)%len(fields)].env
		env := func(name string) (string, bool) {
			if name == chosen {
				return envVal, true
			}
			return "", false
		}
		c, err := Load(role, path, env)
		for _, p := range problems(t, err) {
			if !strings.HasPrefix(p, path+": ") && !strings.HasPrefix(p, chosen+" ") {
				t.Fatalf("Load: a problem that names neither the file nor %s: %q\nin:\n%s", chosen, p, err)
			}
		}
		for _, p := range problems(t, c.Validate(role)) {
			if !startsWithPath(p, keys) {
				t.Fatalf("Validate: a problem without its path: %q", p)
			}
		}
		once, twice := Default(role), Default(role)
		err1 := decodeYAML(data, &once)
		_ = decodeYAML(data, &twice)
		err2 := decodeYAML(data, &twice)
		if err1 == nil && err2 == nil && !reflect.DeepEqual(once, twice) {
			t.Fatal("decoding the file twice differs from decoding it once") // configs are not printed: they hold secrets
		}
		// A bound for blowups (a quadratic load of these 500 KB seeds would take hours),
		// not a speed figure: the race detector on a loaded CI machine took 12.5 s for
		// a seed that takes 0.3 s alone.
		if d := time.Since(start); d > time.Minute {
			t.Fatalf("%d bytes took %v", len(data), d)
		}
	})
}

// TestDuplicateKeysAreLinear checks that keys given many times in the file or in a
// variable make one problem each, named by the file or the variable: yaml.v3 made one
// per pair of equal keys, gigabytes for a few thousand.
func TestDuplicateKeysAreLinear(t *testing.T) {
	const n = 20000
	path := filepath.Join(t.TempDir(), "sluice.yaml")
	data := "pipelines:\n" + strings.Repeat("  p: {processors: []}\n", n)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	none := func(string) (string, bool) { return "", false }
	_, err := Load(RoleDev, path, none)
	if got := len(problems(t, err)); got != n-1 || !strings.HasPrefix(err.Error(), path+": line 3: mapping key \"p\" already defined at line 2") {
		t.Errorf("file: %d problems, want %d; first: %.100s", got, n-1, err)
	}
	env := func(name string) (string, bool) {
		if name == "SLUICE_GATEWAY_ROUTING_STREAMS" {
			return "{" + strings.Repeat("a: b, ", n) + "}", true
		}
		return "", false
	}
	_, err = Load(RoleDev, "", env)
	if got := len(problems(t, err)); got != n-1 || !strings.HasPrefix(err.Error(), "SLUICE_GATEWAY_ROUTING_STREAMS (for gateway.routing.streams): line 1: mapping key") {
		t.Errorf("variable: %d problems, want %d; first: %.100s", got, n-1, err)
	}
}
