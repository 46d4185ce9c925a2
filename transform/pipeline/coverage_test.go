package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/transform/event"
)

// coveragePipeline has a grok of two patterns with an on_failure handler, processors
// with if conditions (one that errors without its field), one with ignore_missing, one
// that panics (an enrichment kind, see panicDeps) and a pipeline on_failure.
const coveragePipeline = `
processors:
  - grok:
      tag: line
      field: message
      patterns: ['^accept %{IP:source.ip}$', '^deny %{IP:source.ip}$']
      on_failure:
        - set: {field: event.outcome, value: unknown}
  - set: {field: event.action, value: deny, if: 'ctx.message startsWith "deny"'}
  - set: {field: b, value: 1, if: 'ctx.source.ip == "10.0.0.9"', ignore_failure: true}
  - lowercase: {field: user.name, ignore_missing: true}
  - lookup: {ignore_failure: true, if: 'ctx.message == "boom"'}
on_failure:
  - set: {field: event.kind, value: pipeline_error}
`

// panicDeps builds the enrichment kind lookup as a processor that panics.
func panicDeps(cov *Coverage) Deps {
	return Deps{Coverage: cov, Enrich: func(string, *yaml.Node) (event.Processor, bool, error) {
		return panicProc{}, true, nil
	}}
}

type panicProc struct{}

func (panicProc) Process(context.Context, *event.Event) error { panic("boom") }

// Only the first grok pattern is matched and the if of processors[1] is never true:
// the report counts every processor and pattern and marks those NOT EXERCISED.
func TestCoverageCounts(t *testing.T) {
	cov := NewCoverage()
	p := buildOne(t, coveragePipeline, panicDeps(cov))
	plain := buildOne(t, coveragePipeline, panicDeps(nil))
	for _, in := range []string{
		`{"message":"accept 10.0.0.1"}`,
		`{"message":"accept 10.0.0.2"}`,
		`{"message":"boom"}`, // grok fails, on_failure; processors[2]'s if errors; lookup panics
	} {
		// Coverage changes nothing in what the pipeline makes.
		if got, want := canonical(t, runDoc(t, p, in).Fields), canonical(t, runDoc(t, plain, in).Fields); got != want {
			t.Errorf("%s: covered pipeline made\n%s\nthe plain one\n%s", in, got, want)
		}
	}
	r := cov.Report()
	if len(r.Pipelines) != 1 || r.Pipelines[0].Cases != 3 {
		t.Fatalf("report %+v", r)
	}
	n := func(v int64) *int64 { return &v }
	want := []ProcessorCoverage{
		{Path: "processors[0]", Kind: "grok", Tag: "line", Cases: 3, Failures: 1, Exercised: true,
			Patterns: []GrokCoverage{{0, "^accept %{IP:source.ip}$", 2}, {1, "^deny %{IP:source.ip}$", 0}}},
		{Path: "processors[0].grok.on_failure[0]", Kind: "set", Cases: 1, Exercised: true},
		{Path: "processors[1]", Kind: "set", IfFalse: n(3)},
		{Path: "processors[2]", Kind: "set", IfFalse: n(2), Failures: 1},
		{Path: "processors[3]", Kind: "lowercase", Cases: 3, Missing: n(3)},
		{Path: "processors[4]", Kind: "lookup", Cases: 1, IfFalse: n(2), Failures: 1, Exercised: true},
		{Path: "on_failure[0]", Kind: "set"},
	}
	got := r.Pipelines[0].Processors
	if g, w := jsonOf(t, got), jsonOf(t, want); g != w {
		t.Errorf("processors\n got %s\nwant %s", g, w)
	}
	totals := CoverageTotals{ProcessorsExercised: 3, ProcessorsTotal: 7, PatternsExercised: 1, PatternsTotal: 2, Percent: 400.0 / 9}
	if r.CoverageTotals != totals || r.Pipelines[0].CoverageTotals != totals {
		t.Errorf("totals %+v and %+v, want %+v", r.CoverageTotals, r.Pipelines[0].CoverageTotals, totals)
	}

	// The processor metrics count as without coverage: events whose if was true.
	for i, s := range p.steps {
		if got, want := s.events.Load(), plain.steps[i].events.Load(); got != want {
			t.Errorf("%s: sluice_processor_events_total %d, without coverage %d", s.path, got, want)
		}
		if got, want := s.failures.Load(), plain.steps[i].failures.Load(); got != want {
			t.Errorf("%s: sluice_processor_failures_total %d, without coverage %d", s.path, got, want)
		}
	}

	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	lines := map[string]bool{} // each line's words, one space apart
	for line := range strings.Lines(text) {
		if strings.HasSuffix(line, " \n") {
			t.Errorf("trailing space: %q", line)
		}
		lines[strings.Join(strings.Fields(line), " ")] = true
	}
	for _, line := range []string{
		"coverage: 3 of 7 processors, 1 of 2 grok patterns exercised (44.4%)",
		"test: 3 cases, 3 of 7 processors, 1 of 2 grok patterns exercised (44.4%)",
		"PROCESSOR CASES IF FALSE FAILED MISSING",
		"test/processors[0] grok tag=line 3 - 1 -",
		"patterns[0] ^accept %{IP:source.ip}$ 2",
		"patterns[1] ^deny %{IP:source.ip}$ 0 NOT EXERCISED",
		"test/processors[0].grok.on_failure[0] set 1 - 0 -",
		"test/processors[1] set 0 3 0 - NOT EXERCISED",
		"test/processors[2] set 0 2 1 - NOT EXERCISED",
		"test/processors[3] lowercase 3 - 0 3 NOT EXERCISED",
		"test/processors[4] lookup 1 2 1 -",
		"test/on_failure[0] set 0 - 0 - NOT EXERCISED",
	} {
		if !lines[line] {
			t.Errorf("report lacks the line %q:\n%s", line, text)
		}
	}
	if strings.Count(text, notExercised) != 5 {
		t.Errorf("want 5 %s:\n%s", notExercised, text)
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Cases count events, not runs; a pipeline without events is reported without a
// table; a drop stops the steps after it.
func TestCoverageNoCasesAndDrop(t *testing.T) {
	cov := NewCoverage()
	var cfgs map[string]Config
	if err := yaml.Unmarshal([]byte(`
a: {processors: [{drop: {if: 'ctx.message == "x"'}}, {set: {field: f, value: 1}}]}
b: {processors: [{set: {field: f, value: 1}}]}
`), &cfgs); err != nil {
		t.Fatal(err)
	}
	set, err := Build(cfgs, Deps{Coverage: cov})
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"x", "x", "y"} {
		if err := set.Get("a").Process(context.Background(), &event.Event{Fields: map[string]any{"message": msg}}); err != nil {
			t.Fatal(err)
		}
	}
	r := cov.Report()
	a := r.Pipelines[0].Processors
	if r.Pipelines[0].Cases != 3 || a[0].Cases != 2 || *a[0].IfFalse != 1 || a[1].Cases != 1 {
		t.Errorf("a: %s", jsonOf(t, r.Pipelines[0]))
	}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "\nb: no test cases, 0 of 1 processors, 0 of 0 grok patterns exercised (0.0%)\n") ||
		strings.Contains(b.String(), "b/processors[0]") {
		t.Errorf("report:\n%s", b.String())
	}
	if r.Percent != 200.0/3 {
		t.Errorf("percent %v, want 66.7", r.Percent)
	}
}

