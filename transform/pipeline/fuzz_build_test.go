package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/transform/event"
)

// This file fuzzes what turns configuration into running pipelines: the pipeline and
// test case YAML loaders and Build (every processor kind and its options), the two
// evaluators of `if` conditions against each other, and templates.

// samplePipelines returns the YAML of the shipped sample pipelines and their test
// files, the seeds of real configurations.
func samplePipelines(f *testing.F) (pipelines, tests []string) {
	f.Helper()
	for _, glob := range []string{"samples/*.yaml", "samples/enriched/*.yaml"} {
		names, err := filepath.Glob(glob)
		if err != nil {
			f.Fatal(err)
		}
		for _, name := range names {
			data, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			if isTestFile(name) {
				tests = append(tests, string(data))
			} else {
				pipelines = append(pipelines, string(data))
			}
		}
	}
	if len(pipelines) == 0 || len(tests) == 0 {
		f.Fatal("no sample pipelines found")
	}
	return pipelines, tests
}

// sampleLines returns the first n lines of each sample log.
func sampleLines(f *testing.F, n int) []string {
	f.Helper()
	names, err := filepath.Glob("samples/testdata/*.log")
	if err != nil || len(names) == 0 {
		f.Fatalf("no sample logs: %v", err)
	}
	var lines []string
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		ls := strings.Split(strings.TrimSpace(string(data)), "\n")
		lines = append(lines, ls[:min(n, len(ls))]...)
	}
	return lines
}

// everyProcessor is a pipeline with every processor kind and every option of each.
const everyProcessor = `
description: every processor and option
keep_original: true
processors:
  - json: {field: message, target_field: doc, ignore_missing: true, tag: j, description: d, ignore_failure: true}
  - json: {field: doc.inner, add_to_root: true, ignore_missing: true, ignore_failure: true}
  - csv: {field: message, target_fields: [c.a, c.b, c.c], separator: ';', quote: "'", trim: true, empty_value: {x: [1, 2.5, true, null]}, ignore_missing: true, ignore_failure: true}
  - kv: {field: message, field_split: ' ', value_split: '=', target_field: kv, prefix: p_, include_keys: [a, b], exclude_keys: [c], trim_key: '"', trim_value: '"', strip_brackets: true, ignore_missing: true, quotes: false, ignore_failure: true}
  - dissect: {field: message, pattern: '%{a} %{+a/2} [%{?x}] %{*k}=%{&k} %{b->} %{c}', append_separator: '-', ignore_missing: true, ignore_failure: true}
  - grok: {field: message, patterns: ['%{IP:source.ip} %{INT:n:int} %{NUMBER:f:float}', '%{GREEDYDATA:rest}'], ignore_missing: true, ignore_failure: true}
  - syslog: {ignore_failure: true}
  - cef: {ignore_failure: true}
  - date: {field: ts, target_field: t, formats: [ISO8601, UNIX, UNIX_MS, 'dd/MMM/yyyy:HH:mm:ss Z', '2006-01-02'], timezone: Europe/Amsterdam, output_format: "yyyy-MM-dd'T'HH:mm:ss.SSSXXX", ignore_missing: true}
  - date: {field: ts2, formats: [ISO8601], timezone: '+02:00', ignore_missing: true}
  - rename: {field: a, target_field: b, ignore_missing: true, override: true}
  - rename: {fields: {x.y: z, q: r}, ignore_missing: true}
  - set: {field: s1, value: '{{source.ip}}:{{{n}}}', override: false, ignore_empty_value: true}
  - set: {field: s2, copy_from: kv, ignore_empty_value: true}
  - set: {field: s3, expr: 'num(ctx.n) + 1', if: 'ctx.n != nil', on_failure: [{set: {field: s3, value: 0}}]}
  - set: {field: s4, value: {a: [1, {b: c}], d: 1e3, e: 0x10, f: ~}}
  - convert: {field: n, target_field: n2, type: auto, ignore_missing: true}
  - convert: {field: f, type: integer, ignore_missing: true, ignore_failure: true}
  - lowercase: {field: rest, target_field: rest_lc, ignore_missing: true}
  - uppercase: {field: rest, ignore_missing: true}
  - append: {field: tags, value: [a, '{{n}}', 1, {o: 1}], allow_duplicates: false}
  - remove: {field: [c, doc.inner], ignore_missing: true}
  - remove: {keep: [message, tags, source, s1, s2, s3, s4, n, n2, kv, rest, rest_lc, event], if: 'ctx.tags != nil'}
  - drop: {if: 'ctx.message == "drop me"'}
on_failure:
  - set: {field: error.message, value: '{{_ingest.on_failure_message}}'}
`

