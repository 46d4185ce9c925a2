package hostile

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	sluicev1 "github.com/sluice-siem/sluice/proto/sluice/v1"
)

// maxTypes is gateway.routing.max_types's default.
const maxTypes = 1000

// TestCardinality sends 3,000 distinct log types to `sluice dev`, 1,000 on each of
// /v1/events, /_bulk and gRPC Push, while a legitimate client keeps sending one known
// type. At most gateway.routing.max_types (1,000) types may be accepted; events of new
// types beyond it are refused one by one with 400 (bulk items 400, gRPC
// INVALID_ARGUMENT) naming the limit, and types already known keep working. The file
// sink's directories and the distinct values of the type label on /metrics must stay
// within the limit, and every acknowledged event must be in the sink.
func TestCardinality(t *testing.T) {
	p := start(t, spec{role: "dev"})
	var ack acked
	lg := startLegit(t, p, "card-legit", &ack)
	time.Sleep(200 * time.Millisecond)

	typeName := func(i int) string { return fmt.Sprintf("card_%04d", i) }
	idOf := func(i int) string { return "card-" + typeName(i) }
	accepted := map[string]bool{} // types with an accepted event
	rejected := 0
	checkReason := func(t *testing.T, where, reason string) {
		if !strings.Contains(strings.ToLower(reason), "type") {
			t.Errorf("%s: reason %q does not name the log type limit", where, reason)
		}
	}

	t.Run("events", func(t *testing.T) {
		var body bytes.Buffer
		for i := range 1000 {
			fmt.Fprintf(&body, `{"message":"new type","legit_id":%q,"fields":{"log_type":%q}}`+"\n", idOf(i), typeName(i))
		}
		a, err := post(p.url("/v1/events"), "application/x-ndjson", "", body.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		var ea eventsAnswer
		if err := json.Unmarshal(a.body, &ea); err != nil {
			t.Fatalf("answer %v: %v", a, err)
		}
		refused := map[int]bool{}
		for _, rj := range ea.Rejections {
			refused[rj.Index] = true
			checkReason(t, fmt.Sprintf("line %d", rj.Line), rj.Reason)
		}
		if a.status == http.StatusOK || a.status == http.StatusBadRequest {
			for i := range 1000 {
				if !refused[i] {
					accepted[typeName(i)] = true
					ack.add(idOf(i))
				}
			}
		}
		rejected += len(refused)
		if len(refused) > 0 && a.status != http.StatusBadRequest {
			t.Errorf("answer with %d rejections: status %d, want 400", len(refused), a.status)
		}
		t.Logf("/v1/events: %d accepted, %d rejected", ea.Accepted, len(refused))
	})

	t.Run("bulk", func(t *testing.T) {
		var body bytes.Buffer
		for i := 1000; i < 2000; i++ {
			fmt.Fprintf(&body, `{"create":{"_index":"logs-%s-default"}}`+"\n"+`{"message":"new type","legit_id":%q}`+"\n", typeName(i), idOf(i))
		}
		a, err := post(p.url("/_bulk"), "application/x-ndjson", "", body.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if a.status != http.StatusOK {
			t.Fatalf("_bulk: %v, want 200 with per-item statuses", a)
		}
		ba, err := parseBulkAnswer(a.body)
		if err != nil || len(ba.Items) != 1000 {
			t.Fatalf("_bulk answer with %d items: %v", len(ba.Items), err)
		}
		n := 0
		for j, it := range ba.Items {
			i := 1000 + j
			switch it.Status {
			case http.StatusCreated:
				accepted[typeName(i)] = true
				ack.add(idOf(i))
			case http.StatusBadRequest:
				rejected++
				n++
				checkReason(t, fmt.Sprintf("item %d", j), it.Reason)
			default:
				t.Errorf("item %d: status %d %s, want 201 or 400", j, it.Status, it.Reason)
			}
		}
		t.Logf("_bulk: %d rejected", n)
	})

	t.Run("grpc", func(t *testing.T) {
		req := &sluicev1.PushRequest{}
		for i := 2000; i < 3000; i++ {
			fields, _ := structpb.NewStruct(map[string]any{"legit_id": idOf(i)})
			req.Events = append(req.Events, &sluicev1.Event{Type: typeName(i), Message: "new type", Fields: fields})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		resp, err := sluicev1.NewIngestServiceClient(grpcConn(t, p)).Push(ctx, req)
		if err != nil {
			// Rejections: the code of their kind, the result in the details.
			st := status.Convert(err)
			for _, d := range st.Details() {
				if r, ok := d.(*sluicev1.PushResponse); ok {
					resp = r
				}
			}
			if resp == nil {
				t.Fatalf("Push: %v", err)
			}
			if st.Code() != codes.InvalidArgument {
				t.Errorf("Push with rejections: %v, want INVALID_ARGUMENT", st.Code())
			}
		}
		refused := map[int32]bool{}
		for _, rj := range resp.GetRejections() {
			refused[rj.GetIndex()] = true
			checkReason(t, fmt.Sprintf("event %d", rj.GetIndex()), rj.GetReason())
		}
		if int(resp.GetAccepted()) == 1000-len(refused) {
			for j := range 1000 {
				if !refused[int32(j)] {
					accepted[typeName(2000+j)] = true
					ack.add(idOf(2000 + j))
				}
			}
		}
		rejected += len(refused)
		t.Logf("gRPC Push: %d accepted, %d rejected", resp.GetAccepted(), len(refused))
	})

	t.Logf("%d of 3000 new types accepted, %d events rejected", len(accepted), rejected)
	if len(accepted) > maxTypes {
		t.Errorf("%d distinct new log types accepted, want at most %d (gateway.routing.max_types)", len(accepted), maxTypes)
	}

	t.Run("known types keep working", func(t *testing.T) {
		if len(accepted) == 0 {
			t.Fatal("no new type was accepted at all")
		}
		for typ := range accepted {
			id := "card-known-" + typ
			a, err := post(p.url("/v1/events?type="+typ), "application/x-ndjson", "", fmt.Appendf(nil, `{"message":"known type","legit_id":%q}`+"\n", id))
			if err != nil || a.status != http.StatusOK {
				t.Errorf("an event of the accepted type %s: %v %v, want 200", typ, a, err)
			} else {
				ack.add(id)
			}
			break
		}
	})

	lg.halt(t)
	p.requireUp(t)

	t.Run("metrics", func(t *testing.T) {
		// Wait until the transform tier has written everything, so that every type it
		// saw is on /metrics.
		var text string
		drained := waitFor(30*time.Second, func() bool {
			a, err := get(p.url("/metrics"))
			if err != nil {
				return false
			}
			text = string(a.body)
			m := regexp.MustCompile(`(?m)^sluice_stream_used_bytes(?:\{[^}]*\})? (\S+)$`).FindAllStringSubmatch(text, -1)
			if len(m) == 0 {
				return false
			}
			for _, v := range m {
				if f, err := strconv.ParseFloat(v[1], 64); err != nil || f != 0 {
					return false
				}
			}
			return true
		})
		if !drained {
			t.Errorf("the embedded stream did not drain within 30s (sluice_stream_used_bytes)")
		}
		types := map[string]bool{}
		for _, m := range regexp.MustCompile(`[{,]type="([^"]*)"`).FindAllStringSubmatch(text, -1) {
			types[m[1]] = true
		}
		t.Logf("/metrics: %d distinct values of the type label", len(types))
		if len(types) > maxTypes+2 {
			t.Errorf("/metrics has %d distinct values of the type label, want at most about %d (gateway.routing.max_types)", len(types), maxTypes)
		}
	})

	p.stop(t)

	ents, err := os.ReadDir(p.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	dirs := 0
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), "_") {
			dirs++
		}
	}
	t.Logf("file sink: %d type directories", dirs)
	if dirs > maxTypes {
		t.Errorf("file sink has %d type directories, want at most %d (gateway.routing.max_types)", dirs, maxTypes)
	}
	ack.requireWritten(t, p.dataDir)
}

// get fetches url.
func get(url string) (answer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return answer{}, err
	}
	return do(req)
}
