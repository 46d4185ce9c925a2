package beatsid

import (
	"bytes"
	"testing"

	"github.com/sluice-siem/sluice/internal/jsonx"
)

// A Beats event's identity: @metadata._id when set, else the line's coordinates; the
// same for a resent event, different for anything that tells two lines apart.
func TestIdentity(t *testing.T) {
	const line = `"message":"deny","@timestamp":"2026-12-06T10:00:00.000Z","host":{"name":"fw1"},"log":{"file":{"path":"/var/log/fw.log"},"offset":`
	id := func(doc string) string {
		t.Helper()
		ids, err := new(Scan).Of(jsonx.NewScanner(jsonx.DefaultMaxDepth), []byte(doc), nil)
		if err != nil {
			t.Fatalf("Of(%s): %v", doc, err)
		}
		return string(ids)
	}
	base := id(`{` + line + `100}}`)
	if base == "" {
		t.Fatal("an event with host, path and offset has no identity")
	}
	same := map[string]string{
		"members in another order": `{"log":{"offset":100,"file":{"path":"/var/log/fw.log"}},"host":{"name":"fw1"},"@timestamp":"2026-12-06T10:00:00.000Z","message":"deny"}`,
		"another message":          `{` + line + `100},"message":"deny"}`,
		"@metadata without _id":    `{"@metadata":{"beat":"filebeat"},` + line + `100}}`,
	}
	for what, doc := range same {
		if got := id(doc); got != base {
			t.Errorf("%s: identity %q, want the same as %q", what, got, base)
		}
	}
	differ := map[string]string{
		"another offset":     `{` + line + `101}}`,
		"another @timestamp": `{"message":"deny","@timestamp":"2026-12-06T10:00:01.000Z","host":{"name":"fw1"},"log":{"file":{"path":"/var/log/fw.log"},"offset":100}}`,
		"another host":       `{"message":"deny","@timestamp":"2026-12-06T10:00:00.000Z","host":{"name":"fw2"},"log":{"file":{"path":"/var/log/fw.log"},"offset":100}}`,
		"another file":       `{"message":"deny","@timestamp":"2026-12-06T10:00:00.000Z","host":{"name":"fw1"},"log":{"file":{"path":"/var/log/fw.log.1"},"offset":100}}`,
		"an inode":           `{"message":"deny","@timestamp":"2026-12-06T10:00:00.000Z","host":{"name":"fw1"},"log":{"file":{"path":"/var/log/fw.log","inode":"42"},"offset":100}}`,
		"an agent id":        `{"agent":{"id":"a-1"},` + line + `100}}`,
		"@metadata._id":      `{"@metadata":{"_id":"k1"},` + line + `100}}`,
	}
	seen := map[string]string{base: "base"}
	for what, doc := range differ {
		got := id(doc)
		if got == "" {
			t.Errorf("%s: no identity", what)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("%s: identity %q, the same as %s's", what, got, other)
		}
		seen[got] = what
	}
	if a, b := id(`{"@metadata":{"_id":"k1"},"message":"a"}`), id(`{"message":"b","@metadata":{"_id":"k1","beat":"x"}}`); a == "" || a != b {
		t.Errorf("@metadata._id k1 gives identities %q and %q, want one", a, b)
	}
	for what, doc := range map[string]string{
		"no offset":        `{"host":{"name":"fw1"},"log":{"file":{"path":"/p"}}}`,
		"no path":          `{"host":{"name":"fw1"},"log":{"offset":1}}`,
		"no host or agent": `{"log":{"file":{"path":"/p"},"offset":1}}`,
		"offset a string":  `{"host":{"name":"fw1"},"log":{"file":{"path":"/p"},"offset":"1"}}`,
		"dotted keys":      `{"host.name":"fw1","log.file.path":"/p","log.offset":1}`,
		"empty _id":        `{"@metadata":{"_id":""}}`,
		"_id a number":     `{"@metadata":{"_id":1}}`,
		"no members":       `{}`,
	} {
		if got := id(doc); got != "" {
			t.Errorf("%s: identity %q, want none", what, got)
		}
	}
}

