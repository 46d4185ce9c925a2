package httprecv_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/stream"
)

// envelopesByMessage returns the consumed envelopes keyed by their event's message.
func envelopesByMessage(t *testing.T, got map[string][]stream.Envelope) map[string]stream.Envelope {
	t.Helper()
	out := map[string]stream.Envelope{}
	for _, envs := range got {
		for i, m := range messages(envs) {
			_, msg, _ := strings.Cut(m, ":")
			if _, dup := out[msg]; dup {
				t.Fatalf("two events with message %q", msg)
			}
			out[msg] = envs[i]
		}
	}
	return out
}

// /v1/events: an event's _id member is its idempotency key. It leaves the event, and
// the same key (for the same log type) gives the same envelope id at every resend.
func TestEventsIDMember(t *testing.T) {
	h := newHarness(t, gateway.DefaultConfig(), true, 64<<20)
	body := strings.Join([]string{
		`{"message":"a","_id":"k1","fields":{"log_type":"firewall"}}`,
		`{"_id":"k1","message":"b","fields":{"log_type":"firewall"}}`,      // same key, same type: same id
		`{"message":"c","fields":{"log_type":"ids"},"_id":"k1"}`,           // same key, another type
		`{"message":"d","fields":{"log_type":"firewall"},"\u005fid":"k2"}`, // escaped key
		`{"message":"e","fields":{"log_type":"firewall"}}`,                 // no key
		`{"message":"f","_id":1,"fields":{"log_type":"firewall"}}`,
		`{"message":"g","_id":"","fields":{"log_type":"firewall"}}`,
		`{"message":"h","_id":"` + strings.Repeat("x", gateway.MaxIDBytes+1) + `","fields":{"log_type":"firewall"}}`,
		`{"message":"i","x":{"_id":"nested"},"fields":{"log_type":"firewall"}}`, // only the top level
	}, "\n")
	r := h.post(t, "/v1/events", []byte(body))
	r.want(t, http.StatusBadRequest, `"accepted":6`, `"rejected":3`, "_id must be a string", "empty id", "id is 513 bytes, limit is 512")
	got := envelopesByMessage(t, h.received(t))
	for _, m := range []string{"a", "b", "c", "d", "i"} {
		if strings.Contains(string(got[m].Event), `id"`) && m != "i" {
			t.Errorf("event %s kept its _id member: %s", m, got[m].Event)
		}
	}
	if !strings.Contains(string(got["i"].Event), `"x":{"_id":"nested"}`) {
		t.Errorf("event i lost its nested _id: %s", got["i"].Event)
	}
	if got["a"].ID == "" || got["a"].ID != got["b"].ID {
		t.Errorf("events a and b, both _id k1: envelope ids %q and %q, want one", got["a"].ID, got["b"].ID)
	}
	if got["c"].ID == "" || got["c"].ID == got["a"].ID {
		t.Errorf("event c, _id k1 of another log type: envelope id %q, want one of its own", got["c"].ID)
	}
	if got["d"].ID == "" || got["d"].ID == got["a"].ID {
		t.Errorf("event d, _id k2: envelope id %q", got["d"].ID)
	}
	if got["e"].ID != "" || got["i"].ID != "" {
		t.Errorf("events without _id: envelope ids %q and %q, want none", got["e"].ID, got["i"].ID)
	}
}

// Identities are scoped by API key: one key cannot take another's.
func TestEventsIDScopedByAPIKey(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.Auth.Keys = []gateway.APIKey{
		{Name: "one", SHA256: gateway.HashKey("key-one"), Types: []string{"*"}},
		{Name: "two", SHA256: gateway.HashKey("key-two"), Types: []string{"*"}},
	}
	h := newHarness(t, cfg, true, 64<<20)
	h.post(t, "/v1/events", []byte(`{"message":"a","_id":"k","fields":{"log_type":"waf"}}`), "Authorization", "Bearer key-one").want(t, http.StatusOK)
	h.post(t, "/v1/events", []byte(`{"message":"b","_id":"k","fields":{"log_type":"waf"}}`), "Authorization", "Bearer key-two").want(t, http.StatusOK)
	got := envelopesByMessage(t, h.received(t))
	if got["a"].ID == "" || got["a"].ID == got["b"].ID {
		t.Errorf("_id k from two API keys: envelope ids %q and %q, want two", got["a"].ID, got["b"].ID)
	}
}

