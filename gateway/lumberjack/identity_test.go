package lumberjack

import (
	"strings"
	"testing"
	"time"
)

// A Beats event's identity: @metadata._id when set, else the line's coordinates; the
// same for a resent event, different for anything that tells two lines apart.
func TestIdentity(t *testing.T) {
	const line = `"message":"deny","@timestamp":"2026-12-06T10:00:00.000Z","host":{"name":"fw1"},"log":{"file":{"path":"/var/log/fw.log"},"offset":`
	id := func(doc string) string {
		t.Helper()
		var s scanner
		_, ids, err := s.eventID([]byte(doc), false, nil)
		if err != nil {
			t.Fatalf("eventID(%s): %v", doc, err)
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

// Through a go-lumber client, as Filebeat sends: a window sent again carries the
// identities it had, and the @metadata the identity came from is still removed.
func TestResentWindowKeepsIdentities(t *testing.T) {
	rec := newRecorder()
	h := start(t, rec, testConfig())
	ts := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC).Format(time.RFC3339Nano)
	window := []any{
		map[string]any{"message": "deny", "@timestamp": ts, "host": map[string]any{"name": "fw1"},
			"log": map[string]any{"file": map[string]any{"path": "/var/log/fw.log"}, "offset": 0}},
		map[string]any{"message": "deny", "@timestamp": ts, "host": map[string]any{"name": "fw1"},
			"log": map[string]any{"file": map[string]any{"path": "/var/log/fw.log"}, "offset": 5}},
		map[string]any{"message": "x", "@metadata": map[string]any{"_id": "k1"}},
		map[string]any{"message": "no coordinates"},
	}
	send(t, h.addr, "sync", 3, [][]any{window, window})
	rec.mu.Lock()
	ids, docs := rec.ids, rec.docs
	rec.mu.Unlock()
	if len(ids) != 2*len(window) {
		t.Fatalf("%d events recorded, want %d", len(ids), 2*len(window))
	}
	for i := range window {
		if ids[i] != ids[len(window)+i] {
			t.Errorf("event %d: identity %q the first time, %q the second", i, ids[i], ids[len(window)+i])
		}
	}
	if ids[0] == "" || ids[1] == "" || ids[0] == ids[1] {
		t.Errorf("identical lines at offsets 0 and 5: identities %q and %q, want two", ids[0], ids[1])
	}
	if ids[2] != "mk1" {
		t.Errorf("event with @metadata._id k1: identity %q", ids[2])
	}
	if strings.Contains(string(docs[2]), metadataKey) {
		t.Errorf("event with @metadata._id kept its @metadata: %s", docs[2])
	}
	if ids[3] != "" {
		t.Errorf("event without coordinates: identity %q, want none", ids[3])
	}
}
