package pipeline

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"math"
	"net"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/internal/jsonx"
	"github.com/sluice-siem/sluice/transform/event"
)

// This file fuzzes the json, csv, date and convert processors with the text of an
// event's field, and checks the text parsers on inputs larger than fuzzing reaches.

// mustProc compiles one processor for a fuzz target.
func mustProc(f *testing.F, src string) event.Processor {
	f.Helper()
	s, err := compileProc(f, src)
	if err != nil {
		f.Fatal(err)
	}
	return s.proc
}

// deepJSON is n nested arrays around a value.
func deepJSON(n int) string { return strings.Repeat("[", n) + "1" + strings.Repeat("]", n) }

// jsonDepth is the deepest nesting of arrays and objects in JSON text (a top-level
// object is 1), counting brackets outside strings.
func jsonDepth(s string) int {
	depth, deepest, inString := 0, 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

// FuzzJSON guards the json processor: no panic; it accepts exactly one valid JSON
// value (whitespace around it allowed) nested no deeper than the limit; what it stores
// re-encodes to JSON that decodes to the same value; add_to_root accepts objects only.
func FuzzJSON(f *testing.F) {
	toTarget := mustProc(f, `json: {field: message, target_field: parsed}`)
	toRoot := mustProc(f, `json: {field: message, add_to_root: true}`)
	var many strings.Builder // an object of 20,000 members
	many.WriteString("{")
	for i := range 20000 {
		if i > 0 {
			many.WriteString(",")
		}
		many.WriteString(`"k` + strconv.Itoa(i) + `":` + strconv.Itoa(i))
	}
	many.WriteString("}")
	for _, s := range []string{
		`{"a":1}`, ` {"a":[1,2.5,"x",true,null,{"b":{}}]} `, `[1,2]`, `"s"`, `1e999`, `-0`, `0.1e-7`, `{"a":1}x`, `{"a":1}{"b":2}`,
		`{"a":1}]`, `{"a":"\ud800"}`, "{\"a\":\"\xff\"}", `{"a":1,"a":2}`, ``, ` `, `nul`, `{"a":` + strings.Repeat("9", 10000) + `}`,
		deepJSON(100000), deepJSON(9999), `{"a":"` + strings.Repeat("x", 1<<20) + `"}`, many.String(),
		strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if len(in) > 2<<20 {
			return
		}
		start := time.Now()
		e := &event.Event{Fields: map[string]any{"message": in}}
		err := toTarget.Process(context.Background(), e)
		valid, depth := json.Valid([]byte(in)), jsonDepth(in)
		switch {
		case err == nil && !valid:
			t.Fatalf("the processor accepts what json.Valid refuses")
		case err == nil && depth > jsonx.DefaultMaxDepth:
			t.Fatalf("the processor accepts JSON nested %d deep, beyond the limit of %d", depth, jsonx.DefaultMaxDepth)
		case err != nil && valid && depth < jsonx.DefaultMaxDepth:
			t.Fatalf("json.Valid accepts JSON nested %d deep, but the processor says %v", depth, err)
		}
		if err == nil {
			v := e.Fields["parsed"]
			if err := checkShaped(v); err != nil {
				t.Fatalf("stored (value)%v", err)
			}
			out, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			dec := json.NewDecoder(bytes.NewReader(out))
			dec.UseNumber()
			var again any
			if err := dec.Decode(&again); err != nil || !reflect.DeepEqual(again, v) {
				t.Fatalf("re-encoded %.200s decodes to something else (%v)", out, err)
			}
		}
		e = &event.Event{Fields: map[string]any{"message": in}}
		if err := toRoot.Process(context.Background(), e); err == nil && valid {
			if strings.TrimSpace(in)[0] != '{' {
				t.Fatalf("add_to_root accepted %.200q", in)
			}
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("%d bytes took %v", len(in), d)
		}
	})
}

