package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	elasticgrok "github.com/elastic/go-grok"
	vjgrok "github.com/vjeantet/grok"

	tevent "github.com/sluice-siem/sluice/transform/event"
	"github.com/sluice-siem/sluice/transform/pipeline"
	"github.com/sluice-siem/sluice/transform/pipeline/grok"
	"github.com/sluice-siem/sluice/transform/pipeline/samples"
)

// The engines of `sluice-load grok`: sluice's firewall sample pipeline, its compiled
// grok expression alone, and two stock Go grok libraries on the same expression.
const (
	enginePipeline = "pipeline"
	engineSluice   = "sluice-grok"
	engineElastic  = "elastic-go-grok"
	engineVjeantet = "vjeantet-grok"
)

var grokEngines = []string{enginePipeline, engineSluice, engineElastic, engineVjeantet}

// grokConfig is what `sluice-load grok` runs.
type grokConfig struct {
	engine, input, label, role, captures string
	duration                             time.Duration
	samples                              int
}

// parser turns one line into its captures (typed as the expression says), or reports
// that the line did not match. The captures are valid until the next call (the
// pipeline's parser recycles them).
type parser func(line string) (map[string]any, bool, error)

// grokExpr is a grok expression with the custom patterns it uses.
type grokExpr struct {
	pattern string
	defs    map[string]string
}

// firewallExpression returns the grok expression of the firewall sample pipeline's
// first grok processor (the one that parses the packet): the one every engine runs.
func firewallExpression() (grokExpr, error) {
	cfgs, err := samples.Pipelines()
	if err != nil {
		return grokExpr{}, fmt.Errorf("load sample pipelines: %w", err)
	}
	cfg, ok := cfgs[shapeFirewall]
	if !ok || len(cfg.Processors) == 0 {
		return grokExpr{}, errors.New("the samples have no firewall pipeline")
	}
	var first struct {
		Grok struct {
			Patterns []string          `yaml:"patterns"`
			Defs     map[string]string `yaml:"pattern_definitions"`
		} `yaml:"grok"`
	}
	if err := cfg.Processors[0].Decode(&first); err != nil {
		return grokExpr{}, fmt.Errorf("decode the firewall pipeline's first processor: %w", err)
	}
	if len(first.Grok.Patterns) != 1 {
		return grokExpr{}, fmt.Errorf("the firewall pipeline's first processor has %d grok patterns, want 1", len(first.Grok.Patterns))
	}
	return grokExpr{pattern: first.Grok.Patterns[0], defs: first.Grok.Defs}, nil
}

