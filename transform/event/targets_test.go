package event

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

// TestTargetsAgreeWithPaths runs the same operations through a Writer and through the
// Event's path methods, on documents with the shapes that make caching parents wrong
// if done carelessly (missing parents, a parent that is a string, top-level keys with
// dots in them, targets that are the parents of others), and wants the same documents,
// results and errors.
func TestTargetsAgreeWithPaths(t *testing.T) {
	docs := []string{
		`{}`,
		`{"a":{"x":1,"y":2},"b":{"z":3}}`,
		`{"a":"str","b":{"z":3}}`,
		`{"a.x":"dotted","a":{"y":2}}`,
		`{"a.x":"dotted"}`,
		`{"b":{"z":{"deep":true}},"c":[1]}`,
	}
	lists := [][]string{
		{"a.x", "a.y", "b.z", "c"},
		{"a.x", "b.z", "a.y", "b.w"},
		{"a", "a.x"},               // a target above another's parent: not cached
		{"b.z", "b.z.deep", "a.x"}, // likewise, one level down
		{"c.d", "a.x", "c.e"},      // c is an array in one document
	}
	type op struct {
		kind string // set, setnew, take
		i    int
	}
	var ops [][]op
	for _, kinds := range [][]string{{"set"}, {"setnew"}, {"take"}, {"take", "setnew"}, {"take", "set"}, {"setnew", "take"}} {
		for start := range 4 {
			var seq []op
			for j := range 6 {
				seq = append(seq, op{kinds[j%len(kinds)], (start + j) % 4})
			}
			ops = append(ops, seq)
		}
	}
	cached := 0
	for _, list := range lists {
		paths := make([]Path, len(list))
		for i, s := range list {
			paths[i] = ParsePath(s)
		}
		targets := NewTargets(paths)
		if targets.cached {
			cached++
		}
		for _, doc := range docs {
			for n, seq := range ops {
				var viaWriter, viaPaths Event
				for _, e := range []*Event{&viaWriter, &viaPaths} {
					if err := json.Unmarshal([]byte(doc), &e.Fields); err != nil {
						t.Fatal(err)
					}
				}
				w := targets.Writer(&viaWriter)
				var got, want []string
				for k, o := range seq {
					i := o.i % len(list)
					v := fmt.Sprintf("v%d", k)
					switch o.kind {
					case "set":
						got = append(got, fmt.Sprint(w.Set(i, v)))
						want = append(want, fmt.Sprint(viaPaths.SetPath(paths[i], v)))
					case "setnew":
						ex, err := w.SetNew(i, v)
						got = append(got, fmt.Sprint(ex, err))
						ex, err = viaPaths.SetPathNew(paths[i], v)
						want = append(want, fmt.Sprint(ex, err))
					case "take":
						val, ok := w.Take(i)
						got = append(got, fmt.Sprint(val, ok))
						val, ok = viaPaths.TakePath(paths[i])
						want = append(want, fmt.Sprint(val, ok))
					}
				}
				if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(viaWriter.Fields, viaPaths.Fields) {
					t.Errorf("targets %v, document %s, operations %d %v:\nwriter %v %v\npaths  %v %v",
						list, doc, n, seq, got, viaWriter.Fields, want, viaPaths.Fields)
				}
			}
		}
	}
	if cached != 3 {
		t.Errorf("%d target lists cache their parents, want 3 (the others have a target above a parent)", cached)
	}
}

// TestTargetsManyParents: past MaxCachedParents, targets are written by their whole
// path, and still land where they should.
func TestTargetsManyParents(t *testing.T) {
	var paths []Path
	for i := range MaxCachedParents + 8 {
		paths = append(paths, ParsePath(fmt.Sprintf("p%d.x", i)))
	}
	targets := NewTargets(paths)
	var e Event
	w := targets.Writer(&e)
	for i := range paths {
		if err := w.Set(i, i); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range paths {
		if v, ok := e.GetPath(p); !ok || v != i {
			t.Errorf("%s = %v, %v; want %d", p, v, ok, i)
		}
	}
}

// TestTargetsAdd: Add sets a missing or null field, turns a value into an array of
// both, appends to an array, and fails as SetPath does through a non-object.
func TestTargetsAdd(t *testing.T) {
	targets := NewTargets([]Path{ParsePath("a.x"), ParsePath("a.y"), ParsePath("a.z"), ParsePath("top"), ParsePath("s.q")})
	e := Event{Fields: map[string]any{"a": map[string]any{"y": "old", "z": []any{"1"}}, "top": nil, "s": "str"}}
	w := targets.Writer(&e)
	for i, v := range []any{"new", "second", "2", "t"} {
		if err := w.Add(i, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Add(4, "q"); err == nil || err.Error() != "set s.q: s is a string, not an object" {
		t.Errorf("Add through a string: %v", err)
	}
	want := `map[a:map[x:new y:[old second] z:[1 2]] s:str top:t]`
	if got := fmt.Sprint(e.Fields); got != want {
		t.Errorf("fields %s, want %s", got, want)
	}
}
