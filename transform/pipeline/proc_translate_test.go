package pipeline

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluice-siem/sluice/internal/jsonx"
	"github.com/sluice-siem/sluice/transform/event"
)

func TestTranslate(t *testing.T) {
	const table = `translate:
  field: id
  dictionary:
    '302013': &start {event.action: flow-creation, event.type: [connection, start], event.outcome: success}
    302015: *start
    106023: {event.action: firewall-rule, event.type: [connection, denied]}`
	runCases(t, []procCase{
		{"sets the fields of an entry", table, `{"id":"302013","event":{"code":"302013"}}`,
			`{"id":"302013","event":{"code":"302013","action":"flow-creation","type":["connection","start"],"outcome":"success"}}`, ""},
		{"an alias shares an entry, an unquoted number is a key", table, `{"id":"302015"}`,
			`{"id":"302015","event":{"action":"flow-creation","type":["connection","start"],"outcome":"success"}}`, ""},
		{"a number field looks up its text", table, `{"id":106023}`,
			`{"id":106023,"event":{"action":"firewall-rule","type":["connection","denied"]}}`, ""},
		{"replaces by default", table, `{"id":"106023","event":{"action":"x"}}`,
			`{"id":"106023","event":{"action":"firewall-rule","type":["connection","denied"]}}`, ""},
		{"an unknown key sets nothing", table, `{"id":"999999"}`, `{"id":"999999"}`, ""},
		{"a missing field fails", table, `{}`, "", "field id: not found"},
		{"an object is no key", table, `{"id":{"a":1}}`, "", "field id: is a object, not a string, number or boolean"},
		{"target_field", `translate: {field: sev, target_field: log.level, dictionary: {6: informational, 4: warning}}`,
			`{"sev":4}`, `{"sev":4,"log":{"level":"warning"}}`, ""},
		{"a float and a boolean key", `translate: {field: k, target_field: v, dictionary: {1.5: a, true: b}}`,
			`{"k":1.5}`, `{"k":1.5,"v":"a"}`, ""},
		{"a boolean key", `translate: {field: k, target_field: v, dictionary: {1.5: a, true: b}}`,
			`{"k":true}`, `{"k":true,"v":"b"}`, ""},
		{"fallback", `translate: {field: k, target_field: v, dictionary: {a: 1}, fallback: 0}`,
			`{"k":"z"}`, `{"k":"z","v":0}`, ""},
		{"override false keeps what is there", `translate: {field: k, override: false, dictionary: {a: {x: 1, y: 2}}}`,
			`{"k":"a","x":9}`, `{"k":"a","x":9,"y":2}`, ""},
		{"ignore_missing", `translate: {field: k, target_field: v, dictionary: {a: 1}, ignore_missing: true}`,
			`{}`, `{}`, ""},
		{"a value in the way", `translate: {field: k, dictionary: {a: {x.y: 1}}}`, `{"k":"a","x":"s"}`, "", "set x.y"},
	})
}

// TestTranslateCopies: each event gets its own copy of an entry's objects and arrays,
// so that a later processor changing one (append to event.type) changes no other.
func TestTranslateCopies(t *testing.T) {
	s, err := compileProc(t, `translate: {field: k, dictionary: {a: {t: [x], o: {p: 1}}}}`)
	if err != nil {
		t.Fatal(err)
	}
	e1 := &event.Event{Fields: map[string]any{"k": "a"}}
	e2 := &event.Event{Fields: map[string]any{"k": "a"}}
	for _, e := range []*event.Event{e1, e2} {
		if err := s.proc.Process(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	e1.Fields["t"] = append(e1.Fields["t"].([]any), "y")
	e1.Fields["o"].(map[string]any)["p"] = 2
	if got, _ := json.Marshal(e2.Fields); string(got) != `{"k":"a","o":{"p":1},"t":["x"]}` {
		t.Fatalf("the second event changed with the first: %s", got)
	}
}

func TestTranslateOptionErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{`translate: {dictionary: {a: {x: 1}}}`, "field: required"},
		{`translate: {field: k}`, "dictionary: required"},
		{`translate: {field: k, dictionary: []}`, "dictionary: want a mapping"},
		{`translate: {field: k, dictionary: {}}`, "dictionary: want a mapping"},
		{`translate: {field: k, dictionary: {a: 1}}`, "dictionary.a: want an object of field paths and values"},
		{`translate: {field: k, dictionary: {a: {}}}`, "dictionary.a: want an object"},
		{`translate: {field: k, dictionary: {a: {.x: 1}}}`, "not a field path"},
		{`translate: {field: k, dictionary: {a: {x: 1}, a: {y: 1}}}`, `key "a" given twice`},
		{`translate: {field: k, dictionary: {[a]: {x: 1}}}`, "a key must be a string, number or boolean"},
		{`translate: {field: k, dictionary: {a: {x: 1}}, fallback: 1}`, "fallback: want an object"},
		{`translate: {field: k, target_field: '', dictionary: {a: 1}}`, "target_field: required"},
		{`translate: {field: k, dictionary: {a: &x [*x]}}`, "refers to a value that contains it"},
		{`translate: {field: k, dictionary: {a: {x: 1}}, table: {}}`, "table: unknown option"},
	} {
		if _, err := compileProc(t, c.src); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.src, err, c.want)
		}
	}
}

// FuzzTranslate guards the translate processor on any JSON object: no panic; it fails
// only for a missing field (no ignore_missing) or a key that is not a scalar, or a
// field in the way of a path it sets; on success each path it was to set holds the
// entry's value.
func FuzzTranslate(f *testing.F) {
	p := mustProc(f, `translate: {field: k, dictionary: {a: {x.y: [1, {z: 2}], w: s}, '1': {x: 1}, 'true': {v: t}}, fallback: {f: 0}}`)
	for _, s := range []string{
		`{"k":"a"}`, `{"k":1}`, `{"k":true}`, `{"k":"b"}`, `{}`, `{"k":[1]}`, `{"k":null}`, `{"k":"a","x":"s"}`,
		`{"k":"a","x":{"y":7}}`, `{"k":1.0}`, `{"k":"1","x":{"q":1}}`,
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
		e := &event.Event{Fields: obj}
		key, hasKey := obj["k"]
		err = p.Process(context.Background(), e)
		if err != nil {
			msg := err.Error()
			if !strings.Contains(msg, "not found") && !strings.Contains(msg, "not a string, number or boolean") && !strings.Contains(msg, ": set ") {
				t.Fatalf("%s: unexpected error %v", s, err)
			}
			return
		}
		if !hasKey {
			t.Fatalf("%s: no error for a missing field", s)
		}
		want := map[string]string{"f": "0"}
		switch k, _ := translateKey(key); k {
		case "a":
			want = map[string]string{"x.y": `[1,{"z":2}]`, "w": `"s"`}
		case "1":
			want = map[string]string{"x": "1"}
		case "true":
			want = map[string]string{"v": `"t"`}
		}
		for path, js := range want {
			got, ok := e.GetPath(event.ParsePath(path))
			raw, _ := json.Marshal(got)
			if !ok || string(raw) != js {
				t.Fatalf("%s: %s is %s, want %s", s, path, raw, js)
			}
		}
	})
}
