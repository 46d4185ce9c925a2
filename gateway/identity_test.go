package gateway

import (
	"strings"
	"testing"
)

func TestIDModesValidate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Routing.ID = "hash"
	cfg.Routing.IDs = map[string]string{"firewall": "field:", "ids": "content", "Bad": "auto", "waf": "field: flow.id"}
	err := cfg.Validate()
	for _, want := range []string{
		`routing.id: must be auto, stream_position, content or field:<path>, not "hash"`,
		"routing.ids.firewall: field: needs a field path",
		"routing.ids.Bad: invalid log type name",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want %q", err, want)
		}
	}
	if err != nil && (strings.Contains(err.Error(), "routing.ids.ids") || strings.Contains(err.Error(), "routing.ids.waf")) {
		t.Errorf("Validate = %v: refused a good mode", err)
	}
}

// Identities differ by mode, log type and API key, so that a key given by a client can
// never equal a content hash or another sender's key; and they are 22 URL-safe bytes.
func TestIdentityScopes(t *testing.T) {
	var h idHasher
	idOf := func(mode idMode, typ, principal string, ev *Event) string {
		return string(h.id(mode, typ, principal, ev)) // a copy: id's bytes are reused
	}
	ev := &Event{Doc: []byte(`{"k":"v"}`), ID: []byte(`{"k":"v"}`)}
	auto, _ := parseIDMode(IDAuto)
	content, _ := parseIDMode(IDContent)
	field, _ := parseIDMode("field:k")
	position, _ := parseIDMode(IDStreamPosition)
	ids := map[string]string{
		"auto":         idOf(auto, "fw", "", ev),
		"content":      idOf(content, "fw", "", ev),
		"field":        idOf(field, "fw", "", ev),
		"another type": idOf(auto, "ids", "", ev),
		"another key":  idOf(auto, "fw", "key-2", ev),
		"type in key":  idOf(auto, "f", "wkey-2", ev), // lengths keep the parts apart
	}
	seen := map[string]string{}
	for what, id := range ids {
		if len(id) != 22 || strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Errorf("%s: id %q, want 22 base64url characters", what, id)
		}
		if other, dup := seen[id]; dup {
			t.Errorf("%s and %s share id %q", what, other, id)
		}
		seen[id] = what
	}
	if again := idOf(auto, "fw", "", &Event{ID: []byte(`{"k":"v"}`)}); again != ids["auto"] {
		t.Errorf("the same key again: %q, want %q", again, ids["auto"])
	}
	if id := idOf(position, "fw", "", ev); id != "" {
		t.Errorf("stream_position: id %q, want none", id)
	}
	if id := idOf(auto, "fw", "", &Event{Doc: ev.Doc}); id != "" {
		t.Errorf("auto without a source key: id %q, want none", id)
	}
	if id := idOf(field, "fw", "", &Event{Doc: []byte(`{"k":{"x":1}}`)}); id != "" {
		t.Errorf("field:k with an object value: id %q, want none", id)
	}
}