// identityByWalk is the identity found by walking the scanned event again, object by
// object with jsonx.Members (the way the scanner found it before it gathered the
// values during its one pass): the reference FuzzIdentity holds the scanner to.
func identityByWalk(doc []byte) []byte {
	var top [numParts]span
	jsonx.Members(doc, func(ks, ke, ve int) {
		m := jsonx.Member{KeyStart: ks, KeyEnd: ke, ValueEnd: ve}
		if part := partOf(m.Key(doc)); part >= 0 {
			top[part] = valueSpan(doc, m)
		}
	})
	// lookup returns where the values of the members keys[i] of the object at sp are,
	// the last of repeated ones.
	lookup := func(sp span, keys ...string) [4]span {
		var vals [4]span
		obj := sp.in(doc)
		if len(obj) == 0 || obj[0] != '{' {
			return vals
		}
		jsonx.Members(obj, func(ks, ke, ve int) {
			m := jsonx.Member{KeyStart: ks, KeyEnd: ke, ValueEnd: ve}
			for i, want := range keys {
				if jsonx.KeyIs(m.Key(obj), want) {
					v := valueSpan(obj, m)
					vals[i] = span{sp.start + v.start, sp.start + v.end}
				}
			}
		})
		return vals
	}
	var s Scan
	id := &s.id
	id.of[partMetadata] = lookup(top[partMetadata], "_id")[0]
	id.of[partAgent] = lookup(top[partAgent], "id")[0]
	id.of[partHost] = lookup(top[partHost], "name")[0]
	id.of[partInput] = lookup(top[partInput], "id")[0]
	lv := lookup(top[partLog], "file", "offset")
	id.offset = lv[1]
	fv := lookup(lv[0], "path", "device_id", "inode", "fingerprint")
	id.file = fileParts{path: fv[0], device: fv[1], inode: fv[2], fingerprint: fv[3]}
	id.of[partTimestamp] = top[partTimestamp]
	return s.Append(doc, nil)
}

// FuzzIdentity holds the identity Of gathers in its one pass to the one a second walk
// over the event finds, on every event the scanner accepts.
func FuzzIdentity(f *testing.F) {
	for _, s := range []string{
		`{"@timestamp":"t","host":{"name":"h"},"log":{"offset":7,"file":{"path":"/p","inode":"1","device_id":2,"fingerprint":"f"}},"input":{"id":"i"},"agent":{"id":"a"}}`,
		`{"log":{"file":{"path":"/a"},"offset":1},"log":{"offset":2},"host":{"name":"h"}}`,
		`{"log":{"file":{"path":"/a"},"file":{"inode":"1"},"offset":1},"host":{"name":"h","name":"g"}}`,
		`{"log":{"x":{"path":"/x"},"file":{"path":"/a"},"offset":1},"agent":{"id":{}},"host":{"name":"h"}}`,
		`{"\u0040metadata":{"\u005fid":"k"},"x":{"@metadata":{"_id":"j"}}}`,
		`{"log":{"file":[{"path":"/a"}],"offset":1},"host":{"name":"h"}}`,
		`{"@metadata":{"_id":"k"},"@metadata":{"beat":"filebeat"},"agent":{"id":1},"log":{"offset":1e3,"file":{"path":"p"}}}`,
		`{"a":{"log":{"file":{"path":"/n"}}},"log":{"fi\u006ce":{"pa\u0074h":"/e"},"offset":-1},"host":{"name":"h"}}`,
		`{"log":{"file":{"path":"/a"},"o\u0066fset":1},"host":{"name":"h"}}`,
		`{"@metadata":{"\u005f\u0069d":"k"}}`,
		`{"log":{"file":{"path":"/a"}},"host":{"name":"h"}}`,
	} {
		f.Add([]byte(s))
	}
	var s Scan // reused, as a receiver does
	sc := jsonx.NewScanner(jsonx.DefaultMaxDepth)
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := s.Of(sc, in, nil)
		if err != nil {
			return
		}
		if want := identityByWalk(bytes.TrimSpace(in)); !bytes.Equal(got, want) {
			t.Fatalf("Of(%q) identity %q, a second walk finds %q", in, got, want)
		}
	})
}