// FuzzCSV guards the csv processor: no panic on any line, in linear time, and a row
// written by encoding/csv (RFC 4180 quoting) reads back: the input is split at tabs
// into columns, written as one CSV row, and each non-empty column must come back as
// its field. With convert, each column holds what the convert processor makes of the
// plain column, or the plain column where convert fails.
func FuzzCSV(f *testing.F) {
	const cols = 8
	var targets []string
	for i := range cols {
		targets = append(targets, "c"+strconv.Itoa(i))
	}
	plain := mustProc(f, `csv: {field: message, target_fields: [`+strings.Join(targets, ", ")+`]}`)
	trimmed := mustProc(f, `csv: {field: message, target_fields: [a, b, c], separator: ';', quote: "'", trim: true, empty_value: ''}`)
	types := []string{"long", "integer", "double", "float", "boolean", "long", "", "double"}
	var convert []string
	for i, typ := range types {
		if typ != "" {
			convert = append(convert, targets[i]+": "+typ)
		}
	}
	typed := mustProc(f, `csv: {field: message, target_fields: [`+strings.Join(targets, ", ")+`], convert: {`+strings.Join(convert, ", ")+`}}`)
	for _, s := range []string{
		"a,b,c", `"a,b","c""d",e`, `"unterminated`, `"a"b`, ",,,", "\"multi\nline\",x", " a ;' b ' ; c", "a\tb\tc",
		"x\t\"q\"\t\t,\t\r\n", "1,-2,3.5,1e3,true,99999999999999999999,x,NaN", "0x1f,+1, 2,2147483648,TRUE,-0,,.5", strings.Repeat(`"",`, 100000), strings.Repeat(`""`, 500000), `"` + strings.Repeat(`""`, 300000),
		strings.Repeat("x", 1<<20), strings.Repeat("a,", 300000), strings.Repeat(" ", 100000) + "'",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if len(in) > 2<<20 {
			return
		}
		start := time.Now()
		for _, p := range []event.Processor{plain, trimmed} {
			e := &event.Event{Fields: map[string]any{"message": in}}
			_ = p.Process(context.Background(), e)
		}
		columns := strings.Split(in, "\t")
		if len(columns) > cols {
			columns = columns[:cols]
		}
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		if err := w.Write(columns); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		row := strings.TrimSuffix(buf.String(), "\n")
		e := &event.Event{Fields: map[string]any{"message": row}}
		if err := plain.Process(context.Background(), e); err != nil {
			t.Fatalf("%q written by encoding/csv as %q: %v", columns, row, err)
		}
		for i, c := range columns {
			got, ok := e.Fields[targets[i]]
			if c == "" {
				if ok {
					t.Fatalf("row %q: empty column %d set to %q", row, i, got)
				}
				continue
			}
			if got != c {
				t.Fatalf("row %q: column %d is %q, want %q", row, i, got, c)
			}
		}
		te := &event.Event{Fields: map[string]any{"message": row}}
		if err := typed.Process(context.Background(), te); err != nil {
			t.Fatalf("row %q with convert: %v", row, err)
		}
		for i, target := range targets {
			plainV, inPlain := e.Fields[target]
			got, inTyped := te.Fields[target]
			if inPlain != inTyped {
				t.Fatalf("row %q: column %d set %v plain, %v with convert", row, i, inPlain, inTyped)
			}
			if !inPlain {
				continue
			}
			want := plainV
			if types[i] != "" {
				if v, err := convertValue(plainV, types[i]); err == nil {
					want = v
				}
			}
			if !reflect.DeepEqual(got, want) && !(isNaN(got) && isNaN(want)) {
				t.Fatalf("row %q: column %d (%s) is %#v with convert, want %#v", row, i, types[i], got, want)
			}
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("%d bytes took %v", len(in), d)
		}
	})
}

// FuzzDate guards the date processor and its formats: any format, time zone and value
// build or fail without a panic, and a parsed date is written as RFC 3339 text that
// parses back (or in output_format when that builds).
func FuzzDate(f *testing.F) {
	for _, s := range [][3]string{
		{"ISO8601", "UTC", "2026-11-26T07:00:01.123456789+01:00"},
		{"UNIX", "UTC", "1795676403.456"},
		{"UNIX_MS", "UTC", "1795676403456"},
		{"UNIX", "UTC", "-253402300799"},
		{"UNIX", "UTC", "253402300799.999999999"},
		{"UNIX_MS", "UTC", "-253402300799999"},
		{"dd/MMM/yyyy:HH:mm:ss Z", "Europe/Amsterdam", "26/Nov/2026:07:00:01 +0100"},
		{"MMM d HH:mm:ss", "+14:00", "Feb 29 07:00:01"},
		{"MMM  d HH:mm:ss", "-00:00", "Nov  6 07:00:01"},
		{"yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "America/New_York", "2026-03-08T02:30:00.000-05:00"},
		{"EEEE, dd-MMM-yy hh:mm:ss a z", "Asia/Kolkata", "Thursday, 26-Nov-26 07:00:01 AM IST"},
		{"''yyyy''", "UTC", "'2026'"},
		{"'unterminated", "UTC", "x"},
		{"2006-01-02 15:04:05.000000000", "Local", "2026-11-26 07:00:01.000000001"},
		{"QQQ", "../../etc/passwd", "x"},
		{strings.Repeat("y", 100000), "UTC", strings.Repeat("2026", 25000)},
		{strings.Repeat("'x'", 50000), "UTC", strings.Repeat("x", 50000)},
		{"ISO8601", "UTC", strings.Repeat("9", 1<<20)},
		{"UNIX", "UTC", "1." + strings.Repeat("0", 100000)},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, format, tz, value string) {
		if len(format)+len(tz)+len(value) > 2<<20 {
			return
		}
		start := time.Now()
		// The built-in formats always build: the value is always parsed by them.
		p, err := newDate(dateOptionsNode(nil, "ISO8601", "UNIX", "UNIX_MS"), &Deps{})
		if err != nil {
			t.Fatal(err)
		}
		checkDate(t, p, value, time.RFC3339Nano)
		if p, err := newDate(dateOptionsNode([]string{"timezone", tz}, format, "ISO8601"), &Deps{}); err == nil {
			checkDate(t, p, value, time.RFC3339Nano)
		}
		if p, err := newDate(dateOptionsNode([]string{"output_format", format}, "UNIX", "ISO8601"), &Deps{}); err == nil {
			checkDate(t, p, value, "")
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("%d bytes took %v", len(format)+len(tz)+len(value), d)
		}
	})
}

