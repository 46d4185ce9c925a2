package grpcrecv_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/gateway/grpcrecv"
	"github.com/sluice-siem/sluice/internal/bytesize"
	sluicev1 "github.com/sluice-siem/sluice/proto/sluice/v1"
	"github.com/sluice-siem/sluice/stream/embedded"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestPushRoutesAndBuildsDocuments pushes events of several types and checks, in the
// stream, where each one landed and the exact document it became.
func TestPushRoutesAndBuildsDocuments(t *testing.T) {
	h := newHarness(t, setup{})
	at := time.Date(2026, 11, 26, 7, 0, 0, 123456789, time.FixedZone("CET", 3600))
	events := []*sluicev1.Event{
		// Explicit message and time win over fields of the same name; fields sorted.
		withFields(t, &sluicev1.Event{Type: "firewall", Message: "deny tcp 10.0.0.1:5000 to 10.0.0.2:443",
			Time: timestamppb.New(at), PartitionKey: "host-a"},
			map[string]any{"src_ip": "10.0.0.1", "action": "deny", "dst_port": 443, "blocked": true,
				"message": "shadowed", "@timestamp": "shadowed"}),
		withFields(t, &sluicev1.Event{Type: "ids", Message: "ET SCAN", Time: timestamppb.New(at)},
			map[string]any{"sid": 2001219, "severity": 2}),
		// No message of its own: the field's message stays. No time: no @timestamp.
		withFields(t, &sluicev1.Event{Type: "waf"}, map[string]any{"message": "GET /admin", "status": 403}),
		// Unknown type goes to the default stream; without a time, a field @timestamp stays.
		withFields(t, &sluicev1.Event{Type: "dns", Message: "query example.org"},
			map[string]any{"qtype": "AAAA", "@timestamp": "2026-01-01T00:00:00Z", "nothing": nil}),
		// No type: taken from the configured type fields (event.dataset, fields.log_type).
		withFields(t, &sluicev1.Event{Message: "typed by event.dataset"},
			map[string]any{"event": map[string]any{"dataset": "ids"}, "tags": []any{"a", 1.5, false}}),
		withFields(t, &sluicev1.Event{Message: `typed by fields.log_type <&> "q" ünï`},
			map[string]any{"fields": map[string]any{"log_type": "waf"}}),
		event("firewall", "fw-1"),
		event("firewall", "fw-2"),
	}
	before := time.Now()
	resp, err := h.client.Push(ctxT(t), &sluicev1.PushRequest{Events: events})
	after := time.Now()
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	if resp.GetAccepted() != int32(len(events)) || len(resp.GetRejections()) != 0 {
		t.Fatalf("Push = accepted %d, rejections %v; want %d, none", resp.GetAccepted(), resp.GetRejections(), len(events))
	}

	recs := h.settle()
	if len(recs) != len(events) {
		t.Fatalf("stream holds %d records, want %d: %+v", len(recs), len(events), recs)
	}
	byMsg := map[string]got{}
	for _, r := range recs {
		m, _ := r.Doc["message"].(string)
		if _, dup := byMsg[m]; dup {
			t.Errorf("message %q is in the stream twice", m)
		}
		byMsg[m] = r
	}
	ts := "2026-11-26T06:00:00.123456789Z"
	want := []struct {
		message, stream, typ string
		// exact is the exact document, when it has only scalar values (protojson adds
		// random whitespace inside objects and lists, so those compare by value).
		exact string
		doc   map[string]any
		keys  []string // top-level keys in order
	}{
		{
			message: "deny tcp 10.0.0.1:5000 to 10.0.0.2:443", stream: "sluice-firewall", typ: "firewall",
			exact: `{"@timestamp":"` + ts + `","message":"deny tcp 10.0.0.1:5000 to 10.0.0.2:443","action":"deny","blocked":true,"dst_port":443,"src_ip":"10.0.0.1"}`,
			keys:  []string{"@timestamp", "message", "action", "blocked", "dst_port", "src_ip"},
		},
		{
			message: "ET SCAN", stream: "sluice-ids", typ: "ids",
			exact: `{"@timestamp":"` + ts + `","message":"ET SCAN","severity":2,"sid":2001219}`,
		},
		{
			message: "GET /admin", stream: "sluice-waf", typ: "waf",
			exact: `{"message":"GET /admin","status":403}`,
		},
		{
			message: "query example.org", stream: "sluice-default", typ: "dns",
			exact: `{"message":"query example.org","@timestamp":"2026-01-01T00:00:00Z","nothing":null,"qtype":"AAAA"}`,
		},
		{
			message: "typed by event.dataset", stream: "sluice-ids", typ: "ids",
			doc: map[string]any{"message": "typed by event.dataset", "event": map[string]any{"dataset": "ids"},
				"tags": []any{"a", 1.5, false}},
			keys: []string{"message", "event", "tags"},
		},
		{
			message: `typed by fields.log_type <&> "q" ünï`, stream: "sluice-waf", typ: "waf",
			doc: map[string]any{"message": `typed by fields.log_type <&> "q" ünï`, "fields": map[string]any{"log_type": "waf"}},
		},
		{message: "fw-1", stream: "sluice-firewall", typ: "firewall", exact: `{"message":"fw-1"}`},
		{message: "fw-2", stream: "sluice-firewall", typ: "firewall", exact: `{"message":"fw-2"}`},
	}
	for _, w := range want {
		r, ok := byMsg[w.message]
		if !ok {
			t.Errorf("event %q is not in the stream", w.message)
			continue
		}
		if r.Stream != w.stream || r.Type != w.typ {
			t.Errorf("event %q: in stream %s as type %q, want %s as %q", w.message, r.Stream, r.Type, w.stream, w.typ)
		}
		if w.exact != "" && string(r.Event) != w.exact {
			t.Errorf("event %q document:\n got %s\nwant %s", w.message, r.Event, w.exact)
		}
		if w.doc != nil && !reflect.DeepEqual(r.Doc, w.doc) {
			t.Errorf("event %q document = %v, want %v", w.message, r.Doc, w.doc)
		}
		if w.keys != nil {
			if keys := topKeys(t, r.Event); !slices.Equal(keys, w.keys) {
				t.Errorf("event %q keys in order %q, want %q", w.message, keys, w.keys)
			}
		}
		// The envelope's received time is when the gateway took the batch.
		if r.Received.Before(before.Add(-time.Millisecond)) || r.Received.After(after.Add(time.Millisecond)) {
			t.Errorf("event %q received %v, not between %v and %v", w.message, r.Received, before, after)
		}
	}
	if got := messages(recs, "sluice-firewall"); !slices.Equal(sorted(got), sorted([]string{"deny tcp 10.0.0.1:5000 to 10.0.0.2:443", "fw-1", "fw-2"})) {
		t.Errorf("sluice-firewall holds %q", got)
	}
	if r := byMsg["deny tcp 10.0.0.1:5000 to 10.0.0.2:443"]; r.Key != "host-a" {
		t.Errorf("partition key = %q, want host-a", r.Key)
	}
}

