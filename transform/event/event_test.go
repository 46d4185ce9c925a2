package event

import (
	"reflect"
	"testing"
)

func TestGetSetDelete(t *testing.T) {
	e := &Event{Fields: map[string]any{
		"source":    map[string]any{"ip": "10.0.0.1"},
		"flat.key":  "x",
		"message":   "m",
		"not_a_map": "s",
	}}
	if v, ok := e.GetString("source.ip"); !ok || v != "10.0.0.1" {
		t.Fatalf("Get source.ip = %v, %v", v, ok)
	}
	if v, ok := e.Get("flat.key"); !ok || v != "x" {
		t.Fatalf("Get flat.key = %v, %v", v, ok)
	}
	if _, ok := e.Get("source.port"); ok {
		t.Fatal("Get of a missing field succeeded")
	}
	if _, ok := e.Get("message.x"); ok {
		t.Fatal("Get through a string succeeded")
	}
	if err := e.Set("destination.geo.country_iso_code", "FR"); err != nil {
		t.Fatal(err)
	}
	if err := e.Set("source.port", int64(443)); err != nil {
		t.Fatal(err)
	}
	if err := e.Set("not_a_map.x", 1); err == nil {
		t.Fatal("Set through a string succeeded")
	}
	want := map[string]any{
		"source":      map[string]any{"ip": "10.0.0.1", "port": int64(443)},
		"destination": map[string]any{"geo": map[string]any{"country_iso_code": "FR"}},
		"flat.key":    "x",
		"message":     "m",
		"not_a_map":   "s",
	}
	if !reflect.DeepEqual(e.Fields, want) {
		t.Fatalf("fields %v\nwant %v", e.Fields, want)
	}
	if !e.Delete("source.ip") || e.Delete("source.ip") || !e.Delete("flat.key") || e.Delete("nope.x") {
		t.Fatal("Delete results wrong")
	}
	if _, ok := e.Get("source.ip"); ok {
		t.Fatal("deleted field still there")
	}
	var empty Event
	if err := empty.Set("a.b", true); err != nil || empty.Fields["a"].(map[string]any)["b"] != true {
		t.Fatalf("Set on an empty event: %v %v", err, empty.Fields)
	}
}
