package pipeline

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/transform/event"
)

// The regressions of what the fuzz targets of this package found, each at the scale
// that made it fail.

// TestExpressionBounds checks that conditions and expressions too long or too deeply
// nested for expr-lang's recursive parser are refused before it runs: a million
// levels of nesting overflowed the goroutine stack, a crash no recover catches.
func TestExpressionBounds(t *testing.T) {
	const deep = 1 << 20
	for _, src := range []string{
		strings.Repeat("(", deep) + "true" + strings.Repeat(")", deep),
		strings.Repeat("!", deep) + "true",
		strings.Repeat("[", deep) + "1" + strings.Repeat("]", deep) + " != nil",
		strings.Repeat("true ? true : ", deep/14) + "false",
		strings.Repeat("let x = 1; ", deep/11) + "true",
		`ctx.a == "` + strings.Repeat("x", maxExprBytes) + `"`,
	} {
		if _, err := compileCond(src); err == nil || !strings.Contains(err.Error(), "at most") {
			t.Errorf("compileCond(%.20q... %d bytes) = %v, want the length bound", src, len(src), err)
		}
		if _, err := compileExpr(src); err == nil || !strings.Contains(err.Error(), "at most") {
			t.Errorf("compileExpr(%.20q... %d bytes) = %v, want the length bound", src, len(src), err)
		}
	}
	nested := func(n int) string { return strings.Repeat("(", n) + `ctx.a == "x"` + strings.Repeat(")", n) }
	if _, err := compileCond(nested(maxExprDepth)); err != nil {
		t.Errorf("%d nested brackets: %v", maxExprDepth, err)
	}
	if _, err := compileCond(nested(maxExprDepth + 1)); err == nil || !strings.Contains(err.Error(), "nests brackets more than 128 deep") {
		t.Errorf("%d nested brackets: %v, want the depth bound", maxExprDepth+1, err)
	}
	// Brackets in strings are text, not nesting.
	for _, q := range []string{`"`, `'`, "`"} {
		src := `ctx.a == ` + q + strings.Repeat("([{", 200) + `\` + q + q
		if q == "`" {
			src = `ctx.a == ` + q + strings.Repeat("([{", 200) + q
		}
		if _, err := compileCond(src); err != nil {
			t.Errorf("brackets in a %s string: %v", q, err)
		}
	}
}

// TestYAMLValueAliases checks that values with aliases convert, that an alias to a
// value containing it is an error (it recursed until the stack overflowed), and that
// aliases of aliases cannot expand to a huge value.
func TestYAMLValueAliases(t *testing.T) {
	value := func(src string) (any, error) {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
			t.Fatal(err)
		}
		return yamlValue(doc.Content[0])
	}
	v, err := value("{a: &x [1, {b: c}], b: *x, c: *x}")
	want := []any{int64(1), map[string]any{"b": "c"}}
	if err != nil || !reflect.DeepEqual(v, map[string]any{"a": want, "b": want, "c": want}) {
		t.Errorf("aliases reused: %#v, %v", v, err)
	}
	for _, src := range []string{"&a [1, *a]", "&a {k: [x, {k: *a}]}"} {
		if _, err := value(src); err == nil || !strings.Contains(err.Error(), "refers to a value that contains it") {
			t.Errorf("%s: %v, want the cycle refused", src, err)
		}
	}
	laughs := "{a0: &a0 [x, x, x, x, x, x, x, x, x, x]"
	for i := 1; i < 10; i++ {
		laughs += fmt.Sprintf(", a%d: &a%d [%s]", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 10), ", "))
	}
	laughs += "}"
	if _, err := value(laughs); err == nil || !strings.Contains(err.Error(), "aliases expand to more than") {
		t.Errorf("a billion laughs: %v, want the expansion bounded", err)
	}
}