// fuzzLog records the panics that a pipeline turns into failures, which would
// otherwise hide them from the fuzzer.
type fuzzLog struct {
	mu     sync.Mutex
	panics []string
}

func (l *fuzzLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *fuzzLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *fuzzLog) WithGroup(string) slog.Handler            { return l }

func (l *fuzzLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "processor panicked" {
		return nil
	}
	var b strings.Builder
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, "%s=%v\n", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	l.panics = append(l.panics, b.String())
	l.mu.Unlock()
	return nil
}

// checkShaped reports the first value of a document that is not JSON-shaped, the
// contract of event.Event.Fields. The path is built on the way out, so that deep
// documents cost no more than their size.
func checkShaped(v any) error {
	switch v := v.(type) {
	case nil, string, bool, json.Number, int64:
		return nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf(": %v is not a JSON number", v)
		}
		return nil
	case map[string]any:
		for k, x := range v {
			if err := checkShaped(x); err != nil {
				return fmt.Errorf(".%s%w", k, err)
			}
		}
		return nil
	case []any:
		for i, x := range v {
			if err := checkShaped(x); err != nil {
				return fmt.Errorf("[%d]%w", i, err)
			}
		}
		return nil
	}
	return fmt.Errorf(": a %T is not a JSON-shaped value", v)
}

// checkProblems fails unless every problem of err (each leaf of joined errors)
// starts with prefix: every problem names where it is. Values quoted raw in a message
// may hold newlines, so problems are not lines.
func checkProblems(t *testing.T, what string, err error, prefix string) {
	t.Helper()
	if err == nil {
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			checkProblems(t, what, e, prefix)
		}
		return
	}
	if !strings.HasPrefix(err.Error(), prefix) {
		t.Fatalf("%s: a problem without its place (want the prefix %q): %q", what, prefix, err)
	}
}

// mayAmplify reports pipelines that could make an event grow without bound: a
// pipeline is trusted configuration, and one can multiply its input by design (a
// template with many references, chained; an expression that repeats or joins), so
// FuzzBuild only builds those, and runs the others on events of a few hundred bytes.
func mayAmplify(pipelineYAML string) bool {
	if strings.Count(pipelineYAML, "{{") > 24 || strings.Count(pipelineYAML, "+") > 8 {
		return true
	}
	for _, fn := range []string{"repeat", "join", "reduce", "map(", "concat", "flatten"} {
		if strings.Contains(pipelineYAML, fn) {
			return true
		}
	}
	return false
}

