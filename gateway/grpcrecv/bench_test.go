package grpcrecv_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/sluice-siem/sluice/gateway/grpcrecv"
	"github.com/sluice-siem/sluice/internal/jsonx"
	sluicev1 "github.com/sluice-siem/sluice/proto/sluice/v1"
	"github.com/sluice-siem/sluice/stream"
)

const benchBatch = 500

// benchEvents is a batch of firewall events whose documents are about 300 bytes.
func benchEvents(tb testing.TB) []*sluicev1.Event {
	events := make([]*sluicev1.Event, benchBatch)
	for i := range events {
		events[i] = withFields(tb, &sluicev1.Event{
			Type: "firewall",
			Message: fmt.Sprintf("%%ASA-4-106023: Deny tcp src outside:198.51.100.%d/%d dst inside:10.1.2.%d/443 by access-group \"outside_in\" [0x0, 0x0] %s",
				i%250, 40000+i, i%200, strings.Repeat("-", 40)),
		}, map[string]any{
			"src_ip": fmt.Sprintf("198.51.100.%d", i%250), "dst_ip": fmt.Sprintf("10.1.2.%d", i%200),
			"dst_port": 443, "action": "deny", "host": "fw-01",
		})
	}
	// Document is what the gateway stores: measure that, not an estimate.
	if doc, err := grpcrecv.Document(events[0], jsonx.DefaultMaxDepth); err != nil || len(doc) < 250 || len(doc) > 350 {
		tb.Fatalf("benchmark event document is %d bytes (%v), want about 300: %s", len(doc), err, doc)
	}
	return events
}

// benchHarness serves the receiver over a stream whose consumer acknowledges at once.
func benchHarness(b *testing.B) *harness {
	return newHarness(b, setup{handler: func(context.Context, stream.Batch) error { return nil }})
}

// BenchmarkPush is unary Push of 500-event batches over bufconn into the embedded
// stream, one batch at a time.
func BenchmarkPush(b *testing.B) {
	h := benchHarness(b)
	req := &sluicev1.PushRequest{Events: benchEvents(b)}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := h.client.Push(ctx, req)
		if err != nil || resp.GetAccepted() != benchBatch {
			b.Fatalf("Push = %v, %v", resp, err)
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkPushStream is PushStream of 500-event batches over bufconn, with the sender
// running ahead of the acknowledgements (the service ingests 4 batches at once).
func BenchmarkPushStream(b *testing.B) {
	h := benchHarness(b)
	events := benchEvents(b)
	ps, err := h.client.PushStream(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	sent := make(chan error, 1)
	go func() {
		for i := range b.N {
			if err := ps.Send(&sluicev1.PushStreamRequest{Id: fmt.Sprint(i), Events: events}); err != nil {
				sent <- err
				return
			}
		}
		sent <- ps.CloseSend()
	}()
	acks := 0
	for {
		a, err := ps.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Fatalf("Recv: %v", err)
		}
		if a.GetCode() != 0 || a.GetAccepted() != benchBatch {
			b.Fatalf("ack %v", a)
		}
		acks++
	}
	b.StopTimer()
	if err := <-sent; err != nil {
		b.Fatalf("Send: %v", err)
	}
	if acks != b.N {
		b.Fatalf("%d acks for %d batches", acks, b.N)
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
}
