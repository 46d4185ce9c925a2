package lumberjack

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/gateway/internal/beatsid"
	"github.com/sluice-siem/sluice/internal/jsonx"
)

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

// FuzzIdentity holds the identity the scanner gathers while it checks and cuts an
// event to the one beatsid.Scan.Of finds in the event on its own, on every event the
// scanner accepts.
func FuzzIdentity(f *testing.F) {
	for _, s := range []string{
		`{"@timestamp":"t","host":{"name":"h"},"log":{"offset":7,"file":{"path":"/p","inode":"1"}},"agent":{"id":"a"}}`,
		`{"@metadata":{"_id":"k"},"@metadata":{"beat":"filebeat"},"agent":{"id":1},"log":{"offset":1e3,"file":{"path":"p"}}}`,
		` {"log":{"file":{"path":"/a"},"offset":1},"host":{"name":"h"}} `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var s scanner
		_, got, err := s.eventID(bytes.Clone(in), false, nil)
		if err != nil {
			return
		}
		want, err := new(beatsid.Scan).Of(jsonx.NewScanner(jsonx.DefaultMaxDepth), in, nil)
		if err != nil {
			t.Fatalf("the scanner took %q, beatsid.Scan.Of refuses it: %v", in, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("eventID(%q) identity %q, beatsid.Scan.Of finds %q", in, got, want)
		}
	})
}