// FuzzBuild guards the pipeline loaders and Build against hostile configuration: a
// pipeline file (LoadFS) and a test case file (LoadTestFile) never panic, every
// problem they and Build report starts with the file it is in, and a pipeline that
// builds runs its test cases, the sample log lines and an event made of the test file's
// text without a processor panicking, leaving a JSON-shaped document, in bounded time
// (for pipelines that cannot amplify an event, see mayAmplify).
func FuzzBuild(f *testing.F) {
	pipelines, tests := samplePipelines(f)
	for i, p := range pipelines {
		f.Add(p, tests[i%len(tests)])
	}
	f.Add(everyProcessor, "cases:\n  - {name: a, input: 'x=1 y=2', expect: {message: 'x=1 y=2'}}\n  - {name: b, event: {message: drop me}, expect_dropped: true}\n")
	// Groups: nested, with a failure handled by the outer one.
	f.Add("processors:\n  - group: {if: 'ctx.a != nil', processors: [{group: {processors: [{convert: {field: a, type: integer}}]}}], on_failure: [{set: {field: c, value: 2}}]}\n",
		"cases:\n  - {name: a, input: x, expect: {message: x}}\n")
	// Aliases: a cycle, and a "billion laughs" of nested aliases.
	f.Add("processors:\n  - set: {field: x, value: &a [1, *a]}\n", "")
	f.Add("processors:\n  - append: {field: x, value: &a {k: [*a]}}\n", "cases: [{name: a, event: &e {m: *e}, expect: {}}]")
	laughs := "processors:\n  - set:\n      field: x\n      value:\n        a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 1; i < 10; i++ {
		ref := fmt.Sprintf("*a%d", i-1)
		laughs += fmt.Sprintf("        a%d: &a%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(ref+", ", 10), ", "))
	}
	f.Add(laughs, "")
	f.Add("processors: [{csv: {field: m, target_fields: [a], empty_value: &a [*a]}}]", "")
	f.Add("processors:\n  - &p {drop: {on_failure: [*p]}}\non_failure: [*p]\n", "")
	// Deep and large: nesting past YAML's own limit, a huge condition, thousands of
	// processors and options, a 1 MiB value.
	f.Add("processors: [{set: {field: x, value: "+strings.Repeat("[", 100000)+strings.Repeat("]", 100000)+"}}]", "")
	f.Add("processors: [{set: {field: x, value: 1, if: '"+strings.Repeat("(", 100000)+"true"+strings.Repeat(")", 100000)+"'}}]", "")
	f.Add("processors: [{set: {field: x, value: 1, if: '"+strings.Repeat("!", 1<<20)+"true'}}]", "")
	f.Add("processors: [{set: {field: x, value: 1, if: '"+strings.Repeat(`ctx.a == "x" && `, 5000)+"true'}}]", "")
	f.Add("processors:\n"+strings.Repeat("  - set: {field: a.b.c, value: '{{a.b.c}}{{a.b.c}}'}\n", 2000), "")
	f.Add("processors:\n  - set:\n      field: x\n"+strings.Repeat("      o: 1\n", 5000), "")
	f.Add("processors: [{set: {field: x, value: '"+strings.Repeat("{{a}}", 200000)+"'}}]", "")
	f.Add("processors: [{set: {field: "+strings.Repeat("a.", 50000)+"b, value: 1}}]", "")
	f.Add("processors: [{dissect: {field: message, pattern: '"+strings.Repeat("%{a} ", 20000)+"'}}]", "")
	f.Add("processors: [{grok: {field: message, patterns: ['"+strings.Repeat("(?:", 1000)+"x"+strings.Repeat(")", 1000)+"']}}]", "")
	f.Add("processors: [{set: {field: x, expr: '1..3'}}, {set: {field: y, expr: 'now()'}}, {set: {field: z, expr: '0.0/0.0'}}, {set: {field: w, expr: '{\"a\": [1, 2]}'}}]", "")
	f.Add("processors:\n  - kv: {field: message}\n", "cases:\n"+strings.Repeat("  - {name: c, input: '"+strings.Repeat("k=v ", 200)+"', expect: {}}\n", 200))

	lines := sampleLines(f, 3)
	f.Fuzz(func(t *testing.T, pipelineYAML, testYAML string) {
		if len(pipelineYAML)+len(testYAML) > 4<<20 {
			return
		}
		start := time.Now()
		fsys := fstest.MapFS{
			"fuzz.yaml":      {Data: []byte(pipelineYAML)},
			"fuzz.test.yaml": {Data: []byte(testYAML)},
		}
		cfgs, err := LoadFS(fsys, "dir")
		checkProblems(t, "LoadFS", err, "dir/fuzz.yaml: ")
		if err != nil {
			return
		}
		log := &fuzzLog{}
		set, err := Build(cfgs, Deps{Logger: slog.New(log)})
		checkProblems(t, "Build", err, "dir/fuzz.yaml")
		if err != nil {
			return
		}
		tf, err := LoadTestFile(fsys, "fuzz.test.yaml", "dir/fuzz.test.yaml")
		checkProblems(t, "LoadTestFile", err, "dir/fuzz.test.yaml")
		if mayAmplify(pipelineYAML) {
			return
		}
		p := set.Get("fuzz")
		ctx := context.Background()
		run := func(what string, e *event.Event) {
			_ = p.Process(ctx, e)
			if len(log.panics) > 0 {
				t.Fatalf("%s: a processor panicked:\n%s", what, log.panics[0])
			}
			if err := checkShaped(e.Fields); err != nil {
				t.Fatalf("%s: (document)%v", what, err)
			}
		}
		for _, l := range lines {
			run("sample line", &event.Event{Type: "fuzz", Received: received, Fields: map[string]any{"message": l}})
		}
		run("test file as message", &event.Event{Type: "fuzz", Received: received, Fields: map[string]any{"message": testYAML[:min(len(testYAML), 256)]}})
		if err == nil && len(testYAML) <= 16<<10 {
			for i, c := range tf.Cases[:min(len(tf.Cases), 16)] {
				if _, err := c.Run(ctx, p, tf.Received); err == nil && len(log.panics) > 0 {
					t.Fatalf("case %d: a processor panicked:\n%s", i, log.panics[0])
				}
			}
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("%d+%d bytes took %v", len(pipelineYAML), len(testYAML), d)
		}
	})
}

