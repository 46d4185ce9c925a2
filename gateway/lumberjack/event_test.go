package lumberjack

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-siem/sluice/internal/jsonx"
)

func TestScannerRemovesMetadata(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"@metadata":{"beat":"filebeat"},"message":"m"}`, `{"message":"m"}`},
		{`{"message":"m","@metadata":{"beat":"filebeat"}}`, `{"message":"m"}`},
		{`{"a":1,"@metadata":{},"b":2}`, `{"a":1,"b":2}`},
		{`{"@metadata":1}`, `{}`},
		{`{"@metadata":1,"@metadata":2}`, `{}`},
		{`{"@metadata":1,"@metadata":2,"a":3}`, `{"a":3}`},
		{`{"a":3,"@metadata":1,"@metadata":2}`, `{"a":3}`},
		{`{"@metadata":1,"a":2,"@metadata":3,"b":4,"@metadata":5}`, `{"a":2,"b":4}`},
		{` { "a" : 1 , "@metadata" : [1,{"x":2}] , "b" : 3 } `, `{ "a" : 1 , "b" : 3 }`},
		{`{"\u0040metadata":{},"m":1}`, `{"m":1}`},
		{`{"@meta\u0064ata":{},"m":1}`, `{"m":1}`},
		// Only the top level: nested @metadata is the event's own data.
		{`{"x":{"@metadata":1},"m":"@metadata"}`, `{"x":{"@metadata":1},"m":"@metadata"}`},
		{`{"@metadata2":1,"@metadat":2}`, `{"@metadata2":1,"@metadat":2}`},
		{`{}`, `{}`},
		{"\n{\"a\":[]}\n", `{"a":[]}`},
	} {
		var s scanner
		doc := []byte(tc.in)
		got, err := s.event(doc, false)
		if err != nil {
			t.Errorf("event(%s): %v", tc.in, err)
			continue
		}
		if string(got) != tc.want {
			t.Errorf("event(%s) = %s, want %s", tc.in, got, tc.want)
		}
		kept, err := s.event([]byte(tc.in), true)
		if err != nil || string(kept) != strings.TrimSpace(tc.in) {
			t.Errorf("event(%s, keep) = %s, %v", tc.in, kept, err)
		}
	}
}

func TestScannerRejects(t *testing.T) {
	for _, in := range []string{
		``, ` `, `[]`, `"x"`, `1`, `null`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1}x`, `{"a":1}{}`,
		`{"a":01}`, `{"a":1.}`, `{"a":-}`, `{"a":1e}`, `{"a":tru}`, `{"a":"\x"}`, "{\"a\":\"\x01\"}",
		`{"a":"\u12"}`, `{"a":[1,]}`, `{"a":[}`, `{"a":{]}`, `{a:1}`, `{"a":1 "b":2}`, `{"a":"x`,
		`{"a":nul}`, `{"a":[1 2]}`, `{"a":"` + strings.Repeat("x", 20) + `\`,
		strings.Repeat(`{"a":`, jsonx.DefaultMaxDepth+1) + "1" + strings.Repeat("}", jsonx.DefaultMaxDepth+1),
	} {
		var s scanner
		if got, err := s.event([]byte(in), false); err == nil {
			t.Errorf("event(%.60q) = %s, want an error", in, got)
		}
	}
	deep := strings.Repeat("[", jsonx.DefaultMaxDepth-1) + strings.Repeat("]", jsonx.DefaultMaxDepth-1)
	var s scanner
	if _, err := s.event([]byte(`{"a":`+deep+`}`), false); err != nil {
		t.Errorf("nesting at the limit: %v", err)
	}
}

// checkEvent compares the scanner with encoding/json: it accepts exactly the valid JSON
// objects, and removing @metadata leaves the same object minus that key.
func checkEvent(t *testing.T, in []byte) {
	var s scanner
	doc := bytes.Clone(in)
	got, err := s.event(doc, false)
	trimmed := bytes.TrimLeft(in, " \t\r\n")
	wantOK := json.Valid(in) && len(trimmed) > 0 && trimmed[0] == '{'
	if (err == nil) != wantOK {
		t.Fatalf("event(%q): err %v, json.Valid %v", in, err, json.Valid(in))
	}
	if err != nil {
		return
	}
	if !json.Valid(got) {
		t.Fatalf("event(%q) = %q: not valid JSON", in, got)
	}
	want := decode(t, in)
	delete(want, metadataKey)
	if g := decode(t, got); !reflect.DeepEqual(g, want) {
		t.Fatalf("event(%q) = %q\ndecoded %v\nwant    %v", in, got, g, want)
	}
	if !bytes.Contains(in, []byte("metadata")) && !bytes.Contains(in, []byte(`\u`)) && !bytes.Equal(got, bytes.TrimSpace(in)) {
		t.Fatalf("event(%q) = %q: changed an event without @metadata", in, got)
	}
	kept, err := s.event(bytes.Clone(in), true)
	if err != nil || !bytes.Equal(kept, bytes.TrimSpace(in)) {
		t.Fatalf("event(%q, keep) = %q, %v", in, kept, err)
	}
	// The identity is found in the same pass and does not change the result.
	withID, id, err := s.eventID(bytes.Clone(in), false, []byte("x"))
	if err != nil || !bytes.Equal(withID, got) || !bytes.HasPrefix(id, []byte("x")) {
		t.Fatalf("eventID(%q) = %q, %q, %v; want %q and the identity after x", in, withID, id, err, got)
	}
	// The top-level members handed to the gateway (Event.Top) are those of the object
	// returned, in order: after the one already in the slice, each key once per member,
	// together decoding to the object.
	withTop, _, top, err := s.eventTop(bytes.Clone(in), false, nil, []jsonx.Member{{}})
	if err != nil || !bytes.Equal(withTop, got) || len(top) == 0 || top[0] != (jsonx.Member{}) {
		t.Fatalf("eventTop(%q) = %q, %v, %v; want %q after the first member", in, withTop, top, err, got)
	}
	rebuilt := []byte{'{'}
	for i, m := range top[1:] {
		if i > 0 {
			rebuilt = append(rebuilt, ',')
		}
		rebuilt = append(rebuilt, withTop[m.KeyStart:m.KeyEnd]...)
		rebuilt = append(append(rebuilt, ':'), m.Value(withTop)...)
	}
	rebuilt = append(rebuilt, '}')
	if g, w := decode(t, rebuilt), decode(t, got); !reflect.DeepEqual(g, w) {
		t.Fatalf("eventTop(%q): the members rebuild %q, not the object %q", in, rebuilt, got)
	}
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	return m
}

// FuzzMetadata checks the event scanner against encoding/json: validity, and the
// removal of top-level @metadata members.
func FuzzMetadata(f *testing.F) {
	for _, s := range []string{
		`{"@metadata":{"beat":"filebeat","type":"_doc","version":"8.15.0"},"@timestamp":"2026-01-02T03:04:05.678Z","message":"x"}`,
		`{"a":1,"@metadata":2,"@metadata":3,"b":[true,false,null,-1.5e+3]}`,
		`{"\u0040metadata":1,"x":{"@metadata":2}}`,
		` {"a" : "\"\\\/\b\f\n\r\t\u00e9" } `,
		`{"@timestamp":"2026-01-02T03:04:05.678Z","host":{"name":"h"},"log":{"offset":7,"file":{"path":"/p","inode":"1"}},"@metadata":{"_id":"k"}}`,
		`{"agent":{"id":1},"log":{"offset":1e3,"file":{"path":["x"]}},"input":{"id":{}}}`,
		`{"a":1}x`, `[1]`, `{"a":"` + "\xff" + `"}`, `{}`, `{"a":{}}`, `{"a":[[],{}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkEvent(t, in) })
}

func BenchmarkScanner(b *testing.B) {
	ev := filebeatEvent(1, "firewall")
	var s scanner
	var ids []byte
	doc := make([]byte, len(ev))
	b.SetBytes(int64(len(ev)))
	for b.Loop() {
		copy(doc, ev)
		var err error
		if _, ids, err = s.eventID(doc, false, ids[:0]); err != nil { // reused, as a connection's part does
			b.Fatal(err)
		}
	}
}
