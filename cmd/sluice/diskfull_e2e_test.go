package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/sluice-siem/sluice/internal/bytesize"
	sluicev1 "github.com/sluice-siem/sluice/proto/sluice/v1"
)

// TestDurableStreamFullPushesBack: when the sink cannot write (here the file sink's
// directory for the log type is taken by a file), the durable stream fills up to
// stream.embedded.max_bytes and the receivers push back, HTTP with 429 and gRPC with
// RESOURCE_EXHAUSTED, instead of dropping or growing; once the sink can write again,
// the consumer catches up, every acknowledged event is written and the stream empties.
func TestDurableStreamFullPushesBack(t *testing.T) {
	cfg := devConfig(t)
	cfg.Stream.Embedded.MaxBytes = bytesize.MiB
	cfg.Gateway.Limits.MaxBodyBytes = 256 * bytesize.KiB
	cfg.Gateway.Limits.MaxDecodedBytes = 256 * bytesize.KiB
	cfg.Gateway.Limits.BackpressureWait = 200 * time.Millisecond
	// The sink fails for type "full": its directory's name is taken.
	blocker := filepath.Join(cfg.Sink.File.Dir, "full")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	a, stop := startDev(t, cfg)
	url := "http://" + a.httpLn.Addr().String() + "/v1/events?type=full"

	var acked []string
	full := false
	for n := 0; n < 2000 && !full; n++ {
		var body bytes.Buffer
		var ids []string
		for i := range 50 {
			id := fmt.Sprintf("full-%d-%d", n, i)
			ids = append(ids, id)
			fmt.Fprintf(&body, `{"message":%q,"pad":"%0200d"}`+"\n", id, 0)
		}
		resp, err := http.Post(url, "application/x-ndjson", &body)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			acked = append(acked, ids...)
		case http.StatusTooManyRequests:
			full = true
			if resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		default:
			t.Fatalf("POST: %d", resp.StatusCode)
		}
	}
	if !full {
		t.Fatalf("2000 requests accepted with the sink failing: the stream does not fill (used %d)", a.embeddedUsed())
	}
	if used := a.embeddedUsed(); used > int64(cfg.Stream.Embedded.MaxBytes) {
		t.Errorf("stream holds %d bytes, over max_bytes %d", used, cfg.Stream.Embedded.MaxBytes)
	}
	conn, err := grpc.NewClient("passthrough:///"+a.grpcLn.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The room left may hold a few small batches; then gRPC is refused too.
	client := sluicev1.NewIngestServiceClient(conn)
	for n := 0; ; n++ {
		var events []*sluicev1.Event
		for i := range 50 {
			events = append(events, &sluicev1.Event{Type: "full", Message: fmt.Sprintf("grpc-%d-%d-%0200d", n, i, 0)})
		}
		resp, err := client.Push(ctx, &sluicev1.PushRequest{Events: events})
		if status.Code(err) == codes.ResourceExhausted {
			break
		}
		if err != nil || n == 100 {
			t.Fatalf("gRPC Push %d while full: %v, want RESOURCE_EXHAUSTED", n, err)
		}
		for _, e := range events[:resp.GetAccepted()] {
			acked = append(acked, e.Message)
		}
	}

	// The sink recovers: everything acknowledged is written, and the stream empties.
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, _ := readIDs(t, blocker)
		missing := 0
		for _, id := range acked {
			if got[id] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged events not written after the sink recovered", missing, len(acked))
		}
		time.Sleep(100 * time.Millisecond)
	}
	for a.embeddedUsed() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the stream still holds %d bytes", a.embeddedUsed())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d events acknowledged before the stream was full, all written after the sink recovered", len(acked))
}
