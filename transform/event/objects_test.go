package event

import "testing"

// TestObjectsRecycle: objects handed out are cleared and handed out again after
// Release, in the order they were first taken; MaxFree bounds what is kept; an event
// without Objects gets plain maps.
func TestObjectsRecycle(t *testing.T) {
	var o Objects
	e := &Event{Objects: &o}
	if err := e.Set("source.geo.city_name", "Amsterdam"); err != nil {
		t.Fatal(err)
	}
	// Fields, source and source.geo came from o.
	if o.InUse() != 3 {
		t.Fatalf("InUse = %d, want 3", o.InUse())
	}
	top, source := e.Fields, e.Fields["source"].(map[string]any)
	o.Release()
	if len(top) != 0 || len(source) != 0 || o.InUse() != 0 {
		t.Fatalf("after Release: top %v, source %v, in use %d", top, source, o.InUse())
	}
	e2 := &Event{Objects: &o}
	if err := e2.Set("destination.ip", "10.1.2.3"); err != nil {
		t.Fatal(err)
	}
	// The same maps serve the same places: e2's document is the map that was e's.
	e2.Fields["x"] = 1
	if top["x"] != 1 {
		t.Error("the first object taken after Release is not the first one released")
	}
	if d, _ := e2.Get("destination.ip"); d != "10.1.2.3" {
		t.Errorf("destination.ip = %v", d)
	}

	bounded := Objects{MaxFree: 2}
	for range 5 {
		bounded.New(1)["k"] = "v"
	}
	bounded.Release()
	if len(bounded.free) != 2 {
		t.Errorf("kept %d free objects, want MaxFree 2", len(bounded.free))
	}

	plain := &Event{}
	m := plain.NewObject(4)
	m["k"] = "v"
	if len(m) != 1 {
		t.Error("NewObject without Objects")
	}
}
