package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `sluice test` alone runs the sample pipelines' cases: the enriched firewall sample's
// (with the sample lookups) in place of the plain one's.
func TestPipelineTestSamples(t *testing.T) {
	code, stdout, stderr := cli(t, "", nil, "test")
	if code != 0 || !strings.Contains(stdout, "3 files, 12 cases, 0 failed") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, f := range []string{"samples/enriched/firewall.test.yaml", "samples/ids.test.yaml", "samples/waf.test.yaml"} {
		if !strings.Contains(stdout, "ok    "+f) {
			t.Errorf("no ok line for %s:\n%s", f, stdout)
		}
	}
	if strings.Contains(stdout, "samples/firewall.test.yaml") {
		t.Errorf("the plain firewall sample's cases ran against the enriched pipeline:\n%s", stdout)
	}
}

// A pipelines_dir from -c, and a directory argument whose case fails: exit 1, with a
// diff naming the fields.
func TestPipelineTestFailureShowsDiff(t *testing.T) {
	code, stdout, _ := cli(t, "", nil, "test", "-c", "testdata/pipelines.yaml")
	if code != 0 || !strings.Contains(stdout, "ok    testdata/pipelines/sshd.test.yaml (pipeline sshd): 1 cases, 0 failed") {
		t.Fatalf("-c: exit %d\n%s", code, stdout)
	}

	dir := t.TempDir()
	src, err := os.ReadFile("testdata/pipelines/sshd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cases, err := os.ReadFile("testdata/pipelines/sshd.test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(cases), "port: 51234", "port: 22", 1)
	broken = strings.Replace(broken, "user: {name: admin}", "user: {name: root}", 1)
	for name, data := range map[string]string{"sshd.yaml": string(src), "sshd.test.yaml": broken} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, _ = cli(t, "", nil, "test", dir)
	want := []string{
		"FAIL  " + dir + "/sshd.test.yaml (pipeline sshd): 1 cases, 1 failed",
		"--- failed password for an invalid user: (- expected, + got)",
		`- source.port: 22`, `+ source.port: 51234`,
		`- user.name: "root"`, `+ user.name: "admin"`,
		"1 files, 1 cases, 1 failed",
	}
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, w := range want {
		if !strings.Contains(stdout, w) {
			t.Errorf("output lacks %q:\n%s", w, stdout)
		}
	}
}

func TestPipelineTestUsage(t *testing.T) {
	if code, _, stderr := cli(t, "", nil, "test", "--nope"); code != 2 || !strings.Contains(stderr, "usage: sluice test") {
		t.Errorf("exit %d, stderr %s", code, stderr)
	}
	if code, _, stderr := cli(t, "", nil, "test", "no-such-dir"); code != 1 || !strings.Contains(stderr, "no-such-dir") {
		t.Errorf("exit %d, stderr %s", code, stderr)
	}
}

// validate compiles the pipelines too and lists every problem with its path.
func TestValidateReportsPipelineProblems(t *testing.T) {
	code, _, stderr := cli(t, "", nil, "validate", "-c", "testdata/pipelines_bad.yaml", "--role", "dev")
	if code != 1 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	for _, w := range []string{
		"testdata/pipelines_bad.yaml: 6 problem(s):",
		"pipelines_dir: stat testdata/no-such-dir: no such file or directory",
		"read pipelines: stat testdata/no-such-dir",
		`pipelines.Bad: "Bad" is not a log type name`,
		"pipelines.dns.processors[0].dissect.pattern: required (line 7)",
		"pipelines.dns.processors[1].grok.colour: unknown option",
		"pipelines.dns.processors[1].grok.patterns[0]: unknown pattern %{NOPE} (line 8)",
	} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	if code, stdout, stderr := cli(t, "", nil, "validate", "-c", "testdata/pipelines.yaml", "--role", "dev"); code != 0 {
		t.Errorf("good pipelines: exit %d\n%s%s", code, stdout, stderr)
	}
	// The gateway runs no pipelines: their problems are not its problems.
	if code, _, stderr := cli(t, "", nil, "validate", "-c", "testdata/pipelines_bad.yaml", "--role", "gateway"); strings.Contains(stderr, "pipelines.dns") {
		t.Errorf("gateway: exit %d, pipeline problems reported:\n%s", code, stderr)
	}
}

// A serving role refuses to start with a broken pipeline, listing the problems.
func TestServeRefusesBrokenPipelines(t *testing.T) {
	code, _, stderr := cli(t, "", map[string]string{"SLUICE_PIPELINES": `{dns: {processors: [{grok: {field: message}}]}}`},
		"dev", "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--lumberjack", "", "--data-dir", t.TempDir())
	if code != 1 || !strings.Contains(stderr, "sluice dev: pipelines: 1 problem(s):") || !strings.Contains(stderr, "pipelines.dns.processors[0].grok.patterns: required") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
}

// A transform configuration with the sample pipelines but none of their lookups runs
// the plain firewall sample, so `sluice test -c` runs the plain sample's cases, not the
// enriched one's.
func TestPipelineTestPlainSamplesWithoutLookups(t *testing.T) {
	path := filepath.Join(t.TempDir(), "transform.yaml")
	if err := os.WriteFile(path, []byte("sample_pipelines: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := cli(t, "", nil, "test", "-c", path)
	if code != 0 || !strings.Contains(stdout, "ok    samples/firewall.test.yaml") || strings.Contains(stdout, "enriched") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}