// dateOptionsNode makes the options of a date processor on the field message: the
// formats, and one more option (name, value) when extra is not nil.
func dateOptionsNode(extra []string, formats ...string) *yaml.Node {
	str := func(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }
	list := &yaml.Node{Kind: yaml.SequenceNode}
	for _, f := range formats {
		list.Content = append(list.Content, str(f))
	}
	n := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{str("field"), str("message"), str("formats"), list}}
	if extra != nil {
		n.Content = append(n.Content, str(extra[0]), str(extra[1]))
	}
	return n
}

// checkDate runs a date processor on value; layout "" skips checking the output.
func checkDate(t *testing.T, p event.Processor, value, layout string) {
	t.Helper()
	e := &event.Event{Received: received, Fields: map[string]any{"message": value}}
	if err := p.Process(context.Background(), e); err != nil {
		return
	}
	out, ok := e.Fields["@timestamp"].(string)
	if !ok {
		t.Fatalf("%q: @timestamp is %#v, not text", value, e.Fields["@timestamp"])
	}
	if layout == "" {
		return
	}
	if _, err := time.Parse(layout, out); err != nil {
		t.Fatalf("%q parsed to %q, which is not RFC 3339: %v", value, out, err)
	}
}

// FuzzConvert guards the convert processor: no panic for any type and text, a
// converted value is what strconv or netip make of the text, and converting again is
// a no-op (a value of a type converts to itself).
func FuzzConvert(f *testing.F) {
	types := []string{"integer", "long", "float", "double", "boolean", "ip", "mac", "string", "auto"}
	for _, s := range []string{
		"1", " 42 ", "0x1f", "0o17", "0b101", "-9223372036854775808", "9223372036854775808", "1.5", "1e308", "1e309", "NaN", "-Inf",
		"true", " FALSE ", "00:16:3e:4a:5b:6c", "0016.3e4a.5b6c", "10.0.0.1", "::ffff:10.0.0.1", "fe80::1%eth0", " 2001:db8::1 ", "", "x", "1_000",
		strings.Repeat("9", 100000), strings.Repeat(" ", 1<<20) + "1", "0." + strings.Repeat("0", 100000) + "1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if len(in) > 2<<20 {
			return
		}
		start := time.Now()
		trimmed := strings.TrimSpace(in)
		for _, typ := range types {
			out, err := convertValue(in, typ)
			if err != nil {
				continue
			}
			switch typ {
			case "integer", "long":
				want, perr := strconv.ParseInt(trimmed, 0, 64)
				if perr != nil || out != want {
					t.Fatalf("%s of %q = %#v, strconv says %v, %v", typ, in, out, want, perr)
				}
			case "float", "double":
				want, perr := strconv.ParseFloat(trimmed, 64)
				if f, ok := out.(float64); perr != nil || !ok || f != want || math.IsInf(f, 0) || math.IsNaN(f) {
					t.Fatalf("%s of %q = %#v, strconv says %v, %v", typ, in, out, want, perr)
				}
			case "boolean":
				if b, ok := out.(bool); !ok || strconv.FormatBool(b) != strings.ToLower(trimmed) {
					t.Fatalf("%s of %q = %#v", typ, in, out)
				}
			case "ip":
				s, _ := out.(string)
				if a, perr := netip.ParseAddr(s); perr != nil || a.String() != s {
					t.Fatalf("%s of %q = %#v, not an address in canonical form", typ, in, out)
				}
			case "mac":
				s, _ := out.(string)
				if hw, perr := net.ParseMAC(s); perr != nil || macString(hw) != s || strings.ToUpper(s) != s {
					t.Fatalf("%s of %q = %#v, not a MAC address in ECS form", typ, in, out)
				}
			case "string":
				if out != in {
					t.Fatalf("%s of %q = %#v", typ, in, out)
				}
			case "auto":
				if s, ok := out.(string); ok && s != in {
					t.Fatalf("%s of %q = %#v", typ, in, out)
				}
			}
			if err := checkShaped(out); err != nil {
				t.Fatalf("%s of %q: (value)%v", typ, in, err)
			}
			again, err := convertValue(out, typ)
			if err != nil || !reflect.DeepEqual(again, out) {
				t.Fatalf("%s of %q = %#v, converted again %#v, %v", typ, in, out, again, err)
			}
		}
		// An array converts element by element, through the processor.
		p := &convertProc{field: event.ParsePath("message"), target: event.ParsePath("out"), typ: "auto"}
		e := &event.Event{Fields: map[string]any{"message": []any{in, json.Number("1"), nil}}}
		if err := p.Process(context.Background(), e); err != nil {
			t.Fatalf("auto of an array: %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("%d bytes took %v", len(in), d)
		}
	})
}