// topKeys returns the top-level keys of a JSON object in document order.
func topKeys(t *testing.T, doc []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("document %s is not an object: %v", doc, err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// kinesisShard is the shard a partition key maps to among 4 equal hash-key ranges, as
// Kinesis computes it: the top two bits of the key's MD5.
func kinesisShard(key string) string {
	sum := md5.Sum([]byte(key))
	return fmt.Sprintf("shardId-%012d", sum[0]>>6)
}

// TestPushPartitionKeys checks that partition_key is the record's key: records with one
// key share the shard Kinesis would pick and keep their order; events without a key
// get distinct random keys.
func TestPushPartitionKeys(t *testing.T) {
	h := newHarness(t, setup{stream: embedded.Config{Shards: 4}})
	keys := []string{"host-a", "host-b", "host-c", "host-d", "host-e"}
	var events []*sluicev1.Event
	for i := range 40 {
		k := keys[i%len(keys)]
		events = append(events, &sluicev1.Event{Type: "firewall", Message: fmt.Sprintf("%s/%02d", k, i), PartitionKey: k})
	}
	for i := range 20 {
		events = append(events, event("firewall", fmt.Sprintf("nokey/%02d", i)))
	}
	long := strings.Repeat("k", 300)
	events = append(events, &sluicev1.Event{Type: "ids", Message: "long key", PartitionKey: long})

	resp, err := h.client.Push(ctxT(t), &sluicev1.PushRequest{Events: events})
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	if resp.GetAccepted() != int32(len(events)) {
		t.Fatalf("accepted %d, want %d", resp.GetAccepted(), len(events))
	}
	recs := h.settle()
	if len(recs) != len(events) {
		t.Fatalf("stream holds %d records, want %d", len(recs), len(events))
	}
	perKey := map[string][]string{}
	randomKeys := map[string]bool{}
	for _, r := range recs {
		msg := r.Doc["message"].(string)
		switch {
		case strings.HasPrefix(msg, "host-"):
			k, _, _ := strings.Cut(msg, "/")
			if r.Key != k {
				t.Errorf("%s: partition key %q, want %q", msg, r.Key, k)
			}
			if want := kinesisShard(k); r.Shard != want {
				t.Errorf("%s: in %s, want %s (MD5 of its key)", msg, r.Shard, want)
			}
			perKey[k] = append(perKey[k], msg)
		case strings.HasPrefix(msg, "nokey/"):
			if r.Key == "" || randomKeys[r.Key] {
				t.Errorf("%s: partition key %q is empty or reused", msg, r.Key)
			}
			randomKeys[r.Key] = true
		case msg == "long key":
			if r.Key != long[:256] {
				t.Errorf("long partition key kept as %d bytes, want its first 256", len(r.Key))
			}
		}
	}
	for _, k := range keys {
		if len(perKey[k]) != 8 || !slices.IsSorted(perKey[k]) {
			t.Errorf("key %s: records in delivery order %q, want 8 in the order sent", k, perKey[k])
		}
	}
	if len(randomKeys) != 20 {
		t.Errorf("%d distinct random keys, want 20", len(randomKeys))
	}
}

// TestPushRejections checks that bad events are reported by index with the right code
// and details, and that the good events of the same batch are durable in the stream.
func TestPushRejections(t *testing.T) {
	tests := []struct {
		name     string
		config   func(*gateway.Config)
		events   func(t *testing.T) []*sluicev1.Event
		accepted int32
		rejected map[int32]string // index -> part of the reason
		stream   []string         // messages in sluice-firewall afterwards
	}{
		{
			name: "invalid type",
			events: func(*testing.T) []*sluicev1.Event {
				return []*sluicev1.Event{event("BAD", "bad"), event("firewall", "ok")}
			},
			accepted: 1, rejected: map[int32]string{0: `invalid log type "BAD"`}, stream: []string{"ok"},
		},
		{
			name:   "unknown type with unknown_types reject",
			config: func(c *gateway.Config) { c.Routing.UnknownTypes = "reject" },
			events: func(*testing.T) []*sluicev1.Event {
				return []*sluicev1.Event{event("firewall", "ok"), event("dns", "q")}
			},
			accepted: 1, rejected: map[int32]string{1: `unknown log type "dns"`}, stream: []string{"ok"},
		},
		{
			name:   "oversized event",
			config: func(c *gateway.Config) { c.Limits.MaxEventBytes = 200 },
			events: func(*testing.T) []*sluicev1.Event {
				return []*sluicev1.Event{event("firewall", "a"), event("firewall", strings.Repeat("x", 500)), event("firewall", "c")}
			},
			accepted: 2, rejected: map[int32]string{1: "limits.max_event_bytes"}, stream: []string{"a", "c"},
		},
		{
			name: "non-finite numbers",
			events: func(t *testing.T) []*sluicev1.Event {
				inf := event("firewall", "inf")
				inf.Fields = &structpb.Struct{Fields: map[string]*structpb.Value{"n": structpb.NewNumberValue(math.Inf(-1))}}
				nested := event("firewall", "nested")
				nested.Fields = &structpb.Struct{Fields: map[string]*structpb.Value{"obj": structpb.NewStructValue(
					&structpb.Struct{Fields: map[string]*structpb.Value{"n": structpb.NewNumberValue(math.NaN())}})}}
				return []*sluicev1.Event{
					{Type: "firewall", Message: "nan", Fields: &structpb.Struct{Fields: map[string]*structpb.Value{"n": structpb.NewNumberValue(math.NaN())}}},
					withFields(t, event("firewall", "ok"), map[string]any{"n": 1e308}),
					inf,
					nested,
				}
			},
			accepted: 1,
			rejected: map[int32]string{0: `field "n": number is not finite`, 2: `field "n": number is not finite`, 3: `field "obj"`},
			stream:   []string{"ok"},
		},
		{
			name: "invalid time",
			events: func(*testing.T) []*sluicev1.Event {
				return []*sluicev1.Event{
					event("firewall", "ok"),
					{Type: "firewall", Message: "late", Time: &timestamppb.Timestamp{Seconds: 1 << 40}},
				}
			},
			accepted: 1, rejected: map[int32]string{1: "invalid time"}, stream: []string{"ok"},
		},
		{
			name: "no type",
			events: func(*testing.T) []*sluicev1.Event {
				return []*sluicev1.Event{event("", "who am i"), event("firewall", "ok")}
			},
			accepted: 1, rejected: map[int32]string{0: "no log type"}, stream: []string{"ok"},
		},
		{
			name: "all rejected",
			events: func(*testing.T) []*sluicev1.Event {
				return []*sluicev1.Event{event("BAD", "a"), event("Nope", "b")}
			},
			accepted: 0, rejected: map[int32]string{0: "invalid log type", 1: "invalid log type"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, setup{config: tt.config})
			events := tt.events(t)
			resp, err := h.client.Push(ctxT(t), &sluicev1.PushRequest{Events: events})
			if resp != nil {
				t.Errorf("Push answered %v with rejections, want a status error", resp)
			}
			checkRejected(t, err, codes.InvalidArgument, tt.accepted, tt.rejected)
			recs := h.settle()
			if got := messages(recs, "sluice-firewall"); !slices.Equal(sorted(got), sorted(tt.stream)) {
				t.Errorf("sluice-firewall holds %q, want %q", got, tt.stream)
			}
			if len(recs) != len(tt.stream) {
				t.Errorf("stream holds %d records, want %d", len(recs), len(tt.stream))
			}
		})
	}
}

// checkRejected checks a Push error that reports rejections: its code, the PushResponse
// and BadRequest details, and the message naming the first rejection.
func checkRejected(t *testing.T, err error, code codes.Code, accepted int32, rejected map[int32]string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("Push error = %v, want code %v", err, code)
	}
	resp, br, ri := details(err)
	if resp == nil || br == nil {
		t.Fatalf("status details %v lack the PushResponse or the BadRequest", status.Convert(err).Details())
	}
	if ri != nil {
		t.Errorf("rejection carries RetryInfo %v; resending the same events cannot help", ri)
	}
	if resp.GetAccepted() != accepted {
		t.Errorf("details: accepted %d, want %d", resp.GetAccepted(), accepted)
	}
	var idx []int32
	for _, rj := range resp.GetRejections() {
		idx = append(idx, rj.GetIndex())
		if want, ok := rejected[rj.GetIndex()]; !ok || !strings.Contains(rj.GetReason(), want) {
			t.Errorf("rejection %d: reason %q, want it to contain %q", rj.GetIndex(), rj.GetReason(), want)
		}
	}
	var wantIdx []int32
	for i := range rejected {
		wantIdx = append(wantIdx, i)
	}
	slices.Sort(wantIdx)
	if !slices.Equal(idx, wantIdx) {
		t.Errorf("rejected indexes %v, want %v", idx, wantIdx)
	}
	if len(br.GetFieldViolations()) != len(resp.GetRejections()) {
		t.Fatalf("%d field violations for %d rejections", len(br.GetFieldViolations()), len(resp.GetRejections()))
	}
	for i, fv := range br.GetFieldViolations() {
		rj := resp.GetRejections()[i]
		if want := fmt.Sprintf("events[%d]", rj.GetIndex()); fv.GetField() != want || fv.GetDescription() != rj.GetReason() {
			t.Errorf("field violation %d = %q: %q, want %q: %q", i, fv.GetField(), fv.GetDescription(), want, rj.GetReason())
		}
	}
	msg := status.Convert(err).Message()
	if want := fmt.Sprintf("(%d accepted); first: events[%d]", accepted, wantIdx[0]); !strings.Contains(msg, want) {
		t.Errorf("status message %q does not contain %q", msg, want)
	}
}

