package grpcrecv_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sluice-siem/sluice/gateway"
	sluicev1 "github.com/sluice-siem/sluice/proto/sluice/v1"
)

// withID sets an event's idempotency key.
func withID(e *sluicev1.Event, id string) *sluicev1.Event {
	e.Id = id
	return e
}

// idsByMessage returns the envelope ids of the records of each message, in delivery
// order.
func idsByMessage(recs []got) map[string][]string {
	out := map[string][]string{}
	for _, r := range recs {
		m, _ := r.Doc["message"].(string)
		out[m] = append(out[m], r.ID)
	}
	return out
}

// TestEventID checks the client's idempotency key (Event.id) through the real gateway
// core under routing.id auto: every copy of an event sent with one id gets the same
// envelope id, whether it came by Push, again by Push, by PushStream or by REST;
// different ids give different envelope ids; an event without one has none; the id is
// not part of the event document.
func TestEventID(t *testing.T) {
	h := newHarness(t, setup{})
	url := h.rest(nil)
	maxID := strings.Repeat("m", gateway.MaxIDBytes)
	batch := []*sluicev1.Event{
		withID(event("firewall", "a"), "evt-a"),
		withID(event("firewall", "b"), "evt-b"),
		event("firewall", "none"),
		withID(event("firewall", "max"), maxID),
	}

	for range 2 { // the second Push is the shipper's resend after a lost acknowledgement
		resp, err := h.client.Push(ctxT(t), &sluicev1.PushRequest{Events: batch})
		if err != nil || resp.GetAccepted() != int32(len(batch)) {
			t.Fatalf("Push = %v, %v; want all %d accepted", resp, err, len(batch))
		}
	}
	ps, err := h.client.PushStream(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := ps.Send(&sluicev1.PushStreamRequest{Id: "s", Events: batch}); err != nil {
		t.Fatal(err)
	}
	if err := ps.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if a := recvAll(t, ps)["s"]; a.GetCode() != 0 || a.GetAccepted() != int32(len(batch)) {
		t.Fatalf("PushStream ack = %v, want all %d accepted", a, len(batch))
	}
	r := postJSON(t, url, fmt.Sprintf(`{"events":[{"type":"firewall","message":"a","id":"evt-a"},
		{"type":"firewall","message":"b","id":"evt-b"},{"type":"firewall","message":"none"},
		{"type":"firewall","message":"max","id":%q}]}`, maxID))
	if r.status != http.StatusOK {
		t.Fatalf("REST status %d: %s", r.status, r.body)
	}

	recs := h.settle()
	ids := idsByMessage(recs)
	const copies = 4 // Push twice, PushStream, REST
	same := func(msg string) string {
		t.Helper()
		got := ids[msg]
		if len(got) != copies {
			t.Fatalf("%s: %d records, want %d", msg, len(got), copies)
		}
		for _, id := range got[1:] {
			if id != got[0] {
				t.Errorf("%s: copies have envelope ids %q, want one", msg, got)
				break
			}
		}
		return got[0]
	}
	a, b, none, maxed := same("a"), same("b"), same("none"), same("max")
	if a == "" || b == "" || maxed == "" {
		t.Errorf("envelope ids a %q, b %q, max %q: want all set", a, b, maxed)
	}
	if a == b || a == maxed || b == maxed {
		t.Errorf("envelope ids a %q, b %q, max %q: want all different", a, b, maxed)
	}
	if none != "" {
		t.Errorf("event without an id has envelope id %q, want none", none)
	}
	for _, rec := range recs {
		if _, ok := rec.Doc["id"]; ok {
			t.Errorf("document %s carries the id; it belongs to the envelope only", rec.Event)
		}
	}
}

// TestEventIDPerAPIKey checks that the caller the receiver authenticated scopes the
// identity: the same id and log type sent with two API keys are two events.
func TestEventIDPerAPIKey(t *testing.T) {
	h := newHarness(t, setup{config: func(c *gateway.Config) {
		c.Auth.Keys = []gateway.APIKey{
			{Name: "one", SHA256: gateway.HashKey("key-one"), Types: []string{"*"}},
			{Name: "two", SHA256: gateway.HashKey("key-two"), Types: []string{"*"}},
		}
	}})
	for _, key := range []string{"key-one", "key-two", "key-one"} {
		req := &sluicev1.PushRequest{Events: []*sluicev1.Event{withID(event("firewall", key), "evt-1")}}
		if _, err := h.client.Push(withBearer(ctxT(t), key), req); err != nil {
			t.Fatalf("Push with %s: %v", key, err)
		}
	}
	ids := idsByMessage(h.settle())
	one, two := ids["key-one"], ids["key-two"]
	if len(one) != 2 || len(two) != 1 || one[0] == "" || one[0] != one[1] || two[0] == one[0] {
		t.Errorf("envelope ids: key one %q, key two %q; want key one's two the same, key two's another", one, two)
	}
}

// TestEventIDTooLong checks that an id over gateway.MaxIDBytes rejects its own event,
// with a reason naming the limit, and no other event of the batch, by gRPC and REST.
func TestEventIDTooLong(t *testing.T) {
	h := newHarness(t, setup{})
	long := strings.Repeat("x", gateway.MaxIDBytes+1)
	limit := fmt.Sprintf("limit is %d", gateway.MaxIDBytes)
	events := []*sluicev1.Event{
		withID(event("firewall", "ok-id"), "evt-ok"),
		withID(event("firewall", "long"), long),
		event("firewall", "ok-none"),
	}

	_, err := h.client.Push(ctxT(t), &sluicev1.PushRequest{Events: events})
	checkRejected(t, err, codes.InvalidArgument, 2, map[int32]string{1: limit})

	body, err := protojson.Marshal(&sluicev1.PushRequest{Events: events})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), `"id":"evt-ok"`) {
		t.Fatalf("JSON mapping of Event.id is not \"id\": %s", body)
	}
	r := postJSON(t, h.rest(nil), string(body))
	var st spb.Status
	if err := protojson.Unmarshal(r.body, &st); r.status != http.StatusBadRequest || err != nil {
		t.Fatalf("REST status %d, want 400 with a status body: %s", r.status, r.body)
	}
	checkRejected(t, status.FromProto(&st).Err(), codes.InvalidArgument, 2, map[int32]string{1: limit})

	recs := h.settle()
	ids := idsByMessage(recs)
	if len(recs) != 4 || len(ids["ok-id"]) != 2 || len(ids["ok-none"]) != 2 {
		t.Fatalf("stream holds %v, want ok-id and ok-none twice each", ids)
	}
	if got := ids["ok-id"]; got[0] == "" || got[0] != got[1] {
		t.Errorf("ok-id envelope ids %q, want one, set", got)
	}
}