// TestParsersOnHugeInputs runs the text parsers on 1 MiB inputs of the shapes that
// make parsers slow or deep (runs of separators and quotes, many pairs, escapes,
// unterminated constructs), which fuzz targets, capped at 64 KiB, never reach: each
// must finish without a panic in time linear in the input. Linear is checked against
// the same shape at 64 KiB in the same run, not against the clock (the race detector
// and a loaded machine made a fixed 5 s bound fail in CI): 16 times the input may take
// at most 64 times as long (and never less than 640 ms, so that a pause of the machine
// is not taken for a slow parser), where a quadratic parser takes 256 times.
func TestParsersOnHugeInputs(t *testing.T) {
	if testing.Short() {
		t.Skip("large inputs")
	}
	const mib, small = 1 << 20, 64 << 10
	procs := map[string]string{
		"syslog":  `syslog: {}`,
		"cef":     `cef: {}`,
		"kv":      `kv: {field: message, target_field: kv, strip_brackets: true, trim_value: '"'}`,
		"dissect": `dissect: {field: message, pattern: '%{a} %{+a/2} [%{?x}] %{*k}=%{&k} %{b->} %{c}'}`,
		"csv":     `csv: {field: message, target_fields: [a, b, c, d], trim: true}`,
		"json":    `json: {field: message, target_field: j}`,
		"grok":    `grok: {field: message, patterns: ['%{SYSLOGBASE} %{GREEDYDATA:rest}', '%{IP:ip}:%{INT:port:int}', '%{QS:q} %{NUMBER:n:float}']}`,
		"date":    `date: {field: message, formats: [ISO8601, UNIX, 'dd/MMM/yyyy:HH:mm:ss Z']}`,
	}
	// inputs are the shapes, each about size bytes.
	inputs := func(size int) map[string][]string {
		fill := func(unit string) string { return strings.Repeat(unit, size/len(unit)) }
		return map[string][]string{
			"syslog": {"<165>1 2026-11-26T07:00:01Z h app 1 ID " + fill(`[a b="c"]`), `<165>1 - h a 1 I [a b="` + fill(`\]`),
				"<13>Nov 26 07:00:01 h " + fill("p") + ": m", fill("<"), "<13>" + fill(" ")},
			"cef": {"CEF:0|" + fill(`\|`), "CEF:0|a|b|c|d|e|f|" + fill("k=v "), "CEF:0|a|b|c|d|e|f|" + fill("a="),
				"CEF:0|a|b|c|d|e|f|k=" + fill(`\=`), fill("CEF:0|")},
			"kv":      {fill("k=v "), fill("a=b=c "), `k="` + fill("x "), fill(`"`), fill("="), "k=" + fill("[")},
			"dissect": {fill("a "), fill("a ") + "[x] k=v b c", fill("]"), fill(" ")},
			"csv":     {fill(`"",`), fill(`""`), `"` + fill(`""`), fill("a,"), fill(" ") + `"`},
			"json": {fill("["), `{"a":"` + fill("x") + `"}`, fill(`{"a":1},`), `"` + fill(`\u0000`) + `"`,
				fill(" ") + "1"},
			"grok": {fill("a"), fill("1."), fill(`"x" `), "Nov 26 07:00:01 h p[1]: " + fill("x"), fill("1.1.1.1:")},
			"date": {fill("9"), fill("2026-"), "1." + fill("0"), fill(" ")},
		}
	}
	bigs, smalls := inputs(mib), inputs(small)
	run := func(p *step, in string) time.Duration {
		e := &event.Event{Received: received, Fields: map[string]any{"message": in}}
		start := time.Now()
		_ = p.proc.Process(context.Background(), e) // an error is fine; a panic is not
		return time.Since(start)
	}
	for name, src := range procs {
		p, err := compileProc(t, src)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i, in := range bigs[name] {
			base := max(run(p, smalls[name][i]), 10*time.Millisecond)
			if d := run(p, in); d > 64*base {
				t.Errorf("%s, input %d: %d bytes took %v, %d bytes %v: more than 64 times as long for 16 times the input", name, i, len(in), d, len(smalls[name][i]), base)
			}
		}
	}
}