// TestPushBatchLimits checks the limits that refuse a whole batch.
func TestPushBatchLimits(t *testing.T) {
	t.Run("max batch events", func(t *testing.T) {
		h := newHarness(t, setup{config: func(c *gateway.Config) { c.Limits.MaxBatchEvents = 3 }})
		events := []*sluicev1.Event{event("firewall", "1"), event("firewall", "2"), event("firewall", "3"), event("firewall", "4")}
		_, err := h.client.Push(ctxT(t), &sluicev1.PushRequest{Events: events})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "limits.max_batch_events") {
			t.Fatalf("Push of 4 events with a limit of 3 = %v, want InvalidArgument naming the limit", err)
		}
		if resp, _, ri := details(err); resp != nil || ri != nil {
			t.Errorf("whole-batch refusal carries details %v %v", resp, ri)
		}
		if recs := h.settle(); len(recs) != 0 {
			t.Errorf("stream holds %d records after a refused batch", len(recs))
		}
		// Exactly at the limit is fine.
		if resp, err := h.client.Push(ctxT(t), &sluicev1.PushRequest{Events: events[:3]}); err != nil || resp.GetAccepted() != 3 {
			t.Errorf("Push of 3 events = %v, %v; want 3 accepted", resp, err)
		}
	})
	t.Run("message larger than max decoded bytes", func(t *testing.T) {
		h := newHarness(t, setup{config: func(c *gateway.Config) {
			c.Limits.MaxBodyBytes, c.Limits.MaxDecodedBytes = 4*bytesize.KiB, 4*bytesize.KiB
		}})
		_, err := h.client.Push(ctxT(t), &sluicev1.PushRequest{Events: []*sluicev1.Event{event("firewall", strings.Repeat("x", 8<<10))}})
		// gRPC itself refuses the message, with RESOURCE_EXHAUSTED; unlike backpressure it
		// carries no RetryInfo, which is how a client tells the two apart.
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("Push of an 8 KiB message with a 4 KiB limit = %v, want ResourceExhausted", err)
		}
		if _, _, ri := details(err); ri != nil {
			t.Errorf("oversized message carries RetryInfo %v", ri)
		}
		if recs := h.settle(); len(recs) != 0 {
			t.Errorf("stream holds %d records", len(recs))
		}
	})
	t.Run("empty batch", func(t *testing.T) {
		h := newHarness(t, setup{})
		resp, err := h.client.Push(ctxT(t), &sluicev1.PushRequest{})
		if err != nil || resp.GetAccepted() != 0 || len(resp.GetRejections()) != 0 {
			t.Fatalf("empty Push = %v, %v; want OK with nothing accepted", resp, err)
		}
	})
}

