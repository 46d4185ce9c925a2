package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-siem/sluice/transform/event"
)

// dispatchSrc has runs of steps that test kind.v (optional, then not) against strings,
// a step that rewrites the field in the middle of a run, a drop, and steps that test
// other shapes, which stay out of any run.
const dispatchSrc = `
processors:
  - append: {field: seen, value: a, if: 'ctx.kind?.v == "a"'}
  - append: {field: seen, value: ab3, if: 'ctx.kind?.v in ["a", "b", 3]'}
  - set: {field: kind.v, value: c, if: 'ctx.kind?.v == "b"'}
  - append: {field: seen, value: cd, if: 'ctx.kind?.v == "c" || ctx.kind?.v == "d"'}
  - append: {field: seen, value: many, if: 'ctx.kind?.v in ["e", "f", "g", "h", "i", "j", "k", "l", "a"]'}
  - group: {if: 'ctx.kind?.v == "g"', processors: [drop: {}]}
  - append: {field: seen, value: e, if: 'ctx.kind?.v == "e"'}
  - append: {field: seen, value: not-a, if: 'ctx.kind?.v != "a"'}
  - append: {field: strict, value: a, if: 'ctx.kind.v == "a"', ignore_failure: true}
  - append: {field: strict, value: b, if: 'ctx.kind.v == "b"', ignore_failure: true}
  - append: {field: strict, value: c, if: 'ctx.kind.v == "c"', on_failure: [append: {field: strict, value: failed}]}
  - append: {field: strict, value: d, if: 'ctx.kind.v == "d"'}
`

// dispatchInputs are documents for dispatchSrc: each string case, and kind.v absent,
// null, a number, a boolean, an object, and kind not an object.
var dispatchInputs = []string{
	`{"kind":{"v":"a"}}`, `{"kind":{"v":"b"}}`, `{"kind":{"v":"c"}}`, `{"kind":{"v":"d"}}`,
	`{"kind":{"v":"e"}}`, `{"kind":{"v":"g"}}`, `{"kind":{"v":"zzz"}}`, `{"kind":{"v":""}}`,
	`{}`, `{"kind":null}`, `{"kind":{}}`, `{"kind":{"v":null}}`, `{"kind":{"v":3}}`,
	`{"kind":{"v":true}}`, `{"kind":{"v":{"x":1}}}`, `{"kind":"a"}`, `{"kind":["a"]}`,
}

// withoutDispatch removes every dispatch from p's steps, so that each condition is
// evaluated in turn as before dispatches existed.
func withoutDispatch(p *Pipeline) {
	var walk func(steps []*step)
	walk = func(steps []*step) {
		for _, s := range steps {
			s.dispatch = nil
			walk(s.onFailure)
			if g, ok := s.proc.(*groupProc); ok {
				walk(g.steps)
			}
		}
	}
	walk(p.steps)
	walk(p.onFailure)
}

// outcome is what a pipeline made of a document, for comparison.
func outcome(t testing.TB, p *Pipeline, in string) string {
	t.Helper()
	e := runDoc(t, p, in)
	return fmt.Sprintf("%s dropped=%v failure=%v", canonical(t, e.Fields), e.Dropped, e.Failure)
}

func TestDispatchRuns(t *testing.T) {
	p := buildOne(t, dispatchSrc, Deps{})
	var runs []string
	for i, s := range p.steps {
		if d := s.dispatch; d != nil && (i == 0 || p.steps[i-1].dispatch != d) {
			runs = append(runs, fmt.Sprintf("%d-%d %s %d", i, d.end, strings.Join(d.path.keys, "."), len(d.cases)))
		}
	}
	// The != step ends the first run; the second has its own path (no ?.).
	want := "0-7 kind.v 12, 8-12 kind.v 4"
	if got := strings.Join(runs, ", "); got != want {
		t.Fatalf("runs %q, want %q", got, want)
	}
}

// TestDispatchSameOutcome: with and without dispatches, the same documents, drops and
// failures, for every kind of value the field can hold.
func TestDispatchSameOutcome(t *testing.T) {
	fast := buildOne(t, dispatchSrc, Deps{})
	slow := buildOne(t, dispatchSrc, Deps{})
	withoutDispatch(slow)
	for _, in := range dispatchInputs {
		if got, want := outcome(t, fast, in), outcome(t, slow, in); got != want {
			t.Errorf("%s:\n dispatch %s\n    steps %s", in, got, want)
		}
	}
	// And what they make is what the steps say, so that both cannot be wrong alike.
	for in, want := range map[string]string{
		// b: ab3, then the set makes it c, which the next step sees.
		`{"kind":{"v":"b"}}`: `{"kind":{"v":"c"},"seen":["ab3","cd","not-a"],"strict":["c"]}`,
		`{"kind":{"v":"a"}}`: `{"kind":{"v":"a"},"seen":["a","ab3","many"],"strict":["a"]}`,
		`{"kind":{"v":"e"}}`: `{"kind":{"v":"e"},"seen":["many","e","not-a"]}`,
	} {
		e := runDoc(t, fast, in)
		wantDoc(t, e, want)
	}
	if e := runDoc(t, fast, `{"kind":{"v":"g"}}`); !e.Dropped {
		t.Errorf("g: not dropped: %v", e.Fields)
	}
	// kind missing: the strict run's first steps fail and are ignored, the third is
	// handled, the fourth fails the event.
	e := runDoc(t, fast, `{}`)
	if e.Failure == nil || !strings.Contains(e.Failure.Error(), "processors[11]") {
		t.Errorf("{}: failure %v, want processors[11]'s", e.Failure)
	}
	if got, _ := e.Get("strict"); canonical(t, got) != `["failed"]` {
		t.Errorf("{}: strict %v, want the third step's handler to have run", got)
	}
}

// FuzzDispatch holds a pipeline with dispatches to the same steps without them, for
// any value of the tested field and any document around it.
func FuzzDispatch(f *testing.F) {
	for _, in := range dispatchInputs {
		f.Add(in)
	}
	fast := buildOne(f, dispatchSrc, Deps{})
	slow := buildOne(f, dispatchSrc, Deps{})
	withoutDispatch(slow)
	f.Fuzz(func(t *testing.T, in string) {
		var probe map[string]any
		if json.Unmarshal([]byte(in), &probe) != nil || len(in) > 1<<10 {
			return
		}
		if got, want := outcome(t, fast, in), outcome(t, slow, in); got != want {
			t.Errorf("%s:\n dispatch %s\n    steps %s", in, got, want)
		}
	})
}

// BenchmarkDispatch: sixteen steps, each for one value of a field, as vendor pipelines
// run a log type's steps; the event matches one. "conditions" is the same pipeline
// with each condition evaluated in turn.
func BenchmarkDispatch(b *testing.B) {
	var src strings.Builder
	src.WriteString("processors:\n")
	for i := range 16 {
		fmt.Fprintf(&src, "  - set: {field: out, value: k%d, if: 'ctx.log?.kind == \"k%d\"'}\n", i, i)
	}
	for _, mode := range []string{"dispatch", "conditions"} {
		b.Run(mode, func(b *testing.B) {
			p := buildOne(b, src.String(), Deps{})
			if mode == "conditions" {
				withoutDispatch(p)
			}
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				e := event.Event{Fields: map[string]any{"log": map[string]any{"kind": kinds[i%16]}}}
				_ = p.Process(ctx, &e)
				i++
			}
		})
	}
}

var kinds = func() []string {
	k := make([]string, 16)
	for i := range k {
		k[i] = fmt.Sprintf("k%d", i)
	}
	return k
}()
