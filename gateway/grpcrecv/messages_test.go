package grpcrecv_test

import (
	"net/http"
	"strings"
	"testing"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	sluicev1 "github.com/sluice-siem/sluice/proto/sluice/v1"
)

// httpOnly are words of the HTTP receiver's messages that mean nothing to a gRPC client.
var httpOnly = []string{"?type=", "X-Sluice-Type", "Retry-After", "413"}

func checkNoHTTPWords(t *testing.T, what, msg string) {
	t.Helper()
	for _, w := range httpOnly {
		if strings.Contains(msg, w) {
			t.Errorf("%s %q names %q, which gRPC does not have", what, msg, w)
		}
	}
}

// TestEmptyBatch checks that over gRPC a batch without events stays a valid call (OK,
// nothing accepted), which clients use to check their key and connection, and that it
// still checks the key; the REST mapping, whose body is required, refuses it with 400.
func TestEmptyBatch(t *testing.T) {
	h := newHarness(t, setup{config: authConfig})

	t.Run("Push", func(t *testing.T) {
		resp, err := h.client.Push(withBearer(ctxT(t), secret), &sluicev1.PushRequest{})
		if err != nil || resp.GetAccepted() != 0 || len(resp.GetRejections()) != 0 {
			t.Fatalf("empty Push = %v, %v; want OK with nothing accepted", resp, err)
		}
	})
	t.Run("Push checks the key", func(t *testing.T) {
		_, err := h.client.Push(ctxT(t), &sluicev1.PushRequest{})
		if status.Code(err) != codes.Unauthenticated || !strings.Contains(status.Convert(err).Message(), "metadata authorization: Bearer <key>") {
			t.Fatalf("empty Push without a key = %v; want UNAUTHENTICATED naming the authorization metadata", err)
		}
	})
	t.Run("PushStream", func(t *testing.T) {
		ps, err := h.client.PushStream(withBearer(ctxT(t), secret))
		if err != nil {
			t.Fatal(err)
		}
		if err := ps.Send(&sluicev1.PushStreamRequest{Id: "empty"}); err != nil {
			t.Fatal(err)
		}
		if err := ps.CloseSend(); err != nil {
			t.Fatal(err)
		}
		a := recvAll(t, ps)["empty"]
		if a == nil || a.GetCode() != 0 || a.GetAccepted() != 0 || a.GetMessage() != "" {
			t.Fatalf("ack of an empty batch = %v, want code 0 with nothing accepted", a)
		}
	})
	t.Run("REST", func(t *testing.T) {
		url := newHarness(t, setup{}).rest(nil) // the HTTP receiver authenticates REST calls
		for _, body := range []string{"", "{}", `{"events":[]}`} {
			r := postJSON(t, url, body)
			var st spb.Status
			if r.status != http.StatusBadRequest || protojson.Unmarshal(r.body, &st) != nil || codes.Code(st.GetCode()) != codes.InvalidArgument {
				t.Errorf("REST push of %q = %d %s, want 400 with code 3", body, r.status, r.body)
				continue
			}
			if want := `{"events":[{"type":"...","message":"..."}]}`; !strings.HasPrefix(st.GetMessage(), "no events") || !strings.Contains(st.GetMessage(), want) {
				t.Errorf("REST push of %q: message %q, want it to say no events and show %s", body, st.GetMessage(), want)
			}
		}
	})
	if recs := h.settle(); len(recs) != 0 {
		t.Errorf("stream holds %d records", len(recs))
	}
}

// TestNoTypeRejectionNamesTheTypeField checks that an event without a log type is told
// to set its type field, not the HTTP receiver's ?type= or header, over gRPC (Push and
// PushStream) and the REST mapping.
func TestNoTypeRejectionNamesTheTypeField(t *testing.T) {
	h := newHarness(t, setup{})
	const want = "no log type: name it with the event's type field, or one of the event fields fields.log_type, event.dataset, input.type"
	events := []*sluicev1.Event{event("", "who am i"), event("firewall", "ok")}

	_, err := h.client.Push(ctxT(t), &sluicev1.PushRequest{Events: events})
	checkRejected(t, err, codes.InvalidArgument, 1, map[int32]string{0: want})
	checkNoHTTPWords(t, "Push status message", status.Convert(err).Message())
	resp, br, _ := details(err)
	checkNoHTTPWords(t, "Push rejection", resp.GetRejections()[0].GetReason())
	checkNoHTTPWords(t, "BadRequest field violation", br.GetFieldViolations()[0].GetDescription())

	ps, err := h.client.PushStream(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := ps.Send(&sluicev1.PushStreamRequest{Id: "s", Events: events}); err != nil {
		t.Fatal(err)
	}
	if err := ps.CloseSend(); err != nil {
		t.Fatal(err)
	}
	a := recvAll(t, ps)["s"]
	if len(a.GetRejections()) != 1 || !strings.Contains(a.GetRejections()[0].GetReason(), want) {
		t.Errorf("PushStream ack %v, want events[0] rejected with %q", a, want)
	}
	checkNoHTTPWords(t, "PushStream ack message", a.GetMessage())

	r := postJSON(t, h.rest(nil), `{"events":[{"message":"who am i"}]}`)
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), want) {
		t.Errorf("REST push without a type = %d %s, want 400 with %q", r.status, r.body, want)
	}
	checkNoHTTPWords(t, "REST rejection", string(r.body))
}