const secret = "secret"

func authConfig(c *gateway.Config) {
	c.Auth.Keys = []gateway.APIKey{{Name: "fw-shipper", SHA256: gateway.HashKey(secret), Types: []string{"firewall"}}}
}

// TestAuth checks API keys on every IngestService call, and per-type permissions.
func TestAuth(t *testing.T) {
	h := newHarness(t, setup{config: authConfig, health: true})
	fw := &sluicev1.PushRequest{Events: []*sluicev1.Event{event("firewall", "fw")}}

	for _, tc := range []struct{ name, authorization string }{
		{"no key", ""},
		{"wrong key", "Bearer not-the-secret"},
		{"wrong scheme", "Basic " + secret},
		{"empty bearer", "Bearer "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			if tc.authorization != "" {
				ctx = metadataCtx(ctx, tc.authorization)
			}
			_, err := h.client.Push(ctx, fw)
			if status.Code(err) != codes.Unauthenticated {
				t.Errorf("Push = %v, want Unauthenticated", err)
			}
			if strings.Contains(status.Convert(err).Message(), secret) && tc.authorization != "" {
				t.Errorf("error %q repeats the presented key", err)
			}
			ps, err := h.client.PushStream(ctx)
			if err == nil {
				_ = ps.Send(&sluicev1.PushStreamRequest{Id: "x", Events: fw.Events})
				_ = ps.CloseSend()
				_, err = ps.Recv()
			}
			if status.Code(err) != codes.Unauthenticated {
				t.Errorf("PushStream = %v, want Unauthenticated", err)
			}
		})
	}
	if recs := h.settle(); len(recs) != 0 {
		t.Fatalf("unauthenticated calls put %d records in the stream", len(recs))
	}

	t.Run("right key", func(t *testing.T) {
		resp, err := h.client.Push(withBearer(ctxT(t), secret), fw)
		if err != nil || resp.GetAccepted() != 1 {
			t.Fatalf("Push with the right key = %v, %v; want 1 accepted", resp, err)
		}
		// The scheme is case-insensitive, as in HTTP.
		ctx := metadataCtx(ctxT(t), "bearer "+secret)
		if _, err := h.client.Push(ctx, fw); err != nil {
			t.Errorf("Push with lowercase bearer: %v", err)
		}
	})
	t.Run("type not allowed", func(t *testing.T) {
		ids := &sluicev1.PushRequest{Events: []*sluicev1.Event{event("ids", "i1"), event("ids", "i2")}}
		_, err := h.client.Push(withBearer(ctxT(t), secret), ids)
		checkRejected(t, err, codes.PermissionDenied, 0, map[int32]string{0: `may not send log type "ids"`, 1: `may not send log type "ids"`})
	})
	t.Run("mixed allowed and not allowed", func(t *testing.T) {
		mixed := &sluicev1.PushRequest{Events: []*sluicev1.Event{event("ids", "i3"), event("firewall", "fw-mixed")}}
		_, err := h.client.Push(withBearer(ctxT(t), secret), mixed)
		checkRejected(t, err, codes.PermissionDenied, 1, map[int32]string{0: `may not send log type "ids"`})
	})
	t.Run("mixed kinds of rejection", func(t *testing.T) {
		mixed := &sluicev1.PushRequest{Events: []*sluicev1.Event{event("ids", "i4"), event("BAD", "b"), event("firewall", "fw-kinds")}}
		_, err := h.client.Push(withBearer(ctxT(t), secret), mixed)
		checkRejected(t, err, codes.InvalidArgument, 1, map[int32]string{0: "may not send", 1: "invalid log type"})
	})
	t.Run("stream with key", func(t *testing.T) {
		ps, err := h.client.PushStream(withBearer(ctxT(t), secret))
		if err != nil {
			t.Fatal(err)
		}
		_ = ps.Send(&sluicev1.PushStreamRequest{Id: "ok", Events: []*sluicev1.Event{event("firewall", "fw-stream")}})
		_ = ps.Send(&sluicev1.PushStreamRequest{Id: "denied", Events: []*sluicev1.Event{event("ids", "i5")}})
		_ = ps.CloseSend()
		acks := recvAll(t, ps)
		if a := acks["ok"]; a == nil || a.GetCode() != 0 || a.GetAccepted() != 1 {
			t.Errorf("ack ok = %v, want code 0, 1 accepted", a)
		}
		if a := acks["denied"]; a == nil || codes.Code(a.GetCode()) != codes.PermissionDenied || len(a.GetRejections()) != 1 {
			t.Errorf("ack denied = %v, want code %d with one rejection", a, codes.PermissionDenied)
		}
	})
	t.Run("health needs no key", func(t *testing.T) {
		resp, err := healthpb.NewHealthClient(h.conn).Check(ctxT(t), &healthpb.HealthCheckRequest{Service: sluicev1.IngestService_ServiceDesc.ServiceName})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health Check without a key = %v, %v; want SERVING", resp, err)
		}
	})

	recs := h.settle()
	want := []string{"fw", "fw", "fw-mixed", "fw-kinds", "fw-stream"}
	if got := messages(recs, "sluice-firewall"); !slices.Equal(sorted(got), sorted(want)) || len(recs) != len(want) {
		t.Errorf("stream holds %q (%d records), want exactly %q", got, len(recs), want)
	}
}