// conditionSeeds are conditions of every shape the fast evaluator takes, and a few it
// leaves to expr.
func conditionSeeds() []string {
	return []string{
		`ctx.a == "x"`, `ctx.a != "x"`, `ctx.a == nil`, `ctx.a != nil`, `ctx.a == true`, `ctx.a == 1`, `ctx.a == -1`,
		`ctx.a.b == "x"`, `ctx.a?.b == "x"`, `ctx.a?.b.c == nil`, `ctx.a?.b?.c != nil`, `ctx["a"]?.b == 1`,
		`ctx.a in ["x", "y", 1, nil]`, `ctx.a?.b in ["x"]`, `ctx.a in []`, `ctx.a contains "x"`, `ctx.a?.b startsWith "x"`,
		`ctx.a endsWith "y"`, `ctx.a == "x" && ctx.b?.c == "y"`, `ctx.a == "x" || ctx.b.c == "y"`, `!(ctx.a == nil)`,
		`not (ctx.a?.b == "x") and ctx.b != nil`, `ctx.a not in ["x"]`, `ctx.a?.b?.c == false or ctx.a == 1`,
		`ctx.a not contains "x"`, `ctx.a matches "^x"`, `num(ctx.a) > 1`, `len(ctx.a) == 1`, `ctx.a`, `cidr_match(ctx.a, "10.0.0.0/8")`,
		`ctx["@timestamp"] == "x"`, `ctx.a == ctx.b`, `ctx.a?.b != ctx.c?.d`, `ctx.a == 1.0`, `ctx.a == 9223372036854775807`, `ctx.a?.["b"] == "x"`,
		`ctx.a == "x" ? true : false`, `lower(ctx.a) == "x"`, `ctx.a ?? "x" == "x"`,
		strings.Repeat("(", 100000) + `ctx.a == "x"` + strings.Repeat(")", 100000),
		strings.Repeat("(", 100) + `ctx.a == "x"` + strings.Repeat(")", 100),
		strings.Repeat("!", 100000) + `(ctx.a == "x")`,
		strings.Repeat(`!`, 1000) + `(ctx.a == "x")`,
		strings.Repeat(`ctx.a == "x" && `, 100000) + `ctx.b == nil`,
		strings.Repeat(`ctx.a == "x" || `, 2000) + `ctx.b == nil`,
		strings.Repeat(`ctx.a?.b == 1 && !(ctx.b != "y") || `, 500) + `ctx.c in ["x", 1, nil]`,
		`ctx.a in [` + strings.Repeat(`"x", `, 5000) + `"y"]`,
		`ctx` + strings.Repeat(`?.a`, 3000) + ` == nil`,
		`ctx.a == "` + strings.Repeat("x", 60000) + `"`,
	}
}