// isNaN reports whether v is a float64 NaN (which no value equals, itself included).
func isNaN(v any) bool {
	f, ok := v.(float64)
	return ok && math.IsNaN(f)
}

// FuzzKVConvert holds kv's convert to the convert processor: for any line, each
// converted field holds what the convert processor makes of the plain kv's value (each
// value of a key seen twice on its own), and where that fails, the plain value
// (convert_failure keep) or nothing (drop); the other keys are the plain kv's.
func FuzzKVConvert(f *testing.F) {
	const fields = `fields: {a: x.a, b: x.b, c: c, d: d}`
	plain := mustProc(f, `kv: {field: message, target_field: t, `+fields+`}`)
	conv := `convert: {x.a: long, x.b: double, c: boolean, d: integer}`
	keep := mustProc(f, `kv: {field: message, target_field: t, `+fields+`, `+conv+`}`)
	drop := mustProc(f, `kv: {field: message, target_field: t, `+fields+`, `+conv+`, convert_failure: drop}`)
	types := map[string]string{"x.a": "long", "x.b": "double", "c": "boolean", "d": "integer"}
	for _, s := range []string{"a=1 b=2.5 c=true d=0x10 e=5", "a=x b= c=TRUE d=1e3", "a=1 a=y a=3", `a="7" b='x y' c=false`, "d=99999999999999999999"} {
		f.Add(s)
	}
	run := func(t *testing.T, p event.Processor, in string) *event.Event {
		e := &event.Event{Fields: map[string]any{"message": in}}
		if err := p.Process(context.Background(), e); err != nil {
			t.Skip() // a line kv cannot take (a mapped field under a replaced object): all three fail alike
		}
		return e
	}
	f.Fuzz(func(t *testing.T, in string) {
		if len(in) > 1<<16 {
			return
		}
		pe := run(t, plain, in)
		for _, mode := range []struct {
			p    event.Processor
			drop bool
		}{{keep, false}, {drop, true}} {
			ce := run(t, mode.p, in)
			for path, typ := range types {
				pv, inPlain := pe.Get(path)
				var want []any
				values, isList := pv.([]any)
				if !isList {
					values = []any{pv}
				}
				for _, v := range values {
					if c, err := convertValue(v, typ); err == nil {
						want = append(want, c)
					} else if !mode.drop {
						want = append(want, v)
					}
				}
				got, inConv := ce.Get(path)
				switch {
				case !inPlain || len(want) == 0:
					if inConv {
						t.Fatalf("%q (drop %v): %s = %v, want it absent", in, mode.drop, path, got)
					}
				case len(want) == 1 && !isList:
					if !inConv || !reflect.DeepEqual(got, want[0]) {
						t.Fatalf("%q (drop %v): %s = %#v, want %#v", in, mode.drop, path, got, want[0])
					}
				default:
					if gl, ok := got.([]any); (!ok && len(want) > 1) || (ok && !reflect.DeepEqual(gl, want)) || (!ok && !reflect.DeepEqual(got, want[0])) {
						t.Fatalf("%q (drop %v): %s = %#v, want %#v", in, mode.drop, path, got, want)
					}
				}
			}
			if !reflect.DeepEqual(pe.Fields["t"], ce.Fields["t"]) {
				t.Fatalf("%q (drop %v): the other keys %v, plain %v", in, mode.drop, ce.Fields["t"], pe.Fields["t"])
			}
		}
	})
}
