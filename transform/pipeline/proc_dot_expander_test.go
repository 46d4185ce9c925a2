package pipeline

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluice-siem/sluice/internal/jsonx"
	"github.com/sluice-siem/sluice/transform/event"
)

func TestDotExpander(t *testing.T) {
	runCases(t, []procCase{
		{"one key at the root", `dot_expander: {field: a.b}`, `{"a.b":1,"c.d":2}`, `{"a":{"b":1},"c.d":2}`, ""},
		{"every key of an object", `dot_expander: {field: '*', path: z}`,
			`{"z":{"id.orig_h":"192.0.2.1","id.orig_p":53,"ts":1,"x.y.z":[1]},"k.l":1}`,
			`{"z":{"id":{"orig_h":"192.0.2.1","orig_p":53},"ts":1,"x":{"y":{"z":[1]}}},"k.l":1}`, ""},
		{"a path with dots", `dot_expander: {field: '*', path: zeek.x509}`,
			`{"zeek":{"x509":{"certificate.version":3,"san.dns":["example.com"]}}}`,
			`{"zeek":{"x509":{"certificate":{"version":3},"san":{"dns":["example.com"]}}}}`, ""},
		{"merges into an existing object", `dot_expander: {field: '*'}`, `{"a":{"c":2},"a.b":1}`, `{"a":{"b":1,"c":2}}`, ""},
		{"an existing value becomes an array", `dot_expander: {field: a.b}`, `{"a":{"b":1},"a.b":2}`, `{"a":{"b":[1,2]}}`, ""},
		{"arrays are appended to", `dot_expander: {field: a.b}`, `{"a":{"b":[1]},"a.b":[2,3]}`, `{"a":{"b":[1,2,3]}}`, ""},
		{"override replaces", `dot_expander: {field: a.b, override: true}`, `{"a":{"b":1},"a.b":2}`, `{"a":{"b":2}}`, ""},
		{"keys in order", `dot_expander: {field: '*'}`, `{"a.b":1,"a.b.c":2}`, "", "field a.b.c: cannot expand: a.b is a number"},
		{"a value in the way", `dot_expander: {field: '*'}`, `{"a":"s","a.b":1}`, "", "field a.b: cannot expand: a is a string"},
		{"a conflict changes nothing", `dot_expander: {field: x.y.z}`, `{"x":{"y":true},"x.y.z":1}`, "", "x.y is a boolean"},
		{"an absent key is no change", `dot_expander: {field: a.b}`, `{"a":1}`, `{"a":1}`, ""},
		{"keys that are not paths stay", `dot_expander: {field: '*'}`, `{".a":1,"a.":2,"a..b":3,"a":4}`, `{".a":1,"a.":2,"a..b":3,"a":4}`, ""},
		{"a missing path", `dot_expander: {field: '*', path: z}`, `{}`, "", "field z: not found"},
		{"a path that is not an object", `dot_expander: {field: '*', path: z}`, `{"z":[1]}`, "", "path z: is a array, not an object"},
		{"no deeper than limits.max_depth", `dot_expander: {field: '*'}`, `{"` + strings.Repeat("a.", 100) + `b":1}`, "",
			"cannot expand: 101 levels, more than limits.max_depth (100)"},
	})
}

func TestDotExpanderOptionErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{`dot_expander: {}`, "field: required"},
		{`dot_expander: {field: plain}`, `"plain" is not a field path with dots`},
		{`dot_expander: {field: a..b}`, "not a field path"},
		{`dot_expander: {field: '*', path: .x}`, "not a field path"},
		{`dot_expander: {field: '*', fields: [a]}`, "fields: unknown option"},
	} {
		if _, err := compileProc(t, c.src); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.src, err, c.want)
		}
	}
}

// leaves counts the values in a JSON-shaped value that are not objects.
func leaves(v any) int {
	m, ok := v.(map[string]any)
	if !ok {
		return 1
	}
	n := 0
	for _, x := range m {
		n += leaves(x)
	}
	return n
}

// FuzzDotExpander guards the dot_expander processor on any JSON object: no panic;
// when it succeeds, no key of the object is a dotted path any more, no value that was
// not an object is lost (merged ones are kept in arrays), and it fails only for a
// value in the way of an expansion.
func FuzzDotExpander(f *testing.F) {
	all := mustProc(f, `dot_expander: {field: '*', path: z}`)
	over := mustProc(f, `dot_expander: {field: '*', path: z, override: true}`)
	for _, s := range []string{
		`{"id.orig_h":"192.0.2.1","id.orig_p":1,"id.resp_h":"198.51.100.2","id.resp_p":443,"ts":1}`,
		`{"a":{"b":1},"a.b":2,"a.c":{"d.e":3}}`, `{"a.b":1,"a.b.c":2}`, `{"a":1,"a.b":2}`, `{".":1,"..":2,"a.":3,".a":4}`,
		`{"a.b.c.d.e.f":{"g.h":[1,{"i.j":2}]}}`, `{}`, `{"a.b":[1],"a":{"b":[2]}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 64<<10 {
			return
		}
		v, err := jsonx.DecodeDepth([]byte(s), 64)
		obj, isObj := v.(map[string]any)
		if err != nil || !isObj {
			return
		}
		before := leaves(obj)
		for _, p := range []event.Processor{all, over} {
			raw, _ := json.Marshal(obj)
			z, _ := jsonx.DecodeDepth(raw, 128)
			e := &event.Event{Fields: map[string]any{"z": z}}
			err := p.Process(context.Background(), e)
			if err != nil {
				if !strings.Contains(err.Error(), "cannot expand") {
					t.Fatalf("%s: unexpected error %v", s, err)
				}
				continue
			}
			out := e.Fields["z"].(map[string]any)
			for k := range out {
				if dottedPath(k) {
					t.Fatalf("%s: key %q left unexpanded: %v", s, k, out)
				}
			}
			if p == all {
				if after := countValues(out); after < before {
					t.Fatalf("%s: %d values before, %d after: %v", s, before, after, out)
				}
			}
		}
	})
}

// countValues counts the non-object values, those in arrays made by merging included
// as one each (an array that was there counts as one before too).
func countValues(v any) int {
	switch x := v.(type) {
	case map[string]any:
		n := 0
		for _, y := range x {
			n += countValues(y)
		}
		return n
	case []any:
		return max(len(x), 1)
	}
	return 1
}
