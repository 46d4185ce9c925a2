package pipeline

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/transform/event"
)

// Coverage counts what the events run through pipelines built with it (Deps.Coverage)
// exercise: per processor, on_failure handlers included, the events it ran on, how
// often its if condition was false, how often it failed and how often ignore_missing
// skipped it; per grok pattern, the events it matched. `sluice test --coverage` shows
// which processors and grok patterns a pipeline's test cases leave out.
//
// Coverage costs nothing when it is not used: Build wraps each processor of a pipeline
// built with a Coverage in a counting one (which also takes over its if condition), so
// the run loop has nothing to check. A covered pipeline is slower (a lock per
// processor, grok matched twice), and its grok processors are not in the metric
// sluice_grok_fallbacks_total: it is for tests, never for serving. Counts are
// meant for events run one at a time: "cases" counts the events of the pipeline
// during which a processor ran, telling them apart by the pipeline's event count.
type Coverage struct {
	mu        sync.Mutex
	pipelines []*pipelineCoverage
}

// NewCoverage returns an empty Coverage, to pass to Build in Deps.Coverage.
func NewCoverage() *Coverage { return &Coverage{} }

type pipelineCoverage struct {
	p     *Pipeline
	steps []*stepCoverage // depth first: a step, then its on_failure handlers
}

// stepCoverage holds the counts of one step.
type stepCoverage struct {
	path, kind, tag string
	hasIf           bool
	ignoreMissing   bool
	inputs          []event.Path // the fields whose absence ignore_missing skips
	grok            *grokProc
	patterns        []string
	pipeline        *Pipeline // set once the pipeline is built

	mu                                        sync.Mutex
	lastRan, lastWorked                       int64 // the event last counted in cases, worked
	cases, worked, ifFalse, failures, missing int64
	lastMatched, matched                      []int64 // per grok pattern
}

// cover makes step s count into a new stepCoverage; opts are its own options.
func (c *Coverage) cover(s *step, opts *yaml.Node) {
	sc := &stepCoverage{path: s.path, kind: s.kind, tag: s.tag, hasIf: s.cond != nil}
	sc.ignoreMissing, sc.inputs = missingInputs(s.kind, opts)
	if g, ok := s.proc.(*grokProc); ok {
		sc.grok = g
		for _, pat := range g.patterns {
			sc.patterns = append(sc.patterns, pat.p.String())
		}
		sc.lastMatched = make([]int64, len(g.patterns))
		sc.matched = make([]int64, len(g.patterns))
	}
	s.proc = &coveredProc{inner: s.proc, cond: s.cond, step: s, cov: sc}
	s.cond = nil
}

// add records a built pipeline whose steps cover made count.
func (c *Coverage) add(p *Pipeline) {
	pc := &pipelineCoverage{p: p}
	var walk func([]*step)
	walk = func(steps []*step) {
		for _, s := range steps {
			if w, ok := s.proc.(*coveredProc); ok {
				w.cov.pipeline = p
				pc.steps = append(pc.steps, w.cov)
			}
			walk(s.onFailure)
			walk(groupSteps(s))
		}
	}
	walk(p.steps)
	walk(p.onFailure)
	c.mu.Lock()
	c.pipelines = append(c.pipelines, pc)
	c.mu.Unlock()
}