// newParser builds the parser of an engine on expr. The libraries run their string
// parse (ParseString, Parse), as the Go benchmark of transform/pipeline/grok does:
// vjeantet/grok's ParseTyped reports a typed capture whose group did not take part as
// 0 instead of leaving it out, which the comparison of captures rejects. sluice's grok
// converts typed captures as the pipeline does: more work on its side, not less.
func newParser(engine string, expr grokExpr) (parser, error) {
	switch engine {
	case enginePipeline:
		cfgs, err := samples.Pipelines()
		if err != nil {
			return nil, fmt.Errorf("load sample pipelines: %w", err)
		}
		set, err := pipeline.Build(cfgs, pipeline.Deps{})
		if err != nil {
			return nil, fmt.Errorf("build sample pipelines: %w", err)
		}
		p := set.Get(shapeFirewall)
		received := time.Now().UTC()
		ctx := context.Background()
		// The transformer recycles an event's objects once it is encoded
		// (transform/run.go); so does this parser, once the next line comes: what it
		// returns is valid until then.
		var objs tevent.Objects
		return func(line string) (map[string]any, bool, error) {
			objs.Release()
			fields := objs.New(1)
			fields["message"] = line
			e := tevent.Event{Type: shapeFirewall, Received: received, Fields: fields, Objects: &objs}
			if err := p.Process(ctx, &e); err != nil {
				return nil, false, fmt.Errorf("firewall pipeline: %w", err)
			}
			if _, failed := e.Fields["error"]; failed {
				return e.Fields, false, nil
			}
			return e.Fields, true, nil
		}, nil
	case engineSluice:
		p, err := grok.Compile(expr.pattern, expr.defs)
		if err != nil {
			return nil, fmt.Errorf("compile with sluice's grok: %w", err)
		}
		fields := p.Fields()
		spans := make([]int, 2*len(fields))
		return func(line string) (map[string]any, bool, error) {
			if !p.Match(line, spans) {
				return nil, false, nil
			}
			// As the pipeline's grok processor does: empty captures are skipped, typed
			// captures converted.
			m := make(map[string]any, len(fields))
			for i, f := range fields {
				if spans[2*i] < 0 || spans[2*i] == spans[2*i+1] {
					continue
				}
				s := line[spans[2*i]:spans[2*i+1]]
				switch f.Type {
				case "int", "long":
					n, err := strconv.ParseInt(s, 10, 64)
					if err != nil {
						return nil, false, fmt.Errorf("capture %s: %w", f.Name, err)
					}
					m[f.Name] = n
				case "float", "double":
					n, err := strconv.ParseFloat(s, 64)
					if err != nil {
						return nil, false, fmt.Errorf("capture %s: %w", f.Name, err)
					}
					m[f.Name] = n
				default:
					m[f.Name] = s
				}
			}
			return m, true, nil
		}, nil
	case engineElastic:
		g := elasticgrok.New()
		if err := g.AddPatterns(expr.defs); err != nil {
			return nil, fmt.Errorf("elastic/go-grok: custom patterns: %w", err)
		}
		if err := g.Compile(expr.pattern, true); err != nil {
			return nil, fmt.Errorf("compile with elastic/go-grok: %w", err)
		}
		return func(line string) (map[string]any, bool, error) {
			m, err := g.ParseString(line)
			if err != nil {
				return nil, false, fmt.Errorf("elastic/go-grok: %w", err)
			}
			return anyMap(m), len(m) > 0, nil
		}, nil
	case engineVjeantet:
		g, err := vjgrok.NewWithConfig(&vjgrok.Config{NamedCapturesOnly: true})
		if err != nil {
			return nil, fmt.Errorf("vjeantet/grok: %w", err)
		}
		if err := g.AddPatternsFromMap(expr.defs); err != nil {
			return nil, fmt.Errorf("vjeantet/grok: custom patterns: %w", err)
		}
		if _, err := g.Parse(expr.pattern, ""); err != nil { // compiles and caches expr
			return nil, fmt.Errorf("compile with vjeantet/grok: %w", err)
		}
		// ParseToMultiMap, not Parse: a name captured in two alternatives (source.ip of
		// the IPv4 and of the IPv6 branch) is two groups, and Parse keeps the last
		// even when only the first took part. The first value set is the capture, as
		// in sluice's grok and elastic/go-grok.
		return func(line string) (map[string]any, bool, error) {
			mm, err := g.ParseToMultiMap(expr.pattern, line)
			if err != nil {
				return nil, false, fmt.Errorf("vjeantet/grok: %w", err)
			}
			m := make(map[string]any, len(mm))
			for k, vs := range mm {
				for _, v := range vs {
					if v != "" {
						m[k] = v
						break
					}
				}
			}
			return m, len(mm) > 0, nil
		}, nil
	}
	return nil, fmt.Errorf("unknown engine %q: want one of %s", engine, strings.Join(grokEngines, ", "))
}

// anyMap boxes a library's string captures for the captures file; compareCaptures
// compares values as text, so "5771" equals sluice's typed 5771.
func anyMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// readLines reads the non-empty lines of a file.
func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open input: %w", err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if l := sc.Text(); l != "" {
			lines = append(lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read input %s: %w", path, err)
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("input %s has no lines", path)
	}
	return lines, nil
}

// capture is one line of a captures file: what an engine took from sample line Line.
type capture struct {
	Line   int            `json:"line"`
	Fields map[string]any `json:"fields"`
}

// writeCaptures writes the captures of the first n lines as NDJSON, empty strings left
// out (sluice skips empty captures; the libraries return them).
func writeCaptures(path string, parse parser, lines []string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create captures file: %w", err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for i := range min(n, len(lines)) {
		m, ok, err := parse(lines[i])
		if err != nil {
			f.Close()
			return fmt.Errorf("sample line %d: %w", i+1, err)
		}
		c := capture{Line: i + 1, Fields: map[string]any{}}
		if ok {
			for k, v := range m {
				if s, isString := v.(string); !isString || s != "" {
					c.Fields[k] = v
				}
			}
		}
		if err := enc.Encode(c); err != nil {
			f.Close()
			return fmt.Errorf("write captures: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write captures: %w", err)
	}
	return f.Close()
}

func grokCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sluice-load grok", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c grokConfig
	fs.StringVar(&c.engine, "engine", engineSluice, "pipeline (sluice's firewall sample pipeline) | sluice-grok (its grok expression alone) | elastic-go-grok | vjeantet-grok")
	fs.StringVar(&c.input, "input", "", "`file` of log lines (sluice-load lines), cycled")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long to parse")
	fs.StringVar(&c.label, "label", "", "scenario `name` for the table")
	fs.StringVar(&c.role, "role", "subject", "subject or baseline")
	fs.StringVar(&c.captures, "captures", "", "write the captures of the first --samples lines to this NDJSON `file` (compare them with grok-compare)")
	fs.IntVar(&c.samples, "samples", 500, "lines whose captures go to --captures")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if c.input == "" || fs.NArg() > 0 || c.duration <= 0 || c.duration > hardCap || c.samples < 1 {
		fmt.Fprintln(stderr, "usage: sluice-load grok --engine E --input FILE [--duration D] [--captures FILE]")
		return 2
	}
	if !slices.Contains(grokEngines, c.engine) {
		fmt.Fprintf(stderr, "sluice-load grok: unknown engine %q: want one of %s\n", c.engine, strings.Join(grokEngines, ", "))
		return 2
	}
	s, err := runGrok(ctx, c)
	if err != nil {
		fmt.Fprintln(stderr, "sluice-load grok:", err)
		return 1
	}
	return writeSummary(s, stdout, stderr)
}

// runGrok parses the input's lines in turn on one goroutine for the duration and
// measures this process from /proc: its CPU time is the engine's (and the runtime's)
// alone, input reading and compilation excluded.
func runGrok(ctx context.Context, c grokConfig) (summary, error) {
	lines, err := readLines(c.input)
	if err != nil {
		return summary{}, err
	}
	expr, err := firewallExpression()
	if err != nil {
		return summary{}, err
	}
	parse, err := newParser(c.engine, expr)
	if err != nil {
		return summary{}, err
	}
	if c.captures != "" {
		if err := writeCaptures(c.captures, parse, lines, c.samples); err != nil {
			return summary{}, err
		}
	}
	var lineBytes int64
	for _, l := range lines {
		lineBytes += int64(len(l))
	}
	pid := os.Getpid()
	before, err := readProc("/proc", pid)
	if err != nil {
		return summary{}, err
	}
	var sent, matched, bytes int64
	var firstErr error
	start := time.Now()
	deadline := start.Add(c.duration)
	for i := 0; ; i++ {
		if i%1024 == 0 && (time.Now().After(deadline) || ctx.Err() != nil) {
			break
		}
		line := lines[i%len(lines)]
		_, ok, err := parse(line)
		sent++
		bytes += int64(len(line))
		switch {
		case err != nil && firstErr == nil:
			firstErr = err
		case ok:
			matched++
		}
	}
	elapsed := time.Since(start)
	after, err := readProc("/proc", pid)
	if err != nil {
		return summary{}, err
	}
	cpuinfo, _ := os.ReadFile("/proc/cpuinfo")
	s := summary{
		Label: c.label, Role: c.role, Transport: "grok:" + c.engine, Target: c.input, Shape: shapeFirewall,
		EventBytes: float64(lineBytes) / float64(len(lines)), Batch: 1, Connections: 1, Inflight: 1, Compression: "none",
		Duration: c.duration.Seconds(), Elapsed: elapsed.Seconds(),
		Events:          counts{Sent: sent, Acked: matched, Failed: sent - matched},
		EventsPerSecond: float64(matched) / elapsed.Seconds(),
		PayloadMBPerSec: float64(bytes) / elapsed.Seconds() / 1e6,
		Errors:          map[string]int64{},
		Process:         processOf(pid, "sluice-load grok --engine "+c.engine, before, after, matched, elapsed),
		Machine:         thisMachine(cpuinfo), Date: time.Now().UTC().Format(time.RFC3339), Problems: []string{},
	}
	if matched == 0 {
		s.Problems = append(s.Problems, "no line matched")
	}
	if sent > matched {
		s.Errors["no_match"] = sent - matched
		s.Problems = append(s.Problems, fmt.Sprintf("%d of %d lines did not match", sent-matched, sent))
	}
	if firstErr != nil {
		s.ErrorSamples = map[string]string{"no_match": firstErr.Error()}
		s.Problems = append(s.Problems, firstErr.Error())
	}
	s.OK = len(s.Problems) == 0
	return s, nil
}

