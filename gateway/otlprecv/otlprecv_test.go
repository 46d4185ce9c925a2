package otlprecv

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/sluice-siem/sluice/gateway"
)

// recorder is the gateway core as the receiver sees it, in memory: it keeps what it
// is given and rejects the events the receiver marked, as gateway.Ingest does.
type recorder struct {
	batches []gateway.Batch
	err     error
}

func (r *recorder) Ingest(_ context.Context, b gateway.Batch) (gateway.Result, error) {
	if r.err != nil {
		return gateway.Result{}, r.err
	}
	b.Events = slices.Clone(b.Events) // Ingest keeps nothing of the batch: copy
	for i := range b.Events {
		b.Events[i].Doc = bytes.Clone(b.Events[i].Doc)
	}
	r.batches = append(r.batches, b)
	var res gateway.Result
	for i, e := range b.Events {
		if e.Err != nil {
			res.Rejections = append(res.Rejections, gateway.Rejection{Index: i, Kind: gateway.KindInvalid, Reason: e.Err.Error()})
		} else {
			res.Accepted++
		}
	}
	return res, nil
}

func (r *recorder) Limits() gateway.Limits {
	l := gateway.DefaultConfig().Limits
	l.MaxDepth = 8
	return l
}

func str(s string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
}

func kv(k string, v *commonpb.AnyValue) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: v}
}

func request(records ...*logspb.LogRecord) *collogspb.ExportLogsServiceRequest {
	return &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource:  &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", str("checkout")), kv("host.name", str("web-1"))}},
		ScopeLogs: []*logspb.ScopeLogs{{Scope: &commonpb.InstrumentationScope{Name: "app", Version: "1.2"}, LogRecords: records}},
	}}}
}

var at = time.Date(2026, 12, 7, 0, 20, 0, 123456789, time.UTC)

func TestDocument(t *testing.T) {
	rec := &recorder{}
	r := New(rec, DefaultConfig(), nil)
	deep := str("bottom")
	for range 10 {
		deep = &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{deep}}}}
	}
	resp, err := r.Export(context.Background(), request(
		&logspb.LogRecord{
			TimeUnixNano: uint64(at.UnixNano()), ObservedTimeUnixNano: uint64(at.Add(time.Second).UnixNano()),
			SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_WARN, SeverityText: "WARN", Body: str("disk \"almost\" full"),
			TraceId: bytes.Repeat([]byte{0xab}, 16), SpanId: bytes.Repeat([]byte{0x01}, 8),
			Attributes: []*commonpb.KeyValue{
				kv("event.dataset", str("app_logs")),
				kv("n", &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: -7}}),
				kv("f", &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: math.Inf(1)}}),
				kv("b", &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte("hi")}}),
				kv("dup", str("first")), kv("dup", str("last")),
				kv("list", &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{str("a"), {Value: &commonpb.AnyValue_BoolValue{BoolValue: true}}, {}}}}}),
				kv("map", &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{}}}),
			},
		},
		&logspb.LogRecord{Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: []*commonpb.KeyValue{kv("k", str("v"))}}}}},
		&logspb.LogRecord{Body: deep, Attributes: []*commonpb.KeyValue{kv("event.dataset", str("Not A Type"))}},
	))
	if err != nil {
		t.Fatal(err)
	}
	if ps := resp.GetPartialSuccess(); ps.GetRejectedLogRecords() != 1 || !strings.Contains(ps.GetErrorMessage(), "log record 2: ") || !strings.Contains(ps.GetErrorMessage(), "deeper than limits.max_depth") {
		t.Fatalf("partial success %v, want record 2 rejected as too deep", ps)
	}
	b := rec.batches[0]
	if b.Receiver != "otlp-grpc" || len(b.Events) != 3 || b.Events[0].Type != "app_logs" || b.Events[1].Type != "otel" || b.Events[2].Type != "otel" {
		t.Fatalf("batch %s: %d events, types %q %q", b.Receiver, len(b.Events), b.Events[0].Type, b.Events[1].Type)
	}
	want := `{"@timestamp":"2026-12-07T00:20:00.123456789Z","message":"disk \"almost\" full","log":{"level":"WARN"},` +
		`"event":{"severity":13,"created":"2026-12-07T00:20:01.123456789Z"},"trace":{"id":"abababababababababababababababab"},"span":{"id":"0101010101010101"},` +
		`"service":{"name":"checkout"},"host":{"name":"web-1"},` +
		`"attributes":{"event.dataset":"app_logs","n":-7,"f":"+Inf","b":"aGk=","dup":"last","list":["a",true,null],"map":{}},` +
		`"resource":{"attributes":{"service.name":"checkout","host.name":"web-1"}},"scope":{"name":"app","version":"1.2"}}`
	if got := string(b.Events[0].Doc); got != want {
		t.Fatalf("document\n%s\nwant\n%s", got, want)
	}
	var doc map[string]any
	if err := json.Unmarshal(b.Events[1].Doc, &doc); err != nil || doc["body"].(map[string]any)["k"] != "v" {
		t.Fatalf("a map body: %s (%v)", b.Events[1].Doc, err)
	}
}

