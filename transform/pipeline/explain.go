package pipeline

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sluice-siem/sluice/transform/event"
	"github.com/sluice-siem/sluice/transform/pipeline/grok"
)

// Explainer records what each processor of a pipeline built with it (Deps.Explain)
// does to an event run through Explain: whether its if condition let it run, its
// time, its error, and for grok which pattern matched and what each pattern it refers
// to matched. The console's playground shows it.
//
// Like Coverage, it costs nothing when not used: Build wraps the processors of a
// pipeline built with an Explainer, and those of no other. An explained pipeline is
// slower (a clock read per processor, grok matched again by regexp): it is built for
// the lines a person pastes, never for serving.
type Explainer struct {
	mu     sync.Mutex
	runs   []StepRun
	active bool
}

// NewExplainer returns an Explainer, to pass to Build or New in Deps.Explain.
func NewExplainer() *Explainer { return &Explainer{} }

// StepRun is what one processor did to one event.
type StepRun struct {
	// Processor is the step's place ("processors[3].group.processors[1]").
	Processor, Kind, Tag string
	// Depth is how deep in groups and on_failure handlers the step is.
	Depth int
	// Skipped: its if condition was false.
	Skipped bool
	// Err is the processor's (or its condition's) error.
	Err      error
	Duration time.Duration
	// Grok, for a grok processor that ran on a string, explains its match.
	Grok *GrokRun
}

// GrokRun is which pattern of a grok processor matched, and what its parts matched.
type GrokRun struct {
	// Pattern is the index of the pattern that matched, -1 when none did.
	Pattern    int
	Expression string
	// Subject is the string matched; the parts' offsets are into it.
	Subject string
	Parts   []grok.Part
}

// explain makes step s record into x.
func (x *Explainer) explain(s *step) {
	s.proc = &explainedProc{inner: s.proc, cond: s.cond, step: s, x: x, depth: strings.Count(s.path, ".processors[") + strings.Count(s.path, ".on_failure[")}
	s.cond = nil
}

// Run runs p, built with x, on e and returns what each processor did, in the order
// they started. Runs are one at a time: a second waits for the first.
func (x *Explainer) Run(ctx context.Context, p *Pipeline, e *event.Event) []StepRun {
	x.mu.Lock()
	x.runs, x.active = nil, true
	x.mu.Unlock()
	_ = p.Process(ctx, e) // never fails: failures are in e
	x.mu.Lock()
	defer x.mu.Unlock()
	runs := x.runs
	x.runs, x.active = nil, false
	return runs
}

// start reserves the next run's place (a group's before its steps') and returns it.
func (x *Explainer) start(r StepRun) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.active {
		return -1
	}
	x.runs = append(x.runs, r)
	return len(x.runs) - 1
}

// finish completes the run at i.
func (x *Explainer) finish(i int, fn func(*StepRun)) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if i >= 0 && i < len(x.runs) {
		fn(&x.runs[i])
	}
}

// explainedProc is the processor of a step of an explained pipeline: it evaluates the
// step's if condition itself, so that it sees the events it skips, then runs the
// processor and records what happened.
type explainedProc struct {
	inner event.Processor
	cond  *program
	step  *step
	x     *Explainer
	depth int
}

func (w *explainedProc) Process(ctx context.Context, e *event.Event) (err error) {
	start := time.Now()
	i := w.x.start(StepRun{Processor: w.step.path, Kind: w.step.kind, Tag: w.step.tag, Depth: w.depth})
	var grokRun *GrokRun
	var took time.Duration // the step's own time, without the explanation's
	skipped := false
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r) // runStep's handling, after recording it
		}
		if took == 0 {
			took = time.Since(start)
		}
		w.x.finish(i, func(run *StepRun) {
			run.Duration, run.Err, run.Skipped, run.Grok = took, err, skipped, grokRun
		})
	}()
	if w.cond != nil {
		ok, cerr := w.cond.test(e)
		if cerr != nil {
			return fmt.Errorf("if: %w", cerr) // as runStep words it
		}
		if !ok {
			skipped = true
			return nil
		}
	}
	g, isGrok := w.inner.(*grokProc)
	subject := ""
	if isGrok {
		v, _ := e.GetPath(g.field)
		subject, isGrok = v.(string)
	}
	err = w.inner.Process(ctx, e)
	took = time.Since(start)
	if isGrok {
		grokRun = explainGrok(g, subject)
	}
	return err
}

// explainGrok explains which of g's patterns matches subject and what its parts match.
func explainGrok(g *grokProc, subject string) *GrokRun {
	run := &GrokRun{Pattern: g.matchIndex(subject), Subject: subject}
	if run.Pattern < 0 {
		return run
	}
	pat := g.patterns[run.Pattern].p
	run.Expression = pat.String()
	run.Parts, _, _ = pat.Explain(subject) // the pattern matched: so does its explanation
	return run
}