func metadataCtx(ctx context.Context, authorization string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", authorization)
}

// recvAll receives acknowledgements until the stream ends, which must be io.EOF, and
// returns them by id; a second ack for one id is an error.
func recvAll(t *testing.T, ps sluicev1.IngestService_PushStreamClient) map[string]*sluicev1.PushStreamResponse {
	t.Helper()
	acks := map[string]*sluicev1.PushStreamResponse{}
	for {
		a, err := ps.Recv()
		if errors.Is(err, io.EOF) {
			return acks
		}
		if err != nil {
			t.Fatalf("PushStream Recv: %v (acks so far %v)", err, acks)
		}
		if _, dup := acks[a.GetId()]; dup {
			t.Errorf("second ack for batch %q", a.GetId())
		}
		acks[a.GetId()] = a
	}
}

// TestPushStream sends several batches on one stream and checks one acknowledgement per
// batch, the rejections of a bad batch, and the end of the stream after CloseSend.
func TestPushStream(t *testing.T) {
	h := newHarness(t, setup{svc: grpcrecv.Options{StreamConcurrency: 3}})
	ps, err := h.client.PushStream(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	const batches = 12
	var want []string
	for i := range batches {
		req := &sluicev1.PushStreamRequest{Id: fmt.Sprintf("b%02d", i)}
		for j := range i%4 + 1 {
			typ := []string{"firewall", "ids", "waf", "dns"}[j]
			msg := fmt.Sprintf("b%02d-%d", i, j)
			if i == 5 && j == 1 {
				typ = "BAD"
			} else {
				want = append(want, msg)
			}
			req.Events = append(req.Events, event(typ, msg))
		}
		if err := ps.Send(req); err != nil {
			t.Fatalf("Send %s: %v", req.Id, err)
		}
	}
	if err := ps.CloseSend(); err != nil {
		t.Fatal(err)
	}
	acks := recvAll(t, ps)
	if len(acks) != batches {
		t.Fatalf("%d acks, want %d: %v", len(acks), batches, acks)
	}
	for i := range batches {
		id := fmt.Sprintf("b%02d", i)
		a := acks[id]
		n := int32(i%4 + 1)
		if i == 5 {
			if codes.Code(a.GetCode()) != codes.InvalidArgument || a.GetAccepted() != n-1 ||
				len(a.GetRejections()) != 1 || a.GetRejections()[0].GetIndex() != 1 ||
				!strings.Contains(a.GetRejections()[0].GetReason(), "invalid log type") || a.GetMessage() == "" {
				t.Errorf("ack %s = %v, want code 3, %d accepted, rejection of events[1]", id, a, n-1)
			}
			continue
		}
		if a.GetCode() != 0 || a.GetAccepted() != n || len(a.GetRejections()) != 0 || a.GetMessage() != "" {
			t.Errorf("ack %s = %v, want code 0 with %d accepted", id, a, n)
		}
	}
	recs := h.settle()
	var gotMsgs []string
	for _, r := range recs {
		gotMsgs = append(gotMsgs, r.Doc["message"].(string))
	}
	if !slices.Equal(sorted(gotMsgs), sorted(want)) {
		t.Errorf("stream holds %q, want exactly %q", sorted(gotMsgs), sorted(want))
	}
}

// TestPushStreamClientCancel checks that a stream the client abandons ends on the
// server (goleak would see its goroutines otherwise) and the service keeps serving.
func TestPushStreamClientCancel(t *testing.T) {
	h := newHarness(t, setup{})
	ctx, cancel := context.WithCancel(ctxT(t))
	ps, err := h.client.PushStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ps.Send(&sluicev1.PushStreamRequest{Id: "one", Events: []*sluicev1.Event{event("firewall", "one")}}); err != nil {
		t.Fatal(err)
	}
	if a, err := ps.Recv(); err != nil || a.GetId() != "one" || a.GetAccepted() != 1 {
		t.Fatalf("first ack = %v, %v", a, err)
	}
	cancel()
	if _, err := ps.Recv(); status.Code(err) != codes.Canceled {
		t.Errorf("Recv after cancel = %v, want Canceled", err)
	}
	if resp, err := h.client.Push(ctxT(t), &sluicev1.PushRequest{Events: []*sluicev1.Event{event("firewall", "two")}}); err != nil || resp.GetAccepted() != 1 {
		t.Errorf("Push after an abandoned stream = %v, %v", resp, err)
	}
	if got := messages(h.settle(), "sluice-firewall"); !slices.Equal(sorted(got), []string{"one", "two"}) {
		t.Errorf("stream holds %q", got)
	}
}

// bigEvent is a firewall event whose record is a bit over 1 KiB.
func bigEvent(msg string) *sluicev1.Event {
	return &sluicev1.Event{Type: "firewall", Message: msg + strings.Repeat("x", 1000), PartitionKey: "k"}
}

// TestBackpressure fills a small stream that nobody consumes and checks that every
// transport turns the full stream into "retry later" with a delay, that nothing of a
// refused batch stays in the stream, and that a resend succeeds once there is room.
func TestBackpressure(t *testing.T) {
	h := newHarness(t, setup{
		noConsumer: true,
		stream:     embedded.Config{MaxBytes: 4096, MaxRecordBytes: 2048},
		config:     func(c *gateway.Config) { c.Limits.BackpressureWait = 100 * time.Millisecond },
	})
	url := h.rest(nil)
	fill := &sluicev1.PushRequest{Events: []*sluicev1.Event{bigEvent("fill-0"), bigEvent("fill-1"), bigEvent("fill-2")}}
	if resp, err := h.client.Push(ctxT(t), fill); err != nil || resp.GetAccepted() != 3 {
		t.Fatalf("filling Push = %v, %v", resp, err)
	}
	full := h.ms.Used()
	if full <= 3000 || full > h.ms.Capacity() {
		t.Fatalf("stream uses %d of %d bytes after filling", full, h.ms.Capacity())
	}
	over := &sluicev1.PushRequest{Events: []*sluicev1.Event{bigEvent("over-0"), bigEvent("over-1")}}

	t.Run("grpc", func(t *testing.T) {
		start := time.Now()
		_, err := h.client.Push(ctxT(t), over)
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("Push into a full stream = %v, want ResourceExhausted", err)
		}
		if time.Since(start) < 100*time.Millisecond {
			t.Errorf("refused after %v, before backpressure_wait", time.Since(start))
		}
		resp, _, ri := details(err)
		if ri == nil || ri.GetRetryDelay().AsDuration() != time.Second {
			t.Errorf("RetryInfo = %v, want a 1s delay", ri)
		}
		if resp != nil {
			t.Errorf("refused batch carries a PushResponse %v", resp)
		}
	})
	t.Run("rest", func(t *testing.T) {
		body := `{"events":[{"type":"firewall","message":"` + strings.Repeat("y", 1000) + `"},{"type":"firewall","message":"` + strings.Repeat("z", 1000) + `"}]}`
		r := postJSON(t, url, body)
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "1" {
			t.Errorf("REST push into a full stream = %d, Retry-After %q; want 429, 1: %s", r.status, r.header.Get("Retry-After"), r.body)
		}
		var st spb.Status
		if err := protojson.Unmarshal(r.body, &st); err != nil || codes.Code(st.GetCode()) != codes.ResourceExhausted {
			t.Errorf("REST error body %s (%v), want code 8", r.body, err)
		}
	})
	t.Run("stream", func(t *testing.T) {
		ps, err := h.client.PushStream(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		_ = ps.Send(&sluicev1.PushStreamRequest{Id: "over", Events: over.Events})
		_ = ps.Send(&sluicev1.PushStreamRequest{Id: "bad-only", Events: []*sluicev1.Event{event("BAD", "b")}})
		_ = ps.CloseSend()
		acks := recvAll(t, ps)
		if a := acks["over"]; a == nil || codes.Code(a.GetCode()) != codes.ResourceExhausted || a.GetAccepted() != 0 || a.GetMessage() == "" {
			t.Errorf("ack of a batch that does not fit = %v, want code 8", a)
		}
		// A batch with nothing to produce does not wait for room.
		if a := acks["bad-only"]; a == nil || codes.Code(a.GetCode()) != codes.InvalidArgument {
			t.Errorf("ack of a rejected-only batch = %v, want code 3", a)
		}
	})
	if used := h.ms.Used(); used != full || used > h.ms.Capacity() {
		t.Errorf("stream uses %d bytes after refused batches, want %d (capacity %d)", used, full, h.ms.Capacity())
	}

	// Once a consumer frees room, the resent batch is accepted.
	h.consume()
	if resp, err := h.client.Push(ctxT(t), over); err != nil || resp.GetAccepted() != 2 {
		t.Fatalf("resend after room was freed = %v, %v", resp, err)
	}
	recs := h.settle()
	var gotMsgs []string
	for _, r := range recs {
		gotMsgs = append(gotMsgs, strings.TrimRight(r.Doc["message"].(string), "x"))
	}
	if want := []string{"fill-0", "fill-1", "fill-2", "over-0", "over-1"}; !slices.Equal(gotMsgs, want) {
		t.Errorf("stream delivered %q, want exactly %q (one shard, in order)", gotMsgs, want)
	}
}

// TestREST checks the REST mapping of Push: JSON in, JSON out, statuses from codes.
func TestREST(t *testing.T) {
	h := newHarness(t, setup{})
	url := h.rest(nil)

	t.Run("accepted", func(t *testing.T) {
		r := postJSON(t, url, `{"events":[{"type":"firewall","message":"x"}]}`)
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		var body map[string]any
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatal(err)
		}
		if want := map[string]any{"accepted": float64(1), "rejections": []any{}}; !reflect.DeepEqual(body, want) {
			t.Errorf("body %s, want %v", r.body, want)
		}
	})
	t.Run("json names and well-known types", func(t *testing.T) {
		r := postJSON(t, url, `{"events":[{"type":"ids","message":"rest-ids","partitionKey":"pk-1",
			"time":"2026-11-26T07:00:00.5+01:00","fields":{"sid":7,"nested":{"a":[1,"b"]}}},
			{"type":"waf","message":"rest-waf","partition_key":"pk-2"}]}`)
		if r.status != http.StatusOK || !bytes.Contains(r.body, []byte(`"accepted":2`)) {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	})
	t.Run("malformed json", func(t *testing.T) {
		for _, body := range []string{`{"events":[{"type":`, `{"events":[{"type":"firewall","message":"typo","typo":1}]}`, `{"events":[{"type":"firewall","fields":{"n":NaN}}]}`, `[]`} {
			r := postJSON(t, url, body)
			var st spb.Status
			if r.status != http.StatusBadRequest || protojson.Unmarshal(r.body, &st) != nil || codes.Code(st.GetCode()) != codes.InvalidArgument {
				t.Errorf("body %s: status %d %s, want 400 with code 3", body, r.status, r.body)
			}
		}
	})
	t.Run("rejection", func(t *testing.T) {
		r := postJSON(t, url, `{"events":[{"type":"BAD","message":"b"},{"type":"firewall","message":"rest-ok"}]}`)
		if r.status != http.StatusBadRequest {
			t.Fatalf("status %d, want 400: %s", r.status, r.body)
		}
		var st spb.Status
		if err := protojson.Unmarshal(r.body, &st); err != nil {
			t.Fatalf("error body %s: %v", r.body, err)
		}
		checkRejected(t, status.FromProto(&st).Err(), codes.InvalidArgument, 1, map[int32]string{0: "invalid log type"})
	})

	recs := h.settle()
	byMsg := map[string]got{}
	for _, r := range recs {
		byMsg[r.Doc["message"].(string)] = r
	}
	if len(recs) != 4 || len(byMsg) != 4 {
		t.Fatalf("stream holds %d records %v, want x, rest-ids, rest-waf, rest-ok", len(recs), byMsg)
	}
	if r := byMsg["x"]; r.Stream != "sluice-firewall" {
		t.Errorf("x in %s", r.Stream)
	}
	ids := byMsg["rest-ids"]
	want := map[string]any{"@timestamp": "2026-11-26T06:00:00.5Z", "message": "rest-ids", "sid": float64(7),
		"nested": map[string]any{"a": []any{float64(1), "b"}}}
	if ids.Stream != "sluice-ids" || ids.Key != "pk-1" || !reflect.DeepEqual(ids.Doc, want) {
		t.Errorf("rest-ids: stream %s key %q doc %v; want sluice-ids, pk-1, %v", ids.Stream, ids.Key, ids.Doc, want)
	}
	if waf := byMsg["rest-waf"]; waf.Stream != "sluice-waf" || waf.Key != "pk-2" {
		t.Errorf("rest-waf: stream %s key %q", waf.Stream, waf.Key)
	}
}

// TestRESTAuth checks that the REST mapping relies on the caller found in the request
// context (set by the HTTP receiver) and that the core refuses a request without one.
func TestRESTAuth(t *testing.T) {
	h := newHarness(t, setup{config: authConfig})
	bare := h.rest(nil)
	authed := h.rest(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, err := h.g.Authenticate(r.Header.Get("Authorization"))
			if err != nil {
				http.Error(w, err.Error(), http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r.WithContext(gateway.WithPrincipal(r.Context(), p)))
		})
	})
	body := `{"events":[{"type":"firewall","message":"fw"}]}`
	if r := postJSON(t, bare, body, "Authorization", "Bearer "+secret); r.status != http.StatusUnauthorized {
		t.Errorf("REST without an authenticating front = %d %s, want 401", r.status, r.body)
	}
	if r := postJSON(t, authed, body, "Authorization", "Bearer "+secret); r.status != http.StatusOK {
		t.Errorf("REST with the right key = %d %s, want 200", r.status, r.body)
	}
	r := postJSON(t, authed, `{"events":[{"type":"ids","message":"i"}]}`, "Authorization", "Bearer "+secret)
	if r.status != http.StatusForbidden || !bytes.Contains(r.body, []byte(`may not send log type \"ids\"`)) {
		t.Errorf("REST with a type the key may not send = %d %s, want 403", r.status, r.body)
	}
	if got := messages(h.settle(), "sluice-firewall"); !slices.Equal(got, []string{"fw"}) {
		t.Errorf("stream holds %q, want [fw]", got)
	}
}

