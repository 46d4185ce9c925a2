package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeLines writes n generated firewall lines with `sluice-load lines` and returns the
// file's path.
func writeLines(t *testing.T, n string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"lines", "--events", n}, &out, &errOut); code != 0 {
		t.Fatalf("lines: exit %d: %s", code, errOut.String())
	}
	path := filepath.Join(t.TempDir(), "firewall.lines")
	if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// grokRun runs `sluice-load grok` and returns its summary and exit code.
func grokRun(t *testing.T, args ...string) (summary, int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"grok"}, args...), &out, &errOut)
	var s summary
	if code != 2 && out.Len() > 0 {
		if err := json.Unmarshal(out.Bytes(), &s); err != nil {
			t.Fatalf("grok %q: exit %d, summary: %v\nstderr: %s", args, code, err, errOut.String())
		}
	}
	return s, code, errOut.String()
}

// TestGrokEnginesTakeTheSameCaptures runs every engine on the same generated lines: each
// parses them all, measures its own process, and the stock libraries' captures equal
// sluice's grok's, field by field, on every sample line.
func TestGrokEnginesTakeTheSameCaptures(t *testing.T) {
	lines := writeLines(t, "300")
	dir := t.TempDir()
	for _, engine := range grokEngines {
		s, code, stderr := grokRun(t, "--engine", engine, "--input", lines, "--duration", "100ms",
			"--captures", filepath.Join(dir, engine+".ndjson"), "--samples", "300", "--label", "g", "--role", "baseline")
		if code != 0 || !s.OK {
			t.Fatalf("%s: exit %d, problems %q, stderr %s", engine, code, s.Problems, stderr)
		}
		if s.Events.Acked < 300 || s.Events.Failed != 0 || s.Label != "g" || s.Role != "baseline" {
			t.Errorf("%s: events %+v, label %q, role %q: want every line of at least one pass matched", engine, s.Events, s.Label, s.Role)
		}
		if s.Process == nil || s.Process.PID != os.Getpid() {
			t.Errorf("%s: process figures %+v, want this process's", engine, s.Process)
		}
	}
	for _, lib := range []string{engineElastic, engineVjeantet} {
		n, err := compareCaptures(filepath.Join(dir, engineSluice+".ndjson"), filepath.Join(dir, lib+".ndjson"))
		if err != nil || n != 300 {
			t.Errorf("sluice vs %s: %d lines compared, %v", lib, n, err)
		}
	}
	// The pipeline's output is an ECS document, not the grok's flat captures: the
	// comparison must tell them apart.
	if _, err := compareCaptures(filepath.Join(dir, engineSluice+".ndjson"), filepath.Join(dir, enginePipeline+".ndjson")); err == nil {
		t.Error("the pipeline's documents compared equal to the grok captures")
	}
}

func TestGrokFailsWhenNothingMatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "junk.lines")
	if err := os.WriteFile(path, []byte("not a firewall line\nnor this\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, engine := range grokEngines {
		s, code, _ := grokRun(t, "--engine", engine, "--input", path, "--duration", "50ms")
		if code != 1 || s.OK || !strings.Contains(strings.Join(s.Problems, ";"), "no line matched") {
			t.Errorf("%s: exit %d, ok %v, problems %q: want a failed run, no line matched", engine, code, s.OK, s.Problems)
		}
	}
	if _, code, stderr := grokRun(t, "--engine", "pcre", "--input", path, "--duration", "50ms"); code != 2 || !strings.Contains(stderr, `unknown engine "pcre"`) {
		t.Errorf("unknown engine: exit %d, stderr %q", code, stderr)
	}
	if _, code, _ := grokRun(t, "--engine", engineSluice); code != 2 {
		t.Errorf("no --input: exit %d, want 2", code)
	}
}

func TestCompareCapturesReportsDifferences(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("a", `{"line":1,"fields":{"source.ip":"10.0.0.1","source.port":22}}`+"\n"+`{"line":2,"fields":{"x":"y"}}`+"\n")
	same := write("same", `{"line":1,"fields":{"source.ip":"10.0.0.1","source.port":"22"}}`+"\n"+`{"line":2,"fields":{"x":"y"}}`+"\n")
	other := write("other", `{"line":1,"fields":{"source.ip":"10.0.0.2","source.port":22,"extra":"1"}}`+"\n"+`{"line":2,"fields":{"x":"y"}}`+"\n")
	short := write("short", `{"line":1,"fields":{"source.ip":"10.0.0.1","source.port":22}}`+"\n")
	empty := write("empty", `{"line":1,"fields":{}}`+"\n")

	if n, err := compareCaptures(a, same); err != nil || n != 2 {
		t.Errorf("equal text, typed and untyped: %d, %v", n, err)
	}
	_, err := compareCaptures(a, other)
	if err == nil || !strings.Contains(err.Error(), "line 1: ") || !strings.Contains(err.Error(), "source.ip: 10.0.0.1 != 10.0.0.2") ||
		!strings.Contains(err.Error(), "extra=1 only in the second") || strings.Contains(err.Error(), "line 2") {
		t.Errorf("different captures: %v", err)
	}
	if _, err := compareCaptures(a, short); err == nil || !strings.Contains(err.Error(), "2 sample lines") {
		t.Errorf("different lengths: %v", err)
	}
	if _, err := compareCaptures(empty, empty); err == nil || !strings.Contains(err.Error(), "no captures") {
		t.Errorf("nothing captured on either side: %v", err)
	}
}

func TestAckToSearchable(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	acks := []ackPoint{{at(0), 100}, {at(100), 200}, {at(200), 300}, {at(300), 400}}
	polls := []countPoint{{at(50), 0}, {at(150), 0}, {at(250), 150}, {at(350), 300}, {at(450), 300}}
	h := ackToSearchable(acks, polls)
	// 100 first counted at 250 ms, 200 and 300 at 350 ms; 400 never (left out).
	want := []time.Duration{250 * time.Millisecond, 250 * time.Millisecond, 150 * time.Millisecond}
	if h.count() != uint64(len(want)) {
		t.Fatalf("%d latencies, want %d", h.count(), len(want))
	}
	if got := time.Duration(h.max); got != want[0] {
		t.Errorf("max %s, want %s", got, want[0])
	}
	var sum time.Duration
	for _, d := range want {
		sum += d
	}
	if mean := time.Duration(h.mean()); mean < sum/3-time.Millisecond || mean > sum/3+time.Millisecond {
		t.Errorf("mean %s, want %s", mean, sum/3)
	}
	// An event counted before its acknowledgement arrived counts as 0, not negative.
	h = ackToSearchable([]ackPoint{{at(500), 10}}, []countPoint{{at(400), 10}})
	if h.count() != 1 || h.max != 0 {
		t.Errorf("indexed before the ACK: count %d, max %d", h.count(), h.max)
	}
}
