package jsonx

import (
	"bytes"
	"encoding/json"
	"testing"
)

// cutAndRebase scans doc, drops the members whose key is in drop, cuts them out and
// rebases the others, as the lumberjack receiver does with @metadata.
func cutAndRebase(t testing.TB, doc []byte, drop map[string]bool) (before []Member, obj []byte, after []Member, ok bool) {
	var ms []Member
	s := NewScanner(DefaultMaxDepth)
	start := SkipSpace(doc, 0)
	if start == len(doc) || doc[start] != '{' {
		return nil, nil, nil, false
	}
	if err := s.Scan(doc, func(ks, ke, ve int) {
		m := Member{KeyStart: ks, KeyEnd: ke, ValueEnd: ve}
		m.Drop = drop[string(m.Key(doc))]
		ms = append(ms, m)
	}); err != nil {
		return nil, nil, nil, false
	}
	end := len(doc)
	for end > start && doc[end-1] != '}' {
		end--
	}
	before = append([]Member(nil), ms...)
	orig := append([]byte(nil), doc...) // Cut moves bytes in place
	var c Cutter
	obj = c.Cut(doc[:end], start, ms)
	after = c.Rebase(ms, start, nil)
	// Check against the original bytes: each kept member, rebased, reads the same key
	// and value in the cut object.
	k := 0
	for _, m := range before {
		if m.Drop {
			continue
		}
		if k >= len(after) {
			t.Fatalf("%q: %d members kept, rebased %d", orig, k+1, len(after))
		}
		r := after[k]
		if !bytes.Equal(r.Key(obj), m.Key(orig)) || !bytes.Equal(r.Value(obj), m.Value(orig)) {
			t.Fatalf("%q cut to %q: member %q=%q rebased to %q=%q", orig, obj, m.Key(orig), m.Value(orig), r.Key(obj), r.Value(obj))
		}
		k++
	}
	if k != len(after) {
		t.Fatalf("%q: %d members kept, rebased %d", orig, k, len(after))
	}
	return before, obj, after, true
}

// TestRebase: after cutting members at the start, in the middle, at the end, in runs
// or all of them, the rebased members read the same keys and values in the cut object,
// which is still JSON with the members it kept.
func TestRebase(t *testing.T) {
	drop := map[string]bool{"@metadata": true, "x": true}
	for _, doc := range []string{
		`{"@metadata":{"beat":"filebeat"},"@timestamp":"t","message":"m","fields":{"log_type":"fw"}}`,
		`  {"a":1,"@metadata":{},"b":[1,2],"x":"y","c":{"d":"}"}}  `,
		`{"a":1,"@metadata":{},"x":2}`,
		`{"@metadata":1,"x":2}`,
		`{"a" : 1 , "x" : [ {"x":1} ] , "b" : "\"x\""}`,
		`{}`,
	} {
		_, obj, after, ok := cutAndRebase(t, []byte(doc), drop)
		if !ok {
			t.Fatalf("%s: not scanned", doc)
		}
		var got map[string]any
		if err := json.Unmarshal(obj, &got); err != nil {
			t.Fatalf("%s cut to %s: %v", doc, obj, err)
		}
		if len(got) != len(after) {
			t.Errorf("%s cut to %s: %d members decoded, %d rebased", doc, obj, len(got), len(after))
		}
	}
}

// FuzzRebase holds Cut and Rebase to each other on any input the scanner accepts.
func FuzzRebase(f *testing.F) {
	for _, s := range []string{`{"@metadata":{"a":1},"b":2}`, `{"a":1,"x":{},"x":2,"@metadata":3}`, `{"x":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if len(doc) > 1<<16 {
			return
		}
		cutAndRebase(t, doc, map[string]bool{"@metadata": true, "x": true}) // checks as it goes
	})
}

// FuzzMembers holds Members to Scan: on every object Scan accepts, the same members
// at the same offsets; on anything else, no panic and offsets within the input.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":"x\"y\\","c":{"d":[1,{"e":"}"}]},"f":true,"g":null,"h":-1.5e3}`,
		` { "k" : "v" , "k" : [ ] } `, `{}`, `{"a":"\\\\"}`, `{"a":[[[]]],"b":{}}`, `{"a":1`, `{"a":"x}`, `[1]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if len(doc) > 1<<16 {
			return
		}
		var fast []Member
		Members(doc, func(ks, ke, ve int) {
			if ks < 0 || ke > len(doc) || ve > len(doc) || ks >= ke || ke > ve {
				t.Fatalf("%q: member at %d..%d..%d", doc, ks, ke, ve)
			}
			fast = append(fast, Member{KeyStart: ks, KeyEnd: ke, ValueEnd: ve})
		})
		i := SkipSpace(doc, 0)
		if i == len(doc) || doc[i] != '{' {
			return
		}
		var want []Member
		if err := NewScanner(DefaultMaxDepth).Scan(doc, func(ks, ke, ve int) {
			want = append(want, Member{KeyStart: ks, KeyEnd: ke, ValueEnd: ve})
		}); err != nil {
			return
		}
		if len(fast) != len(want) {
			t.Fatalf("%q: Members found %v, Scan %v", doc, fast, want)
		}
		for k := range want {
			if fast[k] != want[k] {
				t.Fatalf("%q: Members found %v, Scan %v", doc, fast, want)
			}
		}
	})
}

// FuzzElements holds Elements to encoding/json on every array Scan accepts: as many
// elements, each one's bytes the element encoding/json decodes.
func FuzzElements(f *testing.F) {
	for _, s := range []string{
		`[1,"a]",{"b":[2,3]},[],null,true,-0.5]`, ` [ ] `, `[[],[[]]]`, `["\\\""]`, `[1,`, `{"a":1}`, `[{"create":{"status":201}}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if len(doc) > 1<<16 {
			return
		}
		var got [][]byte
		Elements(doc, func(start, end int) {
			if start < 0 || end > len(doc) || start >= end {
				t.Fatalf("%q: element at %d..%d", doc, start, end)
			}
			got = append(got, doc[start:end])
		})
		i := SkipSpace(doc, 0)
		if i == len(doc) || doc[i] != '[' || NewScanner(DefaultMaxDepth).Valid(doc) != nil {
			return
		}
		var want []json.RawMessage
		if err := json.Unmarshal(doc, &want); err != nil {
			t.Fatalf("%q: Scan accepted it, encoding/json: %v", doc, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%q: %d elements, encoding/json %d", doc, len(got), len(want))
		}
		for k := range want {
			if !bytes.Equal(bytes.TrimSpace(want[k]), got[k]) {
				t.Fatalf("%q: element %d is %q, encoding/json %q", doc, k, got[k], want[k])
			}
		}
	})
}

// FuzzSkipString holds SkipString to ScanString: the same end on every string
// ScanString accepts, and on anything else an end within the input or -1.
func FuzzSkipString(f *testing.F) {
	for _, s := range []string{
		`"a"`, `"0123456789abcdef"`, `"01234567\"9abcdef"x`, `"0123456\\"`, `"\\\\\\\\\\\\\\\\\"x"`,
		`"01234567`, `"0123456789abcd\`, `"é\u00e9 and more than eight"`, `""`, `"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 || b[0] != '"' {
			return
		}
		got := SkipString(b, 0)
		if got != -1 && (got < 2 || got > len(b) || b[got-1] != '"') {
			t.Fatalf("%q: SkipString = %d", b, got)
		}
		if want := ScanString(b, 0); want >= 0 && got != want {
			t.Fatalf("%q: SkipString = %d, ScanString = %d", b, got, want)
		}
	})
}