// TestRESTBodyLimit checks that the REST mapping bounds the request body by
// limits.max_body_bytes, as /v1/events does, instead of reading any size into memory.
func TestRESTBodyLimit(t *testing.T) {
	h := newHarness(t, setup{config: func(c *gateway.Config) {
		c.Limits.MaxBodyBytes, c.Limits.MaxDecodedBytes = 4*bytesize.KiB, 4*bytesize.KiB
	}})
	url := h.rest(nil)
	body := `{"events":[{"type":"firewall","message":"` + strings.Repeat("x", 64<<10) + `"}]}`
	r := postJSON(t, url, body)
	if (r.status != http.StatusBadRequest && r.status != http.StatusRequestEntityTooLarge) || !bytes.Contains(r.body, []byte("too large")) {
		t.Errorf("REST push of a %d-byte body with max_body_bytes 4KiB = %d %s; want 400 or 413, too large", len(body), r.status, r.body)
	}
	small := `{"events":[{"type":"firewall","message":"` + strings.Repeat("s", 3<<10) + `"}]}`
	if r := postJSON(t, url, small); r.status != http.StatusOK {
		t.Errorf("REST push of a %d-byte body within the limit = %d %s", len(small), r.status, r.body)
	}
	if recs := h.settle(); len(recs) != 1 || !strings.HasPrefix(recs[0].Doc["message"].(string), "sss") {
		t.Errorf("stream holds %d records, want only the one within the limit", len(recs))
	}
}