// TestSetExprValuesAreJSONShaped checks that what set's expr makes is stored as the
// document model requires: expr-lang's own types (arrays of int, times, durations)
// converted, values JSON cannot hold refused as a failure of the processor.
func TestSetExprValuesAreJSONShaped(t *testing.T) {
	for _, c := range []struct {
		expr    string
		want    any
		wantErr string
	}{
		{expr: `1..3`, want: []any{int64(1), int64(2), int64(3)}},
		{expr: `{"k": [1, 2.5, [3]], "s": "x"}`, want: map[string]any{"k": []any{int64(1), 2.5, []any{int64(3)}}, "s": "x"}},
		{expr: `date("2026-11-26T07:00:01+01:00")`, want: "2026-11-26T06:00:01Z"},
		{expr: `duration("1s")`, want: int64(time.Second)},
		{expr: `ctx.a`, want: map[string]any{"b": []any{"c"}}},
		{expr: `0.0 / 0.0`, wantErr: "NaN is not a JSON number"},
		{expr: `[1, 1.0 / 0.0]`, wantErr: "[1]: +Inf is not a JSON number"},
		{expr: `$env`, wantErr: "is not a JSON value"},
		// fromPairs makes a map[any]any: string keys are a document's.
		{expr: `fromPairs([["k", 1], ["l", [2]]])`, want: map[string]any{"k": int64(1), "l": []any{int64(2)}}},
		{expr: `fromPairs([[1, 1]])`, wantErr: "a map key 1 is not a string"},
	} {
		s, err := compileProc(t, `set: {field: out, expr: '`+c.expr+`'}`)
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		e := &event.Event{Fields: map[string]any{"a": map[string]any{"b": []any{"c"}}}}
		err = s.proc.Process(context.Background(), e)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: %v, want %q", c.expr, err, c.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(e.Fields["out"], c.want) {
			t.Errorf("%s: %#v, %v; want %#v", c.expr, e.Fields["out"], err, c.want)
		}
		if err := checkShaped(e.Fields); err != nil {
			t.Errorf("%s: (document)%v", c.expr, err)
		}
	}
	// A copy: changing the result does not change the field it came from.
	s, _ := compileProc(t, `set: {field: out, expr: 'ctx.a'}`)
	e := &event.Event{Fields: map[string]any{"a": map[string]any{"b": "c"}}}
	_ = s.proc.Process(context.Background(), e)
	e.Fields["out"].(map[string]any)["b"] = "changed"
	if e.Fields["a"].(map[string]any)["b"] != "c" {
		t.Error("set's expr result shares its objects with the event")
	}
}

// TestDuplicateKeysAreLinear checks that keys given many times in a pipeline file, a
// processor's options and a test file make one problem each: yaml.v3 made one per
// pair of equal keys, gigabytes for a few thousand.
func TestDuplicateKeysAreLinear(t *testing.T) {
	const n = 20000
	for name, src := range map[string]string{
		"top level":   "processors: []\n" + strings.Repeat("description: x\n", n),
		"in a option": "processors:\n  - kv: {field: m, include_keys: {" + strings.Repeat("a: 1, ", n) + "}}\n",
	} {
		_, err := LoadFS(fstest.MapFS{"p.yaml": {Data: []byte(src)}}, "dir")
		if err == nil || strings.Count(err.Error(), "already defined") != n-1 {
			t.Errorf("%s: want %d problems, got %d", name, n-1, strings.Count(errString(err), "already defined"))
		}
	}
	files := fstest.MapFS{"p.test.yaml": {Data: []byte("cases:\n  - {name: a, " + strings.Repeat("input: x, ", n) + "expect: {}}\n")}}
	_, err := LoadTestFile(files, "p.test.yaml", "dir/p.test.yaml")
	if err == nil || strings.Count(err.Error(), "already defined") != n-1 {
		t.Errorf("test file: want %d problems, got %d", n-1, strings.Count(errString(err), "already defined"))
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestDateYearRange checks that a date the processor cannot write as RFC 3339 (a year
// before 0000 or after 9999 in UTC) fails the processor instead of making text that
// is not a date.
func TestDateYearRange(t *testing.T) {
	for _, c := range []struct{ format, value, want string }{
		{"UNIX", "-253402300799", "year -6060"},
		{"UNIX", "-62167219200", ""}, // 0000-01-01T00:00:00Z
		{"UNIX", "253402300799", ""}, // 9999-12-31T23:59:59Z
		{"ISO8601", "0000-01-01T00:00:00+01:00", "year -1"},
		{"ISO8601", "9999-12-31T23:59:59-01:00", "year 10000"},
	} {
		p, err := newDate(dateOptionsNode(nil, c.format), &Deps{})
		if err != nil {
			t.Fatal(err)
		}
		e := &event.Event{Fields: map[string]any{"message": c.value}}
		err = p.Process(context.Background(), e)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s %s: %v", c.format, c.value, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s: %v (@timestamp %v), want %q", c.format, c.value, err, e.Fields["@timestamp"], c.want)
		}
	}
}
