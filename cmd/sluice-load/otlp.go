package main

import (
	"context"
	"fmt"
	"sync/atomic"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// otlpTransport sends batches as OTLP/gRPC LogsService/Export calls, one unary call per
// batch, several in flight per connection: what an OpenTelemetry SDK or Collector
// exporter does. Each event is a log record with the raw line as its body, its time,
// and its log type and host as attributes.
type otlpTransport struct {
	addr    string
	apiKey  string
	wire    *atomic.Int64
	records []*logspb.LogRecord
}

func newOTLPTransport(addr, apiKey string, evs []event, wire *atomic.Int64) (*otlpTransport, []int) {
	t := &otlpTransport{addr: addr, apiKey: apiKey, wire: wire, records: make([]*logspb.LogRecord, len(evs))}
	sizes := make([]int, len(evs))
	for i, e := range evs {
		t.records[i] = &logspb.LogRecord{
			TimeUnixNano:   uint64(e.time.UnixNano()),
			SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_INFO,
			Body:           &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: e.line}},
			Attributes: []*commonpb.KeyValue{
				{Key: "event.dataset", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: e.typ}}},
				{Key: "host.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: e.host}}},
			},
		}
		sizes[i] = proto.Size(t.records[i])
	}
	return t, sizes
}

func (t *otlpTransport) dial(ctx context.Context) (conn, error) {
	cc, cctx, cancel, err := dialGRPC(ctx, t.addr, t.wire, t.apiKey)
	if err != nil {
		return nil, err
	}
	return &otlpConn{t: t, cc: cc, ctx: cctx, cancel: cancel, client: collogspb.NewLogsServiceClient(cc)}, nil
}

func (t *otlpTransport) close() {}

// otlpConn is one gRPC connection; each batch is its own call.
type otlpConn struct {
	t      *otlpTransport
	cc     *grpc.ClientConn
	ctx    context.Context
	cancel context.CancelFunc
	client collogspb.LogsServiceClient
}

func (c *otlpConn) send(_ context.Context, b batch, done func(outcome)) error {
	req := &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource:  &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "sluice-load"}}}}},
		ScopeLogs: []*logspb.ScopeLogs{{LogRecords: c.t.records[b.first : b.first+b.n]}},
	}}}
	go func() {
		resp, err := c.client.Export(c.ctx, req)
		if err != nil {
			done(outcome{kind: grpcKind("otlp", err), err: err})
			return
		}
		rejected := int(resp.GetPartialSuccess().GetRejectedLogRecords())
		o := outcome{acked: b.n - rejected, rejected: rejected}
		if rejected > 0 {
			o.kind, o.err = "otlp_partial_success", fmt.Errorf("%s", resp.GetPartialSuccess().GetErrorMessage())
		}
		done(o)
	}()
	return nil
}

func (c *otlpConn) close() {
	c.cancel()
	_ = c.cc.Close()
}