// fuzzFields builds an event document from fuzz bytes: keys a, b, c (and a few odd
// ones), values of every JSON-shaped kind and the numbers processors make.
type fuzzFields struct{ data []byte }

func (g *fuzzFields) byte() byte {
	if len(g.data) == 0 {
		return 0
	}
	b := g.data[0]
	g.data = g.data[1:]
	return b
}

func (g *fuzzFields) object(depth int) map[string]any {
	m := map[string]any{}
	for _, k := range []string{"a", "b", "c", "@timestamp"} {
		if g.byte()%3 > 0 {
			m[k] = g.value(depth)
		}
	}
	return m
}

func (g *fuzzFields) value(depth int) any {
	switch b := g.byte(); b % 10 {
	case 0:
		return nil
	case 1:
		strs := []string{"x", "y", "xy", "yx", "", "1", "10.1.2.3", "X"}
		return strs[int(b/10)%len(strs)]
	case 2:
		n := int(g.byte()) % 16
		s := string(g.data[:min(n, len(g.data))])
		g.data = g.data[min(n, len(g.data)):]
		return s
	case 3:
		return b&0x10 != 0
	case 4:
		nums := []string{"1", "1.0", "-1", "0", "1e0", "x", "9223372036854775807"}
		return json.Number(nums[int(b/10)%len(nums)])
	case 5:
		ints := []int64{0, 1, -1, 2, math.MaxInt64, math.MinInt64}
		return ints[int(b/10)%len(ints)]
	case 6:
		floats := []float64{0, 1, -1, 1.5, math.Copysign(0, -1), math.NaN(), math.Inf(1), 9.223372036854775807e18}
		return floats[int(b/10)%len(floats)]
	case 7:
		if depth > 3 {
			return "x"
		}
		n := int(g.byte()) % 4
		arr := make([]any, 0, n)
		for range n {
			arr = append(arr, g.value(depth+1))
		}
		return arr
	case 8:
		return int(b/10) % 3
	default:
		if depth > 3 {
			return "x"
		}
		return g.object(depth + 1)
	}
}

// FuzzCondition guards the two evaluators of `if` conditions: expr-lang's compiler
// and VM (cond.go) and the direct evaluation of simple shapes (cond_fast.go). They
// compile any expression without panicking or recursing without bound (100,000 nested
// brackets, long && chains), and wherever the fast evaluator decides a condition on an
// event, expr's VM decides it the same way and does not fail.
func FuzzCondition(f *testing.F) {
	for i, c := range conditionSeeds() {
		f.Add(c, []byte{byte(i), 1, 1, 21, 2, 1, 11, 3, 9, 1, 1, 1})
	}
	pipelines, _ := samplePipelines(f)
	for _, src := range pipelines {
		var doc yaml.Node
		if yaml.Unmarshal([]byte(src), &doc) != nil {
			continue
		}
		var walk func(n *yaml.Node)
		walk = func(n *yaml.Node) {
			for i, c := range n.Content {
				if n.Kind == yaml.MappingNode && i%2 == 0 && c.Value == "if" && i+1 < len(n.Content) {
					f.Add(n.Content[i+1].Value, []byte{9, 1, 9, 1, 1, 1, 1, 1})
				}
				walk(c)
			}
		}
		walk(&doc)
	}
	f.Fuzz(func(t *testing.T, src string, doc []byte) {
		start := time.Now()
		p, err := compileCond(src)
		if err != nil {
			_ = compileFast(src) // no panic either way
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("refusing %d bytes took %v", len(src), d)
			}
			return
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("compiling %d bytes took %v", len(src), d)
		}
		for range 4 {
			g := &fuzzFields{data: doc}
			fields := g.object(0)
			doc = g.data
			e := &event.Event{Fields: fields}
			out, vmErr := p.eval(e)
			if vmErr == nil {
				if _, ok := out.(bool); !ok {
					t.Fatalf("%s: expr gave a %T, not a bool", src, out)
				}
			}
			if p.fast != nil {
				fast, decided := p.fast.eval(fields)
				if decided && vmErr != nil {
					t.Fatalf("%s on %s: the fast evaluator says %v, expr fails: %v", src, show(fields), fast, vmErr)
				}
				if decided && out != fast {
					t.Fatalf("%s on %s: the fast evaluator says %v, expr %v", src, show(fields), fast, out)
				}
			}
			got, err := p.test(e)
			if (err != nil) != (vmErr != nil) || err == nil && got != out {
				t.Fatalf("%s on %s: test gives %v, %v; expr %v, %v", src, show(fields), got, err, out, vmErr)
			}
			if len(doc) == 0 {
				break
			}
		}
	})
}