// routing.ids: content makes the id of the event's bytes, field:<path> of one field,
// stream_position ignores the client's key.
func TestEventsIDModes(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.Routing.IDs = map[string]string{"firewall": "content", "ids": "field:flow.id", "waf": "stream_position"}
	h := newHarness(t, cfg, true, 64<<20)
	body := strings.Join([]string{
		`{"fields":{"log_type":"firewall"},"message":"a"}`,
		`{"fields":{"log_type":"firewall"},"message":"a","_id":"k"}`, // the key leaves before the hash
		`{"fields":{"log_type":"firewall"},"message":"b"}`,
		`{"fields":{"log_type":"ids"},"message":"c","flow":{"id":7}}`,
		`{"fields":{"log_type":"ids"},"message":"d","flow":{"id":7}}`,
		`{"fields":{"log_type":"ids"},"message":"e"}`,
		`{"fields":{"log_type":"waf"},"message":"f","_id":"k"}`,
	}, "\n")
	h.post(t, "/v1/events", []byte(body)).want(t, http.StatusOK, `"accepted":7`)
	var envs []stream.Envelope
	for _, e := range h.received(t) {
		envs = append(envs, e...)
	}
	byMsg := map[string][]string{}
	for i, m := range messages(envs) {
		_, msg, _ := strings.Cut(m, ":")
		byMsg[msg] = append(byMsg[msg], envs[i].ID)
	}
	if a := byMsg["a"]; len(a) != 2 || a[0] == "" || a[0] != a[1] {
		t.Errorf("content ids of two identical events: %q, want one", a)
	}
	if b := byMsg["b"]; len(b) != 1 || b[0] == byMsg["a"][0] {
		t.Errorf("content id of another event: %q", b)
	}
	if c, d := byMsg["c"], byMsg["d"]; len(c) != 1 || c[0] == "" || len(d) != 1 || c[0] != d[0] {
		t.Errorf("field:flow.id ids of two events with flow.id 7: %q and %q, want one", c, d)
	}
	if e, f := byMsg["e"], byMsg["f"]; len(e) != 1 || e[0] != "" || len(f) != 1 || f[0] != "" {
		t.Errorf("no flow.id, and stream_position: ids %q and %q, want none", e, f)
	}
}

// _bulk: the action's _id is the event's identity.
func TestBulkActionIDIsIdentity(t *testing.T) {
	h := newBulkHarness(t, gateway.DefaultConfig(), true, 64<<20)
	body := strings.Join([]string{
		`{"create":{"_index":"logs-firewall-default","_id":"k1"}}`, `{"message":"a"}`,
		`{"index":{"_index":"logs-firewall-default","_id":"k1"}}`, `{"message":"b"}`,
		`{"create":{"_index":"logs-firewall-default"}}`, `{"message":"c"}`,
		"",
	}, "\n")
	h.do(t, http.MethodPost, "/_bulk", []byte(body), "Content-Type", "application/x-ndjson").want(t, http.StatusOK, `"errors":false`)
	got := envelopesByMessage(t, h.received(t))
	if got["a"].ID == "" || got["a"].ID != got["b"].ID {
		t.Errorf("two actions with _id k1: envelope ids %q and %q, want one", got["a"].ID, got["b"].ID)
	}
	if got["c"].ID != "" {
		t.Errorf("action without _id: envelope id %q, want none", got["c"].ID)
	}
}

// _bulk from a Beat's elasticsearch output, which gives no _id: the line's coordinates
// (beatsid) are the identity, so a bulk request the Beat sends again after a lost
// answer gives its events the envelope ids they had the first time. An action's _id
// still wins; a document without coordinates has none, as before.
func TestBulkBeatsDocumentIdentity(t *testing.T) {
	h := newBulkHarness(t, gateway.DefaultConfig(), true, 64<<20)
	beat := func(msg string, offset int) string {
		return fmt.Sprintf(`{"@timestamp":"2026-12-07T16:40:59.812Z","message":%q,"log":{"offset":%d,"file":{"path":"/var/log/fw.log"}},"agent":{"id":"5b1c","type":"filebeat"},"input":{"type":"filestream"}}`, msg, offset)
	}
	request := func(round string) []byte {
		return []byte(strings.Join([]string{
			`{"create":{"_index":"filebeat-7.17.29"}}`, beat("a"+round, 0),
			`{"create":{"_index":"filebeat-7.17.29"}}`, beat("b"+round, 57),
			`{"create":{"_index":"filebeat-7.17.29","_id":"k1"}}`, beat("c"+round, 114),
			`{"create":{"_index":"filebeat-7.17.29"}}`, `{"message":"d` + round + `","log":{"offset":171},"input":{"type":"filestream"}}`,
			"",
		}, "\n"))
	}
	for _, round := range []string{"1", "2"} {
		h.do(t, http.MethodPost, "/_bulk", request(round), "Content-Type", "application/json").want(t, http.StatusOK, `"errors":false`)
	}
	got := envelopesByMessage(t, h.received(t))
	for _, m := range []string{"a", "b", "c"} {
		if first, again := got[m+"1"].ID, got[m+"2"].ID; first == "" || first != again {
			t.Errorf("event %s sent twice: envelope ids %q and %q, want one", m, first, again)
		}
	}
	if got["a1"].ID == got["b1"].ID {
		t.Errorf("lines at offsets 0 and 57: one envelope id %q, want two", got["a1"].ID)
	}
	var withKey string
	{
		h2 := newBulkHarness(t, gateway.DefaultConfig(), true, 64<<20)
		body := `{"create":{"_index":"filebeat-7.17.29","_id":"k1"}}` + "\n" + `{"message":"e","input":{"type":"filestream"}}` + "\n"
		h2.do(t, http.MethodPost, "/_bulk", []byte(body), "Content-Type", "application/json").want(t, http.StatusOK)
		withKey = envelopesByMessage(t, h2.received(t))["e"].ID
	}
	if got["c1"].ID != withKey {
		t.Errorf("a Beat's document with _id k1: envelope id %q, want the action's (%q)", got["c1"].ID, withKey)
	}
	if got["d1"].ID != "" || got["d2"].ID != "" {
		t.Errorf("documents without coordinates: envelope ids %q and %q, want none", got["d1"].ID, got["d2"].ID)
	}
}