// TestDrain checks that a draining gateway turns every call away as retryable.
func TestDrain(t *testing.T) {
	h := newHarness(t, setup{})
	url := h.rest(nil)
	req := &sluicev1.PushRequest{Events: []*sluicev1.Event{event("firewall", "before")}}
	if _, err := h.client.Push(ctxT(t), req); err != nil {
		t.Fatalf("Push before Drain: %v", err)
	}
	h.g.Drain()

	_, err := h.client.Push(ctxT(t), &sluicev1.PushRequest{Events: []*sluicev1.Event{event("firewall", "after")}})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("Push after Drain = %v, want Unavailable", err)
	}
	if _, _, ri := details(err); ri == nil || ri.GetRetryDelay().AsDuration() != time.Second {
		t.Errorf("RetryInfo = %v, want 1s", ri)
	}
	ps, err := h.client.PushStream(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	_ = ps.Send(&sluicev1.PushStreamRequest{Id: "d", Events: []*sluicev1.Event{event("firewall", "after-stream")}})
	_ = ps.CloseSend()
	if a := recvAll(t, ps)["d"]; a == nil || codes.Code(a.GetCode()) != codes.Unavailable || a.GetAccepted() != 0 {
		t.Errorf("ack after Drain = %v, want code 14", a)
	}
	r := postJSON(t, url, `{"events":[{"type":"firewall","message":"after-rest"}]}`)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != "1" {
		t.Errorf("REST after Drain = %d, Retry-After %q; want 503, 1", r.status, r.header.Get("Retry-After"))
	}
	if got := messages(h.settle(), "sluice-firewall"); !slices.Equal(got, []string{"before"}) {
		t.Errorf("stream holds %q, want [before]", got)
	}
}

// TestReceiverLabel checks that the core counts gRPC and REST batches under their own
// receiver names.
func TestReceiverLabel(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	h := newHarness(t, setup{meter: mp.Meter("test")})
	if _, err := h.client.Push(ctxT(t), &sluicev1.PushRequest{Events: []*sluicev1.Event{event("firewall", "g1"), event("firewall", "g2")}}); err != nil {
		t.Fatal(err)
	}
	if r := postJSON(t, h.rest(nil), `{"events":[{"type":"firewall","message":"r1"}]}`); r.status != http.StatusOK {
		t.Fatalf("REST: %d %s", r.status, r.body)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "sluice_gateway_events_received" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				v, _ := dp.Attributes.Value(attribute.Key("receiver"))
				counts[v.AsString()] += dp.Value
			}
		}
	}
	if want := map[string]int64{"grpc": 2, "rest": 1}; !reflect.DeepEqual(counts, want) {
		t.Errorf("events received by receiver = %v, want %v", counts, want)
	}
}