func TestHTTP(t *testing.T) {
	rec := &recorder{}
	h := New(rec, Config{TypeAttribute: "service.name", DefaultType: "otel"}, nil).HTTPHandler()
	post := func(ct string, body []byte) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/v1/logs", bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		h.ServeHTTP(w, req)
		return w
	}
	pb, _ := proto.Marshal(request(&logspb.LogRecord{Body: str("from protobuf")}))
	if w := post("application/x-protobuf", pb); w.Code != 200 || w.Header().Get("Content-Type") != "application/x-protobuf" {
		t.Fatalf("protobuf: %d %s", w.Code, w.Body)
	}
	// OTLP's JSON: ids in hex, times as strings, enums as numbers.
	js := `{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"billing"}}]},"scopeLogs":[{"logRecords":[
		{"timeUnixNano":"1796602800000000000","severityNumber":9,"body":{"stringValue":"from json"},
		 "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}]}]}]}`
	if w := post("application/json", []byte(js)); w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("json: %d %s", w.Code, w.Body)
	}
	got := rec.batches[1].Events[0]
	if got.Type != "billing" || !strings.Contains(string(got.Doc), `"trace":{"id":"5b8efff798038103d269b633813fc60c"},"span":{"id":"eee19b7ec3c1b174"}`) ||
		!strings.Contains(string(got.Doc), `"@timestamp":"2026-12-07T00:20:00Z"`) {
		t.Fatalf("json record: %s %s", got.Type, got.Doc)
	}
	for name, body := range map[string]string{
		"not OTLP":   `{"resourceLogs":"x"}`,
		"bad hex id": `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"zzzz"}]}]}]}`,
	} {
		if w := post("application/json", []byte(body)); w.Code != 400 || !strings.Contains(w.Body.String(), `"message"`) {
			t.Errorf("%s: %d %s, want 400 with a google.rpc.Status", name, w.Code, w.Body)
		}
	}
	if w := post("application/x-protobuf", []byte{0xff, 0xff}); w.Code != 400 {
		t.Errorf("bad protobuf: %d", w.Code)
	}
	if w := post("application/x-protobuf", nil); w.Code != 400 {
		t.Errorf("empty body: %d, want 400 (a body is required, as on /v1/events)", w.Code)
	}
	// A body of bytes that are not UTF-8, which the decoder's error quotes: the answer
	// is still a google.rpc.Status (found by schemathesis: it was an empty body, the
	// Status's message not being valid UTF-8 and so not marshalling).
	for _, ct := range []string{"application/json", "application/x-protobuf"} {
		w := post(ct, []byte{0x8b, 'H', 0x88, 0, 0xa0})
		var st spb.Status
		var err error
		if ct == "application/json" {
			err = protojson.Unmarshal(w.Body.Bytes(), &st)
		} else {
			err = proto.Unmarshal(w.Body.Bytes(), &st)
		}
		if w.Code != 400 || err != nil || st.GetMessage() == "" {
			t.Errorf("%s, bytes not UTF-8: %d %q (%v), want 400 with a google.rpc.Status", ct, w.Code, w.Body, err)
		}
	}
	rec.err = gateway.Errorf(gateway.KindOverloaded, "stream full")
	if w := post("application/x-protobuf", pb); w.Code != 429 || w.Header().Get("Retry-After") == "" {
		t.Errorf("backpressure: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	// The refusals of the gateway, as the OpenAPI document describes them: a
	// google.rpc.Status in the request's encoding, with the status of the kind, and
	// Retry-After when a retry is worth it.
	for _, c := range []struct {
		kind  gateway.Kind
		code  int
		retry bool
	}{
		{gateway.KindTooLarge, 413, false}, {gateway.KindUnavailable, 503, true}, {gateway.KindInternal, 500, false},
	} {
		rec.err = gateway.Errorf(c.kind, "refused")
		w := post("application/json", []byte(js))
		var st spb.Status
		if err := protojson.Unmarshal(w.Body.Bytes(), &st); err != nil || w.Code != c.code || st.GetMessage() == "" ||
			(w.Header().Get("Retry-After") != "") != c.retry {
			t.Errorf("%v: %d %s (%v), Retry-After %q; want %d with a google.rpc.Status", c.kind, w.Code, w.Body, err, w.Header().Get("Retry-After"), c.code)
		}
	}
}

// FuzzExport: whatever bytes a client sends, the wire decoder does not panic, and
// every document it makes of a request is one valid JSON object.
func FuzzExport(f *testing.F) {
	pb, _ := proto.Marshal(request(&logspb.LogRecord{Body: str("x"), Attributes: []*commonpb.KeyValue{kv("a", str("b"))}}))
	f.Add(pb)
	f.Add([]byte{})
	rec := &recorder{}
	r := New(rec, DefaultConfig(), nil)
	r.now = func() time.Time { return at }
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := r.batchWire("otlp-grpc", data, r.newState(data)); err != nil {
			return // not a request: refused, and nothing more to check
		}
		rec.batches = rec.batches[:0]
		if _, err := r.exportWire(context.Background(), data); err != nil {
			t.Fatal(err)
		}
		for _, b := range rec.batches {
			for _, e := range b.Events {
				if e.Err != nil {
					continue
				}
				var v map[string]any
				if err := json.Unmarshal(e.Doc, &v); err != nil {
					t.Fatalf("document %q: %v", e.Doc, err)
				}
			}
		}
	})
}