// Without a Coverage, a pipeline runs its processors as built: nothing is wrapped.
func TestNoCoverageNoWrapping(t *testing.T) {
	p := buildOne(t, coveragePipeline, panicDeps(nil))
	var walk func([]*step)
	walk = func(steps []*step) {
		for _, s := range steps {
			if _, ok := s.proc.(*coveredProc); ok {
				t.Errorf("%s is wrapped", s.path)
			}
			walk(s.onFailure)
		}
	}
	walk(p.steps)
	walk(p.onFailure)
	if p.steps[1].cond == nil {
		t.Error("the if condition moved")
	}
}

// A covered processor's failure is the same Failure, its if's error included.
func TestCoverageKeepsFailures(t *testing.T) {
	src := "processors: [{set: {field: a, value: 1, if: 'ctx.source.ip == \"x\"'}}]\n"
	for _, cov := range []*Coverage{nil, NewCoverage()} {
		p := buildOne(t, src, Deps{Coverage: cov})
		e := &event.Event{Fields: map[string]any{}}
		err := p.run(context.Background(), e, p.steps, false)
		var f *Failure
		if !errors.As(err, &f) || f.Processor != "processors[0]" || !strings.HasPrefix(f.Err.Error(), "if: ") {
			t.Errorf("coverage %v: %v", cov != nil, err)
		}
	}
}

// The fields whose absence ignore_missing skips, from a processor's options.
func TestMissingInputs(t *testing.T) {
	for _, c := range []struct{ kind, opts, want string }{
		{"grok", `{field: message, patterns: [x]}`, "-"},
		{"grok", `{field: message, ignore_missing: true}`, "message"},
		{"remove", `{field: [a, b.c], ignore_missing: true}`, "a b.c"},
		{"rename", `{fields: {a: x, b.c: y}, ignore_missing: true}`, "a b.c"},
		{"threat_intel", `{fields: [source.ip, destination.ip], ignore_missing: true}`, "source.ip destination.ip"},
		{"syslog", `{ignore_missing: true}`, "message"},
		{"community_id", `{ignore_missing: true}`, "-"}, // fields of its own: not counted
		{"lookup", `{key: '{{a}}', ignore_missing: true}`, "-"},
	} {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(c.opts), &n); err != nil {
			t.Fatal(err)
		}
		ok, paths := missingInputs(c.kind, n.Content[0])
		got := "-"
		if ok {
			var names []string
			for _, p := range paths {
				names = append(names, p.String())
			}
			got = strings.Join(names, " ")
		}
		if got != c.want {
			t.Errorf("%s %s: %q, want %q", c.kind, c.opts, got, c.want)
		}
	}
}

// A covered pipeline stays safe for concurrent use (its counts are then approximate).
func TestCoverageConcurrent(t *testing.T) {
	cov := NewCoverage()
	p := buildOne(t, coveragePipeline, panicDeps(cov))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				e := &event.Event{Fields: map[string]any{"message": "deny 10.0.0.9"}}
				_ = p.Process(context.Background(), e)
			}
		})
	}
	wg.Go(func() { _ = cov.Report() })
	wg.Wait()
	if r := cov.Report(); r.Pipelines[0].Processors[0].Patterns[1].Matched == 0 {
		t.Errorf("report %s", jsonOf(t, r))
	}
}
