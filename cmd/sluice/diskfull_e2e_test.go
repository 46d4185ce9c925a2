package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lj "github.com/elastic/go-lumber/client/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/sluice-siem/sluice/internal/bytesize"
	sluicev1 "github.com/sluice-siem/sluice/proto/sluice/v1"
)

// TestDurableStreamFullPushesBack: when the sink cannot write (here the file sink's
// directory for the log type is taken by a file), the durable stream fills up to
// stream.embedded.max_bytes and the receivers push back, HTTP with 429, gRPC with
// RESOURCE_EXHAUSTED and lumberjack by holding a real go-lumber client's window
// unacknowledged (kept alive, not read), instead of dropping or growing; once the sink
// can write again, the consumer catches up, the window is acknowledged, every
// acknowledged event is written and the stream empties.
func TestDurableStreamFullPushesBack(t *testing.T) {
	cfg := devConfig(t)
	cfg.Stream.Embedded.MaxBytes = bytesize.MiB
	cfg.Gateway.Limits.MaxBodyBytes = 256 * bytesize.KiB
	cfg.Gateway.Limits.MaxDecodedBytes = 256 * bytesize.KiB
	cfg.Gateway.Limits.BackpressureWait = 200 * time.Millisecond
	cfg.Lumberjack.Addr = "127.0.0.1:0"
	cfg.Lumberjack.KeepaliveInterval = 200 * time.Millisecond
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

	// A Beats client's window is held, not acknowledged, while the stream is full: the
	// receiver retries it, sending keepalive ACKs, and reads nothing more.
	ljIDs, ljDone := sendHeldWindow(t, a.ljSrv.Addr().String(), 100)
	select {
	case r := <-ljDone:
		t.Fatalf("lumberjack window answered while the stream is full: %d ACKed, %v", r.acked, r.err)
	case <-time.After(2 * time.Second):
	}
	ljMetrics := scrape(t, a.httpLn.Addr().String(), "sluice_lumberjack_")
	t.Logf("lumberjack metrics while the window is held:\n%s", ljMetrics)
	if !strings.Contains(ljMetrics, "sluice_lumberjack_keepalives") || strings.Contains(ljMetrics, `result="accepted"`) {
		t.Errorf("while full, want keepalives sent and no lumberjack event accepted:\n%s", ljMetrics)
	}
	if used := a.embeddedUsed(); used > int64(cfg.Stream.Embedded.MaxBytes) {
		t.Errorf("stream holds %d bytes with the window held, over max_bytes %d", used, cfg.Stream.Embedded.MaxBytes)
	}

	// The sink recovers: the window is acknowledged, everything acknowledged is written,
	// and the stream empties.
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	select {
	case r := <-ljDone:
		if r.err != nil || r.acked != len(ljIDs) {
			t.Fatalf("lumberjack window after the consumer caught up: %d of %d ACKed, %v", r.acked, len(ljIDs), r.err)
		}
		acked = append(acked, ljIDs...)
	case <-time.After(time.Until(deadline)):
		t.Fatal("lumberjack window not acknowledged after the sink recovered")
	}
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
	t.Logf("%d events acknowledged (%d of them in the lumberjack window held while the stream was full), all written after the sink recovered",
		len(acked), len(ljIDs))
}

// heldWindow is how a lumberjack window sent by sendHeldWindow ended.
type heldWindow struct {
	acked int
	err   error
}

// sendHeldWindow sends one window of n events of type "full" with go-lumber's client,
// as Filebeat does, and reports on the channel when it is ACKed in full or fails. The
// client's timeout (30 s, Filebeat's) applies to each read of an ACK: keepalives keep
// it waiting.
func sendHeldWindow(t *testing.T, addr string, n int) ([]string, <-chan heldWindow) {
	t.Helper()
	c, err := lj.SyncDial(addr, lj.Timeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ids := make([]string, n)
	events := make([]any, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("lj-held-%d", i)
		events[i] = map[string]any{"message": ids[i], "pad": fmt.Sprintf("%0200d", 0), "fields": map[string]any{"log_type": "full"}}
	}
	done := make(chan heldWindow, 1)
	go func() {
		acked, err := c.Send(events)
		done <- heldWindow{acked, err}
	}()
	return ids, done
}

// scrape returns the lines of /metrics that start with prefix.
func scrape(t *testing.T, httpAddr, prefix string) string {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, prefix) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return strings.Join(out, "\n")
}
