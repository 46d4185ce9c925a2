package hostile

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/structpb"

	sluicev1 "github.com/sluice-siem/sluice/proto/sluice/v1"
)

// TestSmallerDefects runs the smaller hostile-input classes against one `sluice dev`
// while a legitimate client keeps sending: the statuses of oversized /v1/push bodies,
// unsupported content types, out-of-range numbers, events 100k levels deep, invalid
// protobuf. Afterwards the process must stop cleanly, every acknowledged event must be
// in the sink, and every line on stderr must be a structured log record (no
// "ERROR: Failed to parse Content-Type" from a library's own logger).
func TestSmallerDefects(t *testing.T) {
	p := start(t, spec{role: "dev"})
	var ack acked
	lg := startLegit(t, p, "smaller-legit", &ack)

	t.Run("push over the size limit", func(t *testing.T) {
		big := fmt.Appendf(nil, `{"events":[{"type":"legit","message":"%s"}]}`, bytes.Repeat([]byte("x"), 11<<20))
		a, err := post(p.url("/v1/push"), "application/json", "", big)
		if err != nil || a.status != http.StatusRequestEntityTooLarge {
			t.Errorf("11 MiB body with Content-Length: %v %v, want 413", a, err)
		}
		// Without a Content-Length: chunked.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.url("/v1/push"), io.MultiReader(bytes.NewReader(big)))
		req.Header.Set("Content-Type", "application/json")
		if a, err := do(req); err != nil || a.status != http.StatusRequestEntityTooLarge {
			t.Errorf("11 MiB chunked body: %v %v, want 413", a, err)
		}
		huge := fmt.Appendf(nil, `{"events":[{"type":"legit","message":"%s"}]}`, bytes.Repeat([]byte("x"), 100<<20))
		if a, err := post(p.url("/v1/push"), "application/json", "gzip", gzipped(huge)); err != nil || a.status != http.StatusRequestEntityTooLarge {
			t.Errorf("gzip body inflating to 100 MiB: %v %v, want 413", a, err)
		}
		// 20 MiB once inflated: over limits.max_body_bytes, under max_decoded_bytes, in
		// 10,000 events of 2 KiB. Accepted, or refused 413 as too large; never 400
		// "http: request body too large".
		var b bytes.Buffer
		b.WriteString(`{"events":[`)
		ids := make([]string, 10_000)
		filler := strings.Repeat("y", 2000)
		for i := range ids {
			ids[i] = fmt.Sprintf("smaller-push-%d", i)
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"type":"legit","message":"%s","fields":{"legit_id":%q}}`, filler, ids[i])
		}
		b.WriteString(`]}`)
		a, err = post(p.url("/v1/push"), "application/json", "gzip", gzipped(b.Bytes()))
		switch {
		case err != nil:
			t.Errorf("gzip body inflating to %d bytes: %v", b.Len(), err)
		case a.status == http.StatusOK:
			ack.add(ids...)
		case a.status != http.StatusRequestEntityTooLarge:
			t.Errorf("gzip body inflating to %d bytes: %v, want 200 or 413", b.Len(), a)
		}
		p.requireUp(t)
	})

	t.Run("unsupported content types", func(t *testing.T) {
		bodies := map[string]string{
			"/v1/events": `{"message":"content type"}` + "\n",
			"/_bulk":     `{"create":{"_index":"logs-legit-default"}}` + "\n" + `{"message":"content type"}` + "\n",
			"/v1/push":   `{"events":[{"type":"legit","message":"content type"}]}`,
		}
		for _, path := range []string{"/v1/events", "/_bulk", "/v1/push"} {
			for _, ct := range []string{"text/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "garbage;;"} {
				a, err := post(p.url(path+"?type=legit"), ct, "", []byte(bodies[path]))
				if err != nil || a.status != http.StatusUnsupportedMediaType {
					t.Errorf("%s with Content-Type %q: %v %v, want 415", path, ct, a, err)
				}
			}
		}
		p.requireUp(t)
	})

	t.Run("number out of range", func(t *testing.T) {
		ids := []string{"smaller-num-0", "smaller-num-1", "smaller-num-2"}
		body := fmt.Appendf(nil, `{"message":"ok","legit_id":%q}`+"\n"+`{"message":"inf","legit_id":%q,"n":1e999}`+"\n"+`{"message":"ok","legit_id":%q}`+"\n", ids[0], ids[1], ids[2])
		a, err := post(p.url("/v1/events?type=legit"), "application/x-ndjson", "", body)
		if err != nil {
			t.Fatal(err)
		}
		requireOneRefused(t, a, &ack, ids, "")

		action := `{"create":{"_index":"logs-legit-default"}}`
		bids := []string{"smaller-bnum-0", "smaller-bnum-1"}
		body = fmt.Appendf(nil, "%s\n"+`{"message":"ok","legit_id":%q}`+"\n%s\n"+`{"message":"inf","legit_id":%q,"n":-1e999}`+"\n", action, bids[0], action, bids[1])
		a, err = post(p.url("/_bulk"), "application/x-ndjson", "", body)
		if err != nil {
			t.Fatal(err)
		}
		requireBulkItems(t, a, &ack, bids, []int{201, 400}, "")

		a, err = post(p.url("/v1/push"), "application/json", "", []byte(`{"events":[{"type":"legit","message":"inf","fields":{"n":1e999}}]}`))
		if err != nil || a.status != http.StatusBadRequest {
			t.Errorf("/v1/push with 1e999: %v %v, want 400", a, err)
		}

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = sluicev1.NewIngestServiceClient(grpcConn(t, p)).Push(ctx, &sluicev1.PushRequest{Events: []*sluicev1.Event{
			{Type: "legit", Message: "inf", Fields: &structpb.Struct{Fields: map[string]*structpb.Value{"n": structpb.NewNumberValue(math.Inf(1))}}},
		}})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("gRPC Push with +Inf: %v, want INVALID_ARGUMENT", err)
		}
		p.requireUp(t)
	})

	t.Run("event 100k levels deep", func(t *testing.T) {
		const depth = 100_000
		ids := []string{"smaller-deep-0", "smaller-deep-1", "smaller-deep-2"}
		body := fmt.Appendf(nil, `{"message":"ok","legit_id":%q}`+"\n%s\n"+`{"message":"ok","legit_id":%q}`+"\n", ids[0], deepEvent(ids[1], depth), ids[2])
		a, err := post(p.url("/v1/events?type=legit"), "application/x-ndjson", "", body)
		if err != nil {
			t.Fatal(err)
		}
		requireOneRefused(t, a, &ack, ids, "depth")

		action := `{"create":{"_index":"logs-legit-default"}}`
		bids := []string{"smaller-bdeep-0", "smaller-bdeep-1"}
		body = fmt.Appendf(nil, "%s\n"+`{"message":"ok","legit_id":%q}`+"\n%s\n%s\n", action, bids[0], action, deepEvent(bids[1], depth))
		a, err = post(p.url("/_bulk"), "application/x-ndjson", "", body)
		if err != nil {
			t.Fatal(err)
		}
		requireBulkItems(t, a, &ack, bids, []int{201, 400}, "depth")

		// Within protobuf's own recursion limit (10,000), over limits.max_depth.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = sluicev1.NewIngestServiceClient(grpcConn(t, p)).Push(ctx, &sluicev1.PushRequest{Events: []*sluicev1.Event{
			{Type: "legit", Message: "deep", Fields: deepStruct(1000)},
		}})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(strings.ToLower(fmt.Sprint(status.Convert(err).Proto())), "depth") {
			t.Errorf("gRPC Push of an event 1,000 levels deep: %v, want INVALID_ARGUMENT naming the nesting depth limit", err)
		}
		p.requireUp(t)
	})

	t.Run("invalid protobuf", func(t *testing.T) {
		conn := grpcConn(t, p)
		for _, c := range []struct {
			name string
			msg  func(events protowire.Number) []byte
		}{
			{"garbage", func(protowire.Number) []byte {
				return []byte("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01this is not protobuf")
			}},
			{"truncated", func(f protowire.Number) []byte { return deepPushRequest(3, f)[:9] }},
			{"100k levels deep", func(f protowire.Number) []byte { return deepPushRequest(100_000, f) }},
		} {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			var out []byte
			err := conn.Invoke(ctx, "/sluice.v1.IngestService/Push", c.msg(1), &out, grpc.ForceCodecV2(rawCodec{}))
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("Push of %s: %v, want INVALID_ARGUMENT", c.name, err)
			}
			// The same on the bidirectional stream.
			st, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, "/sluice.v1.IngestService/PushStream", grpc.ForceCodecV2(rawCodec{}))
			if err == nil {
				if err = st.SendMsg(c.msg(2)); err == nil {
					err = st.RecvMsg(&out)
				}
			}
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("PushStream of %s: %v, want INVALID_ARGUMENT", c.name, err)
			}
			cancel()
		}
		p.requireUp(t)
	})

	lg.halt(t)
	p.requireUp(t)
	p.stop(t)
	ack.requireWritten(t, p.dataDir)
}

// requireOneRefused checks a /v1/events answer to ok, bad, ok: 400, the second line
// refused (its reason containing reason, if set), the others accepted (and added to ack).
func requireOneRefused(t *testing.T, a answer, ack *acked, ids []string, reason string) {
	t.Helper()
	var ea eventsAnswer
	if err := json.Unmarshal(a.body, &ea); err != nil {
		t.Errorf("answer %v: %v", a, err)
		return
	}
	rejected := map[int]bool{}
	for _, rj := range ea.Rejections {
		rejected[rj.Index] = true
	}
	if (a.status == http.StatusOK || a.status == http.StatusBadRequest) && ea.Accepted == len(ids)-len(rejected) {
		for i, id := range ids {
			if !rejected[i] {
				ack.add(id)
			}
		}
	}
	if a.status != http.StatusBadRequest || ea.Accepted != len(ids)-1 || len(ea.Rejections) != 1 || ea.Rejections[0].Index != 1 {
		t.Errorf("answer %v, want 400 with line 2 rejected and the others accepted", a)
		return
	}
	if !strings.Contains(strings.ToLower(ea.Rejections[0].Reason), reason) {
		t.Errorf("rejection reason %q, want it to name %q", ea.Rejections[0].Reason, reason)
	}
}

// requireBulkItems checks a _bulk answer: 200 and the items' statuses; the reason of
// every failed item must contain reason; created items are added to ack.
func requireBulkItems(t *testing.T, a answer, ack *acked, ids []string, statuses []int, reason string) {
	t.Helper()
	if a.status != http.StatusOK {
		t.Errorf("_bulk answer %v, want 200 with per-item statuses", a)
		return
	}
	ba, err := parseBulkAnswer(a.body)
	if err != nil {
		t.Error(err)
		return
	}
	if len(ba.Items) != len(ids) {
		t.Errorf("_bulk answer has %d items, want %d: %v", len(ba.Items), len(ids), a)
		return
	}
	for i, it := range ba.Items {
		if it.Status == http.StatusCreated {
			ack.add(ids[i])
		}
		if it.Status != statuses[i] {
			t.Errorf("_bulk item %d: status %d (%s), want %d", i, it.Status, it.Reason, statuses[i])
		} else if it.Status >= 400 && !strings.Contains(strings.ToLower(it.Reason), reason) {
			t.Errorf("_bulk item %d: reason %q, want it to name %q", i, it.Reason, reason)
		}
	}
}