// missingInputs reads from a processor's own options whether ignore_missing is set
// and which fields it is about: field (one or a list), else fields (a list, or the
// keys of rename's mapping), else message for syslog and cef (their default). It
// returns false when the fields are not known (such as community_id's or lookup's
// key): coverage does not count those skips.
func missingInputs(kind string, opts *yaml.Node) (bool, []event.Path) {
	var ignore bool
	var field, fields *yaml.Node
	for i := 0; i+1 < len(opts.Content); i += 2 {
		switch val := opts.Content[i+1]; opts.Content[i].Value {
		case "ignore_missing":
			_ = val.Decode(&ignore) // the processor has checked it
		case "field":
			field = val
		case "fields":
			fields = val
		}
	}
	if !ignore {
		return false, nil
	}
	var names []string
	switch {
	case field != nil:
		var l stringList
		_ = field.Decode(&l)
		names = l
	case fields != nil && fields.Kind == yaml.MappingNode:
		for i := 0; i < len(fields.Content); i += 2 {
			names = append(names, fields.Content[i].Value)
		}
	case fields != nil:
		var l stringList
		_ = fields.Decode(&l)
		names = l
	case kind == "syslog" || kind == "cef":
		names = []string{"message"}
	}
	var paths []event.Path
	for _, n := range names {
		paths = append(paths, event.ParsePath(n))
	}
	return len(paths) > 0, paths
}

// coveredProc is the processor of a step of a covered pipeline: it runs the step's if
// condition itself, so that it sees the events whose condition is false, then the
// processor, and counts what happened.
type coveredProc struct {
	inner event.Processor
	cond  *program
	step  *step
	cov   *stepCoverage
}

// stepOutcome is what one run of a covered step did.
type stepOutcome struct {
	ifFalse, ran, failed, skipped bool
	pattern                       int // the grok pattern that matched, or -1
}

func (w *coveredProc) Process(ctx context.Context, e *event.Event) (err error) {
	c := w.cov
	out := stepOutcome{pattern: -1}
	finished := false
	defer func() {
		// A failure, or a panic on its way to runStep, which makes it one.
		out.failed = err != nil || !finished
		c.record(out)
	}()
	if w.cond != nil {
		// runStep counted the event for the processor before the condition it no
		// longer sees: count it only once the condition is true, as runStep would.
		w.step.events.Add(-1)
		ok, cerr := w.cond.test(e)
		if cerr != nil {
			finished = true
			return fmt.Errorf("if: %w", cerr) // as runStep words it
		}
		if !ok {
			finished = true
			out.ifFalse = true
			return nil
		}
		w.step.events.Add(1)
	}
	out.ran = true
	absent := c.ignoreMissing && c.absent(e)
	subject, isString := "", false
	if c.grok != nil {
		v, _ := e.GetPath(c.grok.field)
		subject, isString = v.(string)
	}
	err = w.inner.Process(ctx, e)
	finished = true
	out.skipped = absent && err == nil
	if isString {
		out.pattern = c.grok.matchIndex(subject)
	}
	return err
}

// absent reports whether every input field is missing from e.
func (c *stepCoverage) absent(e *event.Event) bool {
	for _, p := range c.inputs {
		if _, ok := e.GetPath(p); ok {
			return false
		}
	}
	return true
}