// TestWireDecoder: duplicate keys (the last kept), the type attribute's first valid
// value (the record's, else the resource's), ids of the wrong length left out, an
// empty body, an attribute without a value, and bytes that are no request.
func TestWireDecoder(t *testing.T) {
	rec := &recorder{}
	r := New(rec, Config{TypeAttribute: "t", DefaultType: "otel"}, nil)
	r.now = func() time.Time { return at } // the same "now" for both decoders
	deep := str("x")
	for range 6 {
		deep = &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: []*commonpb.KeyValue{kv("k", deep), kv("k", str("dup"))}}}}
	}
	req := request(
		&logspb.LogRecord{TimeUnixNano: uint64(at.UnixNano()), SeverityNumber: 21, SeverityText: "FATAL", Body: deep,
			Attributes: []*commonpb.KeyValue{kv("t", str("Bad Type")), kv("t", str("good")), kv("b", &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{}})},
			TraceId:    []byte{1, 2, 3}, SpanId: bytes.Repeat([]byte{9}, 8)},
		&logspb.LogRecord{ObservedTimeUnixNano: uint64(at.UnixNano()), Body: &commonpb.AnyValue{}},
		&logspb.LogRecord{Attributes: []*commonpb.KeyValue{{Key: "nil value"}}},
	)
	req.ResourceLogs[0].Resource.Attributes = append(req.ResourceLogs[0].Resource.Attributes, kv("t", str("from_resource")))
	data, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	wire, err := r.batchWire("otlp-grpc", data, r.newState(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(wire.Events) != 3 || wire.Events[0].Type != "good" || wire.Events[1].Type != "from_resource" {
		t.Fatalf("%d events, types %q %q", len(wire.Events), wire.Events[0].Type, wire.Events[1].Type)
	}
	for i, want := range [][]string{
		{`"attributes":{"t":"good","b":""}`, `"span":{"id":"0909090909090909"}`, `"body":{"k":"dup"}`, `"severity":21`},
		{`"@timestamp":"2026-12-07T00:20:00.123456789Z","event":{"created":`},
		{`"attributes":{"nil value":null}`},
	} {
		for _, w := range want {
			if !bytes.Contains(wire.Events[i].Doc, []byte(w)) {
				t.Errorf("event %d lacks %s: %s", i, w, wire.Events[i].Doc)
			}
		}
	}
	if bytes.Contains(wire.Events[0].Doc, []byte(`"trace"`)) || bytes.Contains(wire.Events[1].Doc, []byte(`"message"`)) {
		t.Errorf("a 3-byte trace id or an empty body written: %s %s", wire.Events[0].Doc, wire.Events[1].Doc)
	}
	if _, err := r.batchWire("otlp-grpc", []byte{0x0a, 0xff}, r.newState(nil)); err == nil {
		t.Error("truncated bytes: no error")
	}
}

// TestRepeatedFieldsCostLinear: a record whose body is a key-value list sent in
// 20,000 pieces (protobuf merges them into one list) is read with a buffer that
// doubles, a handful of allocations, where copying the list at every piece (as a
// first version did: quadratic, a denial of service within the body limit) would
// allocate once per piece.
func TestRepeatedFieldsCostLinear(t *testing.T) {
	piece := protowire.AppendTag(nil, fAnyKVList, protowire.BytesType)
	item := protowire.AppendTag(nil, fListValues, protowire.BytesType)
	item = protowire.AppendBytes(item, protowire.AppendString(protowire.AppendTag(nil, fKVKey, protowire.BytesType), "k"))
	piece = protowire.AppendBytes(piece, item)
	var body []byte
	for range 20000 {
		body = append(body, piece...)
	}
	rec := protowire.AppendBytes(protowire.AppendTag(nil, fLRBody, protowire.BytesType), body)
	sl := protowire.AppendBytes(protowire.AppendTag(nil, fSLLogRecords, protowire.BytesType), rec)
	rl := protowire.AppendBytes(protowire.AppendTag(nil, fRLScopeLogs, protowire.BytesType), sl)
	req := protowire.AppendBytes(protowire.AppendTag(nil, fExportResourceLogs, protowire.BytesType), rl)
	r := New(&recorder{}, DefaultConfig(), nil)
	var b gateway.Batch
	allocs := testing.AllocsPerRun(3, func() {
		var err error
		if b, err = r.batchWire("otlp-grpc", req, r.newState(req)); err != nil {
			t.Fatal(err)
		}
	})
	if len(b.Events) != 1 || !bytes.Contains(b.Events[0].Doc, []byte(`"body":{"k":null}`)) {
		t.Fatalf("events %d, document %.200s", len(b.Events), b.Events[0].Doc)
	}
	if allocs > 2000 {
		t.Fatalf("%.0f allocations for 20,000 pieces: the list is copied per piece", allocs)
	}
}

// FuzzWireFastPaths: the fast paths of readKV and anyValueKind (the usual messages,
// read directly) return exactly what reading field by field returns, errors included,
// whatever the bytes.
func FuzzWireFastPaths(f *testing.F) {
	for _, v := range []*commonpb.AnyValue{
		str("x"), str(""), {}, {Value: &commonpb.AnyValue_IntValue{IntValue: -7}},
		{Value: &commonpb.AnyValue_BoolValue{BoolValue: true}}, {Value: &commonpb.AnyValue_DoubleValue{DoubleValue: 1.5}},
		{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{0, 1}}},
		{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{str("a")}}}},
		{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: []*commonpb.KeyValue{kv("k", str("v"))}}}},
	} {
		b, _ := proto.Marshal(v)
		f.Add(b)
		k, _ := proto.Marshal(kv("key", v))
		f.Add(k)
		f.Add(append(b, b...)) // a field twice
	}
	f.Add([]byte{tagKVKey, 1, 'k', tagKVValue, 5, tagAnyString, 1}) // value cut short
	f.Add([]byte{tagKVValue, 0, tagKVKey, 1, 'k'})                  // out of order
	f.Add([]byte{tagAnyInt, 0x80})                                  // a varint cut short
	f.Add([]byte{tagAnyString, 2, 'a', 'b', tagAnyBool, 1})         // the last field wins
	f.Add([]byte{tagKVKey, 0, tagKVValue, 0, byte(9 << 3), 1})      // an unknown field after
	f.Fuzz(func(t *testing.T, msg []byte) {
		fast, ferr := readKV(msg)
		slow, serr := readKVFields(msg)
		if (ferr == nil) != (serr == nil) || (ferr == nil && !reflect.DeepEqual(fast, slow)) {
			t.Fatalf("readKV(%x) = %+v, %v; field by field %+v, %v", msg, fast, ferr, slow, serr)
		}
		fk, fv, ferr := anyValueKind(msg)
		sk, sv, serr := anyValueFields(msg)
		if (ferr == nil) != (serr == nil) || (ferr == nil && (fk != sk || !reflect.DeepEqual(fv, sv))) {
			t.Fatalf("anyValueKind(%x) = %d %+v, %v; field by field %d %+v, %v", msg, fk, fv, ferr, sk, sv, serr)
		}
	})
}
