package gateway

import (
	"testing"

	"github.com/sluice-siem/sluice/internal/jsonx"
)

// topMembers scans doc as a receiver does, listing every top-level member; ok is
// false when doc is not a valid JSON object.
func topMembers(doc []byte) (top []jsonx.Member, ok bool) {
	i := jsonx.SkipSpace(doc, 0)
	if i == len(doc) || doc[i] != '{' {
		return nil, false
	}
	err := jsonx.NewScanner(jsonx.DefaultMaxDepth).Scan(doc, func(ks, ke, ve int) {
		top = append(top, jsonx.Member{KeyStart: ks, KeyEnd: ke, ValueEnd: ve})
	})
	if top == nil {
		top = []jsonx.Member{}
	}
	return top, err == nil
}

// lookupPaths are field paths of every shape lookup treats: nested, single, dotted
// literal, and ones it leaves to get (escapes for gjson).
var lookupPaths = []string{"fields.log_type", "event.dataset", "input.type", "type", "a.b.c", "host.name", "we*ird.key", "log.file.path"}

// FuzzFieldLookup holds lookup, which reads only the member a path starts with, to
// get, which scans the whole document with gjson: the same value (or none) for every
// path on every valid JSON object, whatever the type of the event before.
func FuzzFieldLookup(f *testing.F) {
	for _, s := range []string{
		`{"@timestamp":"t","message":"m","fields":{"log_type":"firewall"}}`,
		`{"fields":{"a":1},"fields":{"log_type":"second"}}`,
		`{"event.dataset":"literal","event":{"kind":"x"}}`,
		`{"event":{"dataset":"nested"},"event.dataset":"literal"}`,
		`{"event":"not an object","event.dataset":"literal"}`,
		`{"fi\u0065lds":{"log_type":"escaped key"}}`,
		`{"type":{"a":1},"input":{"type":["x"]},"a":{"b":{"c":null}}}`,
		`{"host":{"name":"h1"},"host":{"name":"h2"},"log":{"file":{"path":"/var/log/x"}}}`,
		`{"we*ird":{"key":"star"},"a.b.c":"dotted","a":{"b.c":"half"}}`,
		`{"fields":{"log\u005ftype":"escaped nested key"},"a":{"b":{"c":"deep"}}}`,
		`{"fields":{"log_type":"a\"b"},"a":{"b":[{"c":1}]},"host":{"name":7}}`,
		`{"fields":{"log_type":"first","log_type":"second"},"a":{"b":{"c":"x","c":"y"}}}`,
		`{"fields":["x"],"a":{"b":"not an object"},"log":{"file":{"path":{"p":1}}}}`,
		`{"fields":{"log_typeX":"near","lo\\g_type":"bs"},"a" : { "b" : { "c" : "spaced" } } }`,
		`{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if len(doc) > 1<<16 {
			return
		}
		top, ok := topMembers(doc)
		if !ok {
			return
		}
		for _, path := range lookupPaths {
			p := newFieldPath(path)
			want := p.get(doc)
			for _, same := range []string{"", "firewall"} { // the type of the event before
				// The members as the receiver's scan lists them, and as walkTop does
				// for the receivers that list none.
				for _, members := range [][]jsonx.Member{top, walkTop(doc, nil)} {
					got := p.lookup(doc, members, same)
					if got.Exists() != want.Exists() || got.Type != want.Type || got.String() != want.String() {
						t.Fatalf("%s in %s (same %q): lookup %v %v %q, get %v %v %q", path, doc, same, got.Exists(), got.Type, got.String(), want.Exists(), want.Type, want.String())
					}
				}
			}
		}
	})
}
