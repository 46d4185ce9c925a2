package otlprecv_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/proto"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/gateway/otlprecv"
	"github.com/sluice-siem/sluice/stream"
)

type discard struct{}

func (discard) Put(context.Context, string, []stream.Record) error { return nil }

// BenchmarkExport is LogsService/Export of 500 log records (iptables lines as bodies,
// a type and a host attribute) through the gateway core into a discard producer:
// decoding the protobuf request, making the documents, routing and enveloping. The
// gRPC transport is not in it (scripts/bench.sh's otlp scenario has the whole process).
//
//	go test -run '^$' -bench Export -cpu 1 ./gateway/otlprecv/
func BenchmarkExport(b *testing.B) {
	var recs []*logspb.LogRecord
	for i := range 500 {
		recs = append(recs, &logspb.LogRecord{TimeUnixNano: uint64(1796602800000000000 + i),
			Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: fmt.Sprintf("<4>Dec  7 00:20:00 fw01 kernel: FW-DROP: IN=eth0 OUT= SRC=203.0.113.%d DST=10.1.2.3 LEN=60 PROTO=TCP SPT=%d DPT=22", i%250, 1024+i)}},
			Attributes: []*commonpb.KeyValue{
				{Key: "event.dataset", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "firewall"}}},
				{Key: "host.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "fw01"}}},
			}})
	}
	wire, _ := proto.Marshal(&collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: recs}}}}})
	cfg := gateway.DefaultConfig()
	cfg.Auth.Disabled = true
	g, err := gateway.New(cfg, discard{}, gateway.Options{})
	if err != nil {
		b.Fatal(err)
	}
	r := otlprecv.New(g, otlprecv.DefaultConfig(), nil)
	b.Run("protobuf-structs", func(b *testing.B) {
		b.SetBytes(int64(len(wire)))
		b.ReportAllocs()
		for b.Loop() {
			req := &collogspb.ExportLogsServiceRequest{}
			if err := proto.Unmarshal(wire, req); err != nil {
				b.Fatal(err)
			}
			if resp, err := r.Export(context.Background(), req); err != nil || resp.GetPartialSuccess() != nil {
				b.Fatal(resp, err)
			}
		}
		b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("wire-decoder", func(b *testing.B) { // what gRPC and OTLP/HTTP protobuf use
		h := r.HTTPHandler()
		b.SetBytes(int64(len(wire)))
		b.ReportAllocs()
		for b.Loop() {
			w := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPost, "/v1/logs", bytes.NewReader(wire))
			req.Header.Set("Content-Type", "application/x-protobuf")
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatal(w.Code, w.Body)
			}
		}
		b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "records/s")
	})
}
