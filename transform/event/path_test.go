package event

import (
	"reflect"
	"testing"
)

func TestPaths(t *testing.T) {
	e := &Event{Fields: map[string]any{"flat.key": "x", "s": "str", "source": map[string]any{"ip": "10.0.0.1"}}}
	for path, want := range map[string]any{"flat.key": "x", "source.ip": "10.0.0.1", "s": "str"} {
		if v, ok := e.GetPath(ParsePath(path)); !ok || v != want {
			t.Errorf("GetPath(%s) = %v, %v", path, v, ok)
		}
	}
	for _, path := range []string{"nope", "source.port", "s.x", "source.ip.x"} {
		if _, ok := e.GetPath(ParsePath(path)); ok {
			t.Errorf("GetPath(%s) found something", path)
		}
	}
	if err := e.SetPath(ParsePath("destination.geo.country_iso_code"), "FR"); err != nil {
		t.Fatal(err)
	}
	if err := e.SetPath(ParsePath("s.x"), 1); err == nil || err.Error() != "set s.x: s is a string, not an object" {
		t.Errorf("SetPath through a string: %v", err)
	}
	obj, err := e.Object(ParsePath("source"))
	if err != nil || obj["ip"] != "10.0.0.1" {
		t.Fatalf("Object(source) = %v, %v", obj, err)
	}
	obj, err = e.Object(ParsePath("observer.ingress.interface"))
	if err != nil {
		t.Fatal(err)
	}
	obj["name"] = "eth0"
	if _, err := e.Object(ParsePath("s.x")); err == nil || err.Error() != "object s.x: s is a string, not an object" {
		t.Errorf("Object through a string: %v", err)
	}
	if _, err := e.Object(ParsePath("s")); err == nil {
		t.Error("Object of a string succeeded")
	}
	if !e.DeletePath(ParsePath("flat.key")) || !e.DeletePath(ParsePath("destination.geo.country_iso_code")) || e.DeletePath(ParsePath("source.nope")) || e.DeletePath(ParsePath("s.x")) {
		t.Error("DeletePath")
	}
	want := map[string]any{
		"s":           "str",
		"source":      map[string]any{"ip": "10.0.0.1"},
		"destination": map[string]any{"geo": map[string]any{}},
		"observer":    map[string]any{"ingress": map[string]any{"interface": map[string]any{"name": "eth0"}}},
	}
	if !reflect.DeepEqual(e.Fields, want) {
		t.Errorf("fields = %v\nwant %v", e.Fields, want)
	}
	if parent, last, ok := ParsePath("a.b.c").Parent(); !ok || parent.String() != "a.b" || last != "c" {
		t.Errorf("Parent = %v %q %v", parent, last, ok)
	}
	if _, last, ok := ParsePath("a").Parent(); ok || last != "a" {
		t.Errorf("Parent of a top-level path = %q %v", last, ok)
	}
}

// TestPathNestedFirst: a nested field is found, taken and deleted before a top-level
// key with the same dots; the dotted key serves when there is no nested field.
func TestPathNestedFirst(t *testing.T) {
	e := Event{Fields: map[string]any{"a": map[string]any{"b": 1}, "a.b": 2, "c.d": 3}}
	ab, cd := ParsePath("a.b"), ParsePath("c.d")
	if v, _ := e.GetPath(ab); v != 1 {
		t.Errorf("a.b = %v, want the nested 1", v)
	}
	if v, _ := e.GetPath(cd); v != 3 {
		t.Errorf("c.d = %v, want the dotted key's 3", v)
	}
	if v, ok := e.TakePath(ab); v != 1 || !ok {
		t.Errorf("take a.b = %v %v", v, ok)
	}
	if v, ok := e.TakePath(ab); v != 2 || !ok {
		t.Errorf("take a.b again = %v %v, want the dotted key's 2", v, ok)
	}
	if _, ok := e.TakePath(ab); ok {
		t.Error("a.b taken three times")
	}
	if !e.DeletePath(cd) || e.DeletePath(cd) {
		t.Error("c.d deleted other than once")
	}
}

func TestSetPathNew(t *testing.T) {
	e := Event{Fields: map[string]any{"x": map[string]any{"y": 1}, "d.e": 5, "s": "str"}}
	if exists, err := e.SetPathNew(ParsePath("x.y"), 2); !exists || err != nil || e.Fields["x"].(map[string]any)["y"] != 1 {
		t.Errorf("x.y: exists %v, err %v, value %v", exists, err, e.Fields["x"])
	}
	if exists, _ := e.SetPathNew(ParsePath("d.e"), 6); !exists {
		t.Error("the dotted key d.e does not count as a value")
	}
	if exists, err := e.SetPathNew(ParsePath("x.z.w"), 3); exists || err != nil {
		t.Errorf("x.z.w: exists %v, err %v", exists, err)
	}
	if v, _ := e.GetPath(ParsePath("x.z.w")); v != 3 {
		t.Errorf("x.z.w = %v", v)
	}
	if _, err := e.SetPathNew(ParsePath("s.t"), 1); err == nil {
		t.Error("s.t through a string: no error")
	}
}

// TestLookup: Lookup finds what GetPath finds, with the object and key that hold it,
// so that writing through them replaces the value where it is.
func TestLookup(t *testing.T) {
	source := map[string]any{"ip": "10.0.0.1"}
	e := &Event{Fields: map[string]any{"flat.key": "x", "s": "str", "source": source, "a": map[string]any{"b": 1}, "a.b.c": 2}}
	for _, c := range []struct {
		path string
		want any
		obj  map[string]any
		key  string
	}{
		{"source.ip", "10.0.0.1", source, "ip"},
		{"flat.key", "x", e.Fields, "flat.key"},
		{"s", "str", e.Fields, "s"},
		{"a.b.c", 2, e.Fields, "a.b.c"}, // a.b is not an object: the dotted key
	} {
		v, obj, key, ok := e.Lookup(ParsePath(c.path))
		if !ok || v != c.want || key != c.key || reflect.ValueOf(obj).Pointer() != reflect.ValueOf(c.obj).Pointer() {
			t.Errorf("Lookup(%s) = %v, %p, %q, %v; want %v in %p at %q", c.path, v, obj, key, ok, c.want, c.obj, c.key)
		}
		if g, _ := e.GetPath(ParsePath(c.path)); g != v {
			t.Errorf("Lookup(%s) = %v, GetPath %v", c.path, v, g)
		}
	}
	for _, path := range []string{"nope", "source.port", "s.x", "source.ip.x"} {
		if _, obj, _, ok := e.Lookup(ParsePath(path)); ok || obj != nil {
			t.Errorf("Lookup(%s) found something", path)
		}
	}
}