// fakeIngester fails every batch with one error; it exercises the error table.
type fakeIngester struct{ err error }

func (f fakeIngester) Ingest(context.Context, gateway.Batch) (gateway.Result, error) {
	return gateway.Result{}, f.err
}
func (fakeIngester) Authenticate(string) (*gateway.Principal, error) { return nil, nil }
func (fakeIngester) Limits() gateway.Limits                          { return gateway.DefaultConfig().Limits }

// TestErrorTable checks the mapping of every error kind to a gRPC code, an HTTP status,
// and the retry hints, on both transports.
func TestErrorTable(t *testing.T) {
	tests := []struct {
		err   error
		code  codes.Code
		http  int
		retry bool
		msg   string
	}{
		{gateway.Errorf(gateway.KindInvalid, "bad input"), codes.InvalidArgument, 400, false, "bad input"},
		{gateway.Errorf(gateway.KindTooLarge, "too big"), codes.InvalidArgument, 400, false, "too big"},
		{gateway.Errorf(gateway.KindUnsupportedMedia, "what"), codes.InvalidArgument, 400, false, "what"},
		{gateway.Errorf(gateway.KindUnauthenticated, "who"), codes.Unauthenticated, 401, false, "who"},
		{gateway.Errorf(gateway.KindForbidden, "no"), codes.PermissionDenied, 403, false, "no"},
		{gateway.Errorf(gateway.KindOverloaded, "busy"), codes.ResourceExhausted, 429, true, "busy"},
		{gateway.Errorf(gateway.KindUnavailable, "away"), codes.Unavailable, 503, true, "away"},
		{fmt.Errorf("connect to db with password=hunter2: %w", errors.New("boom")), codes.Internal, 500, false, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.code.String()+"/"+tt.msg, func(t *testing.T) {
			svc := grpcrecv.New(fakeIngester{err: tt.err}, grpcrecv.Config{}, grpcrecv.Options{})
			client := sluicev1.NewIngestServiceClient(serveGRPC(t, svc, nil))
			req := &sluicev1.PushRequest{Events: []*sluicev1.Event{event("firewall", "x")}}
			_, err := client.Push(ctxT(t), req)
			st := status.Convert(err)
			if st.Code() != tt.code || st.Message() != tt.msg {
				t.Errorf("Push = %v %q, want %v %q", st.Code(), st.Message(), tt.code, tt.msg)
			}
			if _, _, ri := details(err); (ri != nil) != tt.retry {
				t.Errorf("RetryInfo = %v, want present: %v", ri, tt.retry)
			}
			ps, err := client.PushStream(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			_ = ps.Send(&sluicev1.PushStreamRequest{Id: "a", Events: req.Events})
			_ = ps.CloseSend()
			if a := recvAll(t, ps)["a"]; a == nil || codes.Code(a.GetCode()) != tt.code || a.GetMessage() != tt.msg {
				t.Errorf("ack = %v, want code %d %q", a, tt.code, tt.msg)
			}

			handler, err := svc.RESTHandler(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(handler)
			t.Cleanup(srv.Close)
			r := postJSON(t, srv.URL, `{"events":[{"type":"firewall","message":"x"}]}`)
			if r.status != tt.http || (r.header.Get("Retry-After") == "1") != tt.retry {
				t.Errorf("REST = %d, Retry-After %q; want %d, retry %v", r.status, r.header.Get("Retry-After"), tt.http, tt.retry)
			}
			if bytes.Contains(r.body, []byte("hunter2")) {
				t.Errorf("REST body leaks the internal error: %s", r.body)
			}
		})
	}
}

// blockingIngester holds every Ingest until released and records how many ran at once.
type blockingIngester struct {
	fakeIngester
	release chan struct{}
	mu      sync.Mutex
	now     int
	max     int
}

func (b *blockingIngester) Ingest(_ context.Context, batch gateway.Batch) (gateway.Result, error) {
	b.mu.Lock()
	b.now++
	b.max = max(b.max, b.now)
	b.mu.Unlock()
	<-b.release
	b.mu.Lock()
	b.now--
	b.mu.Unlock()
	return gateway.Result{Accepted: len(batch.Events)}, nil
}

func (b *blockingIngester) counts() (now, most int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.now, b.max
}

// TestPushStreamConcurrency checks that one stream ingests at most StreamConcurrency
// batches at once (4 by default), and uses that many.
func TestPushStreamConcurrency(t *testing.T) {
	for _, tc := range []struct{ option, want int }{{2, 2}, {0, 4}} {
		t.Run(fmt.Sprintf("option %d", tc.option), func(t *testing.T) {
			ing := &blockingIngester{release: make(chan struct{})}
			svc := grpcrecv.New(ing, grpcrecv.Config{}, grpcrecv.Options{StreamConcurrency: tc.option})
			client := sluicev1.NewIngestServiceClient(serveGRPC(t, svc, nil))
			ps, err := client.PushStream(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			batches := tc.want + 3
			for i := range batches {
				if err := ps.Send(&sluicev1.PushStreamRequest{Id: fmt.Sprint(i), Events: []*sluicev1.Event{event("firewall", "x")}}); err != nil {
					t.Fatal(err)
				}
			}
			_ = ps.CloseSend()
			// Release every batch whatever happens, so the server can stop.
			defer func() {
				go func() {
					for range batches {
						ing.release <- struct{}{}
					}
				}()
				if acks := recvAll(t, ps); len(acks) != batches {
					t.Errorf("%d acks for %d batches", len(acks), batches)
				}
			}()
			for deadline := time.Now().Add(5 * time.Second); ; {
				if now, _ := ing.counts(); now >= tc.want {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d batches never ran at once", tc.want)
				}
				time.Sleep(time.Millisecond)
			}
			// Give a server that ignores the bound time to start one more batch; the
			// assertion does not depend on this wait when the bound holds.
			time.Sleep(20 * time.Millisecond)
			if _, most := ing.counts(); most != tc.want {
				t.Errorf("%d batches ran at once, want %d", most, tc.want)
			}
		})
	}
}