// writeSummary prints s as indented JSON and its problems on stderr; it returns the
// exit code.
func writeSummary(s summary, stdout, stderr io.Writer) int {
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		fmt.Fprintln(stderr, "sluice-load: write summary:", err)
		return 1
	}
	for _, p := range s.Problems {
		fmt.Fprintln(stderr, "sluice-load: problem:", p)
	}
	if !s.OK {
		return 1
	}
	return 0
}

// grokCompareCmd compares two captures files line by line: the proof that two engines
// took the same fields with the same values from the same lines.
func grokCompareCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 {
		fmt.Fprintln(stderr, "usage: sluice-load grok-compare A.ndjson B.ndjson")
		return 2
	}
	n, err := compareCaptures(args[0], args[1])
	if err != nil {
		fmt.Fprintln(stderr, "sluice-load grok-compare:", err)
		return 1
	}
	fmt.Fprintf(stdout, "grok-compare: %s and %s: the same captures on all %d sample lines\n", args[0], args[1], n)
	return 0
}

func readCaptures(path string) ([]capture, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read captures: %w", err)
	}
	var out []capture
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	for {
		var c capture
		if err := dec.Decode(&c); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("decode captures %s: %w", path, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// compareCaptures returns how many sample lines both files hold with equal captures,
// or the differences (at most 10) as an error.
func compareCaptures(pathA, pathB string) (int, error) {
	a, err := readCaptures(pathA)
	if err != nil {
		return 0, err
	}
	b, err := readCaptures(pathB)
	if err != nil {
		return 0, err
	}
	if len(a) != len(b) || len(a) == 0 {
		return 0, fmt.Errorf("%s has %d sample lines, %s %d: want the same number, at least one", pathA, len(a), pathB, len(b))
	}
	var diffs []error
	for i := range a {
		if d := diffFields(a[i].Fields, b[i].Fields); d != "" {
			diffs = append(diffs, fmt.Errorf("line %d: %s", a[i].Line, d))
			if len(diffs) == 10 {
				break
			}
		}
		if len(a[i].Fields) == 0 {
			diffs = append(diffs, fmt.Errorf("line %d: no captures in either file", a[i].Line))
		}
	}
	return len(a), errors.Join(diffs...)
}

// diffFields describes how two capture sets differ; empty when they are equal.
func diffFields(a, b map[string]any) string {
	var d []string
	for k, va := range a {
		vb, ok := b[k]
		switch {
		case !ok:
			d = append(d, fmt.Sprintf("%s=%v only in the first", k, va))
		case fmt.Sprint(va) != fmt.Sprint(vb):
			d = append(d, fmt.Sprintf("%s: %v != %v", k, va, vb))
		}
	}
	for k, vb := range b {
		if _, ok := a[k]; !ok {
			d = append(d, fmt.Sprintf("%s=%v only in the second", k, vb))
		}
	}
	return strings.Join(d, "; ")
}

// linesCmd writes the raw log lines of generated events, one a line: the input of
// `sluice-load grok`.
func linesCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sluice-load lines", flag.ContinueOnError)
	fs.SetOutput(stderr)
	shape := fs.String("shape", shapeFirewall, "event shape: firewall, ids, waf, mix")
	n := fs.Int("events", 4096, "lines to write")
	seed := fs.Uint64("seed", 1, "seed of the generated events")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *n < 1 || *n > 10_000_000 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: sluice-load lines [--shape S] [--events N (1 to 10,000,000)] [--seed N]")
		return 2
	}
	evs, err := generate(genOptions{shape: *shape, seed: *seed, start: time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)}, *n)
	if err != nil {
		fmt.Fprintln(stderr, "sluice-load lines:", err)
		return 2
	}
	w := bufio.NewWriter(stdout)
	for _, e := range evs {
		w.WriteString(e.line)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(stderr, "sluice-load lines:", err)
		return 1
	}
	return 0
}