// FuzzTemplate guards template parsing and rendering ({{field}} and {{{field}}}): no
// panic, text without "{{" is itself, rendering is bounded by the text and the values
// of the fields it names, and a reference to a field holding a string renders as that
// string.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{
		"", "plain", "{{a}}", "{{{a}}}", "x {{a.b}} y {{{c}}} z", "{{ a }}", "{{}}", "{{a", "{{{a}}", "{{a}}}", "}}{{",
		"{{a b}}", "{{a{b}}", "{{{{a}}}}", "{{.}}", "{{a..b}}", "{{@timestamp}}", "{{_ingest.on_failure_message}}",
		strings.Repeat("{{a}}", 100000), strings.Repeat("{", 100000) + "a" + strings.Repeat("}", 100000),
		strings.Repeat("{{", 100000), "{{" + strings.Repeat("a.", 100000) + "b}}", strings.Repeat("x", 1<<20),
	} {
		f.Add(s, "v")
	}
	f.Fuzz(func(t *testing.T, src, value string) {
		start := time.Now()
		tpl, err := parseTemplate(src)
		if err != nil {
			if !strings.Contains(src, "{{") {
				t.Fatalf("%q has no reference but fails: %v", src, err)
			}
			return
		}
		refs := 0
		for _, p := range tpl.parts {
			if p.ref {
				refs++
				if p.field.String() == "" {
					t.Fatalf("%q: a reference to no field", src)
				}
			}
		}
		if !strings.Contains(src, "{{") && (refs > 0 || tpl.render(&event.Event{}) != src) {
			t.Fatalf("%q has no reference but renders as %q", src, tpl.render(&event.Event{}))
		}
		if tpl.static() != (refs == 0) {
			t.Fatalf("%q: static() = %v with %d references", src, tpl.static(), refs)
		}
		empty := &event.Event{Fields: map[string]any{}}
		if out := tpl.render(empty); len(out) > len(src) {
			t.Fatalf("%q renders %d bytes with no fields", src, len(out))
		}
		// One field set: a reference renders it, the object around it (JSON: at most 6
		// bytes per byte of its keys and value, plus braces and quotes), or nothing.
		e := &event.Event{Fields: map[string]any{}}
		for _, p := range tpl.parts {
			if p.ref {
				_ = e.SetPath(p.field, value) // a path that cannot be set renders empty
				break
			}
		}
		if out, most := tpl.render(e), len(src)+refs*(6*len(value)+8*len(src)+8); len(out) > most {
			t.Fatalf("%q renders %d bytes, more than %d", src, len(out), most)
		}
		if len(tpl.parts) == 1 && tpl.parts[0].ref {
			if v, ok := e.GetPath(tpl.parts[0].field); ok {
				if got := tpl.renderValue(e); got != v {
					t.Fatalf("%q: renderValue = %#v, want the field's %#v", src, got, v)
				}
			}
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("%d bytes took %v", len(src), d)
		}
	})
}
