package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-siem/sluice/transform/pipeline"
)

// `sluice test` alone runs the sample pipelines' cases: an enriched sample's
// (with the sample lookups) in place of the plain one's.
func TestPipelineTestSamples(t *testing.T) {
	root := os.DirFS(filepath.Join("..", "..", "transform", "pipeline"))
	plain, err := fs.Glob(root, "samples/*.test.yaml")
	if err != nil || len(plain) == 0 {
		t.Fatalf("no sample test files: %v", err)
	}
	var files []string // each sample's, the enriched one's where there is one
	for _, f := range plain {
		enriched := "samples/enriched/" + path.Base(f)
		if _, err := fs.Stat(root, enriched); err == nil {
			f = enriched
		}
		files = append(files, f)
	}
	cases := 0
	for _, f := range files {
		tf, err := pipeline.LoadTestFile(root, f, f)
		if err != nil {
			t.Fatal(err)
		}
		cases += len(tf.Cases)
	}
	code, stdout, stderr := cli(t, "", nil, "test")
	if want := fmt.Sprintf("%d files, %d cases, 0 failed", len(files), cases); code != 0 || !strings.Contains(stdout, want) {
		t.Fatalf("exit %d, want %q\nstdout:\n%s\nstderr:\n%s", code, want, stdout, stderr)
	}
	for _, f := range files {
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

// coverageDir writes a pipeline of two grok patterns, an if condition and an
// on_failure handler, with one case that takes the first pattern only.
func coverageDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"auth.yaml": `processors:
  - grok:
      tag: line
      field: message
      patterns: ['^%{WORD:_tmp.outcome} password for %{USERNAME:user.name}$', '^session opened for %{USERNAME:user.name}$']
      on_failure:
        - append: {field: tags, value: unparsed}
  - set: {field: event.outcome, value: success, if: 'ctx._tmp?.outcome == "Accepted"'}
  - set: {field: event.outcome, value: failure, if: 'ctx._tmp?.outcome == "Failed"'}
  - remove: {field: _tmp}
`,
		"auth.test.yaml": `cases:
  - name: failed password
    input: Failed password for admin
    expect: {message: Failed password for admin, user: {name: admin}, event: {outcome: failure}}
`,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// --coverage prints a table per pipeline after the results, marking the grok pattern,
// the processor and the on_failure handler no case exercised; --coverage-json writes
// the same report as JSON; the exit status is that of the cases.
func TestPipelineTestCoverage(t *testing.T) {
	dir := coverageDir(t)
	jsonPath := filepath.Join(t.TempDir(), "coverage.json")
	code, stdout, stderr := cli(t, "", nil, "test", "--coverage", "--coverage-json", jsonPath, dir)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	results, report, ok := strings.Cut(stdout, "1 files, 1 cases, 0 failed\n")
	if !ok || !strings.Contains(results, "ok    "+dir+"/auth.test.yaml") {
		t.Fatalf("no results before the coverage report:\n%s", stdout)
	}
	var lines []string // each line's words, one space apart
	for line := range strings.Lines(report) {
		lines = append(lines, strings.Join(strings.Fields(line), " "))
	}
	want := []string{
		"",
		"coverage: 3 of 5 processors, 1 of 2 grok patterns exercised (57.1%)",
		"",
		"auth: 1 cases, 3 of 5 processors, 1 of 2 grok patterns exercised (57.1%)",
		"PROCESSOR CASES IF FALSE FAILED MISSING",
		"auth/processors[0] grok tag=line 1 - 0 -",
		"patterns[0] ^%{WORD:_tmp.outcome} password for %{USE... 1",
		"patterns[1] ^session opened for %{USERNAME:user.name... 0 NOT EXERCISED",
		"auth/processors[0].grok.on_failure[0] append 0 - 0 - NOT EXERCISED",
		"auth/processors[1] set 0 1 0 - NOT EXERCISED",
		"auth/processors[2] set 1 0 0 -",
		"auth/processors[3] remove 1 - 0 -",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("coverage report:\n%s\nwant (spacing aside):\n%s", report, strings.Join(want, "\n"))
	}

	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Percent   float64 `json:"percent"`
		Pipelines []struct {
			Pipeline   string `json:"pipeline"`
			Cases      int    `json:"cases"`
			Processors []struct {
				Path      string `json:"path"`
				Exercised bool   `json:"exercised"`
				IfFalse   *int   `json:"if_false"`
				Patterns  []struct {
					Matched int `json:"matched"`
				} `json:"grok_patterns"`
			} `json:"processors"`
		} `json:"pipelines"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("%v:\n%s", err, data)
	}
	if len(r.Pipelines) != 1 || r.Pipelines[0].Cases != 1 || len(r.Pipelines[0].Processors) != 5 || r.Percent < 57 || r.Percent > 57.2 {
		t.Fatalf("JSON report:\n%s", data)
	}
	procs := r.Pipelines[0].Processors
	if g := procs[0].Patterns; len(g) != 2 || g[0].Matched != 1 || g[1].Matched != 0 ||
		procs[2].Path != "processors[1]" || procs[2].Exercised || procs[2].IfFalse == nil || *procs[2].IfFalse != 1 || procs[4].IfFalse != nil {
		t.Errorf("JSON report:\n%s", data)
	}

	// Without the flags, nothing of coverage.
	if code, stdout, _ := cli(t, "", nil, "test", dir); code != 0 || strings.Contains(stdout, "coverage") {
		t.Errorf("exit %d\n%s", code, stdout)
	}
}

// --coverage-min fails the run when the cases exercise less, and prints the totals
// line even without --coverage.
func TestPipelineTestCoverageMin(t *testing.T) {
	dir := coverageDir(t)
	code, stdout, _ := cli(t, "", nil, "test", "--coverage-min", "60", dir)
	if code != 1 || !strings.Contains(stdout, "\ncoverage: 3 of 5 processors, 1 of 2 grok patterns exercised (57.1%)\n") ||
		!strings.HasSuffix(stdout, "FAIL  coverage 57.1% is below --coverage-min 60%\n") || strings.Contains(stdout, "PROCESSOR") {
		t.Errorf("--coverage-min 60: exit %d\n%s", code, stdout)
	}
	if code, stdout, _ := cli(t, "", nil, "test", "--coverage-min", "57", "--coverage-json", "-", dir); code != 0 || !strings.Contains(stdout, `"grok_patterns_exercised": 1`) {
		t.Errorf("--coverage-min 57: exit %d\n%s", code, stdout)
	}
	if code, _, stderr := cli(t, "", nil, "test", "--coverage-min", "101", dir); code != 2 || !strings.Contains(stderr, "--coverage-min 101") {
		t.Errorf("--coverage-min 101: exit %d, stderr %s", code, stderr)
	}
	if code, _, stderr := cli(t, "", nil, "test", "--coverage-json", filepath.Join(dir, "no-such-dir", "c.json"), dir); code != 1 || !strings.Contains(stderr, "write coverage report") {
		t.Errorf("unwritable --coverage-json: exit %d, stderr %s", code, stderr)
	}
}