// record counts one run of the step.
func (c *stepCoverage) record(o stepOutcome) {
	var seq int64 // the event being run: the pipeline counts it before its first step
	if c.pipeline != nil {
		seq = c.pipeline.events.Load()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if o.ifFalse {
		c.ifFalse++
	}
	if o.failed {
		c.failures++
	}
	if o.skipped {
		c.missing++
	}
	if o.ran && c.lastRan != seq {
		c.lastRan = seq
		c.cases++
	}
	if o.ran && !o.skipped && c.lastWorked != seq {
		c.lastWorked = seq
		c.worked++
	}
	if o.pattern >= 0 && c.lastMatched[o.pattern] != seq {
		c.lastMatched[o.pattern] = seq
		c.matched[o.pattern]++
	}
}

// CoverageReport is what a Coverage counted, for `sluice test --coverage` and its JSON
// form.
type CoverageReport struct {
	Pipelines []PipelineCoverage `json:"pipelines"`
	CoverageTotals
}

// CoverageTotals are the coverage units, exercised and in all: every processor (a
// processor is exercised when it ran on an event without ignore_missing skipping it)
// and every grok pattern (exercised when it matched an event).
type CoverageTotals struct {
	ProcessorsExercised int `json:"processors_exercised"`
	ProcessorsTotal     int `json:"processors_total"`
	PatternsExercised   int `json:"grok_patterns_exercised"`
	PatternsTotal       int `json:"grok_patterns_total"`
	// Percent is the exercised units of all units, processors and patterns alike (100
	// when there are none).
	Percent float64 `json:"percent"`
}

func (t *CoverageTotals) add(o CoverageTotals) {
	t.ProcessorsExercised += o.ProcessorsExercised
	t.ProcessorsTotal += o.ProcessorsTotal
	t.PatternsExercised += o.PatternsExercised
	t.PatternsTotal += o.PatternsTotal
	t.setPercent()
}

func (t *CoverageTotals) setPercent() {
	t.Percent = 100
	if all := t.ProcessorsTotal + t.PatternsTotal; all > 0 {
		t.Percent = 100 * float64(t.ProcessorsExercised+t.PatternsExercised) / float64(all)
	}
}

// PipelineCoverage is the coverage of one pipeline.
type PipelineCoverage struct {
	Pipeline string `json:"pipeline"`
	// Cases is the events run through the pipeline: one per test case.
	Cases      int64               `json:"cases"`
	Processors []ProcessorCoverage `json:"processors"`
	CoverageTotals
}

// ProcessorCoverage is the coverage of one processor. IfFalse is nil for a processor
// without an if condition, Missing for one without ignore_missing or whose fields
// coverage does not know (see missingInputs).
type ProcessorCoverage struct {
	// Path is the processor's place in the pipeline, as in errors and metrics:
	// "processors[3]", "processors[3].grok.on_failure[0]", "on_failure[0]".
	Path string `json:"path"`
	Kind string `json:"kind"`
	Tag  string `json:"tag,omitempty"`
	// Cases is the events it ran on (its if condition true).
	Cases int64 `json:"cases"`
	// IfFalse is how many times its if condition was false.
	IfFalse *int64 `json:"if_false,omitempty"`
	// Failures is how many times it failed (its if condition included): then its
	// on_failure handlers ran, or ignore_failure ignored it, or the pipeline failed.
	Failures int64 `json:"failures"`
	// Missing is how many times ignore_missing skipped it: its field was absent
	// (every one of its fields, for a list).
	Missing *int64 `json:"missing,omitempty"`
	// Exercised: it ran on an event without ignore_missing skipping it.
	Exercised bool           `json:"exercised"`
	Patterns  []GrokCoverage `json:"grok_patterns,omitempty"`
}

// GrokCoverage is the coverage of one pattern of a grok processor's patterns.
type GrokCoverage struct {
	Index   int    `json:"index"`
	Pattern string `json:"pattern"`
	// Matched is the events it matched (the first of the patterns to match).
	Matched int64 `json:"matched"`
}

// Name is how the text report names the processor, after its pipeline's name and a
// slash: "processors[3] grok tag=iptables".
func (pc *ProcessorCoverage) Name() string {
	s := pc.Path + " " + pc.Kind
	if pc.Tag != "" {
		s += " tag=" + pc.Tag
	}
	return s
}

// Report returns the counts so far, pipelines by name.
func (c *Coverage) Report() *CoverageReport {
	c.mu.Lock()
	pipelines := slices.Clone(c.pipelines)
	c.mu.Unlock()
	slices.SortStableFunc(pipelines, func(a, b *pipelineCoverage) int { return strings.Compare(a.p.name, b.p.name) })
	r := &CoverageReport{Pipelines: []PipelineCoverage{}}
	r.setPercent()
	for _, pc := range pipelines {
		out := PipelineCoverage{Pipeline: pc.p.name, Cases: pc.p.events.Load(), Processors: []ProcessorCoverage{}}
		for _, sc := range pc.steps {
			proc := sc.report()
			var t CoverageTotals
			t.ProcessorsTotal = 1
			if proc.Exercised {
				t.ProcessorsExercised = 1
			}
			for _, g := range proc.Patterns {
				t.PatternsTotal++
				if g.Matched > 0 {
					t.PatternsExercised++
				}
			}
			out.add(t)
			out.Processors = append(out.Processors, proc)
		}
		out.setPercent()
		r.add(out.CoverageTotals)
		r.Pipelines = append(r.Pipelines, out)
	}
	return r
}

// report returns the counts of a step.
func (c *stepCoverage) report() ProcessorCoverage {
	c.mu.Lock()
	defer c.mu.Unlock()
	pc := ProcessorCoverage{Path: c.path, Kind: c.kind, Tag: c.tag, Cases: c.cases, Failures: c.failures,
		Exercised: c.worked > 0}
	if c.hasIf {
		n := c.ifFalse
		pc.IfFalse = &n
	}
	if c.ignoreMissing {
		n := c.missing
		pc.Missing = &n
	}
	for i, src := range c.patterns {
		pc.Patterns = append(pc.Patterns, GrokCoverage{Index: i, Pattern: src, Matched: c.matched[i]})
	}
	return pc
}

// notExercised marks what no event exercised in the text report.
const notExercised = "NOT EXERCISED"

// WriteText writes the report as tables, one per pipeline, after a line of totals:
//
//	coverage: 20 of 24 processors, 1 of 2 grok patterns exercised (80.8%)
//
//	firewall: 14 cases, 20 of 22 processors, 1 of 2 grok patterns exercised (87.5%)
//	  PROCESSOR                                 CASES  IF FALSE  FAILED  MISSING
//	  firewall/processors[0] grok tag=iptables  14     -         0       -
//	    patterns[0] ^(?:<%{NONNEGINT:log.sys...  14
//	    patterns[1] %{GREEDYDATA:message}       0                                 NOT EXERCISED
//	  firewall/processors[1] set                0      14        0       -        NOT EXERCISED
//
// "-" is a count that does not apply: no if condition, no ignore_missing. A pipeline
// without cases gets its line, no table.
func (r *CoverageReport) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "coverage: %s\n", r.Summary())
	for _, p := range r.Pipelines {
		if p.Cases == 0 {
			fmt.Fprintf(&b, "\n%s: no test cases, %s\n", p.Pipeline, p.Summary())
			continue
		}
		fmt.Fprintf(&b, "\n%s: %d cases, %s\n", p.Pipeline, p.Cases, p.Summary())
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  PROCESSOR\tCASES\tIF FALSE\tFAILED\tMISSING\t")
		for _, pc := range p.Processors {
			mark := ""
			if !pc.Exercised {
				mark = notExercised
			}
			fmt.Fprintf(tw, "  %s/%s\t%d\t%s\t%d\t%s\t%s\n", p.Pipeline, pc.Name(), pc.Cases, optCount(pc.IfFalse), pc.Failures, optCount(pc.Missing), mark)
			for _, g := range pc.Patterns {
				mark := ""
				if g.Matched == 0 {
					mark = notExercised
				}
				fmt.Fprintf(tw, "    patterns[%d] %s\t%d\t\t\t\t%s\n", g.Index, truncate(strings.Join(strings.Fields(g.Pattern), " "), 40), g.Matched, mark)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	// tabwriter pads the last columns of rows without a mark.
	var out strings.Builder
	for line := range strings.Lines(b.String()) {
		out.WriteString(strings.TrimRight(line, " \n"))
		out.WriteByte('\n')
	}
	_, err := io.WriteString(w, out.String())
	return err
}

// Summary is "20 of 22 processors, 1 of 2 grok patterns exercised (87.5%)".
func (t *CoverageTotals) Summary() string {
	return fmt.Sprintf("%d of %d processors, %d of %d grok patterns exercised (%.1f%%)",
		t.ProcessorsExercised, t.ProcessorsTotal, t.PatternsExercised, t.PatternsTotal, t.Percent)
}

func optCount(n *int64) string {
	if n == nil {
		return "-"
	}
	return fmt.Sprint(*n)
}
