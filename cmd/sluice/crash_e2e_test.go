package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	lj "github.com/elastic/go-lumber/client/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	sluicev1 "github.com/sluice-siem/sluice/proto/sluice/v1"
)

// TestDevLosesNothingAcknowledgedAcrossKills runs `sluice dev` as a process on the
// durable embedded stream, with three clients sending without pause (go-lumber, the
// Beats client library; NDJSON over HTTP; gRPC Push), kills it with SIGKILL at random
// moments several times and starts it again on the same data directory. At the end
// every event a client saw acknowledged is in the file sink: duplicates are allowed
// (what was written but not checkpointed is delivered again), losses are not.
func TestDevLosesNothingAcknowledgedAcrossKills(t *testing.T) {
	bin := sluiceBinary(t)
	dataDir := t.TempDir()
	httpAddr, grpcAddr, ljAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	var logs bytes.Buffer
	var logMu sync.Mutex
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "dev", "--http", httpAddr, "--grpc", grpcAddr, "--lumberjack", ljAddr, "--data-dir", dataDir)
		cmd.Env = append(os.Environ(), "SLUICE_SAMPLE_PIPELINES=false", "SLUICE_LOG_FORMAT=text")
		w := &lockedWriter{mu: &logMu, w: &logs}
		cmd.Stdout, cmd.Stderr = w, w
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitHealthy(t, httpAddr)
		return cmd
	}
	cmd := start()
	defer func() {
		if t.Failed() {
			logMu.Lock()
			t.Logf("sluice logs:\n%s", logs.String())
			logMu.Unlock()
		}
	}()

	var (
		mu    sync.Mutex
		acked = map[string]bool{}
	)
	ack := func(ids []string) {
		mu.Lock()
		for _, id := range ids {
			acked[id] = true
		}
		mu.Unlock()
	}
	ctx, stopSending := context.WithCancel(context.Background())
	var senders sync.WaitGroup
	for _, send := range []func(context.Context, int) ([]string, error){
		func(ctx context.Context, n int) ([]string, error) { return crashLumberjack(ctx, ljAddr, n) },
		func(ctx context.Context, n int) ([]string, error) { return crashHTTP(ctx, httpAddr, n) },
		func(ctx context.Context, n int) ([]string, error) { return crashGRPC(ctx, grpcAddr, n) },
	} {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for n := 0; ctx.Err() == nil; n++ {
				ids, err := send(ctx, n)
				if err != nil {
					time.Sleep(20 * time.Millisecond) // sluice is down: not acknowledged, not counted
					continue
				}
				ack(ids)
			}
		}()
	}
	const kills = 4
	for range kills {
		time.Sleep(time.Duration(300+rand.IntN(1200)) * time.Millisecond)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		time.Sleep(100 * time.Millisecond)
		cmd = start()
	}
	time.Sleep(500 * time.Millisecond)
	stopSending()
	senders.Wait()

	mu.Lock()
	want := len(acked)
	mu.Unlock()
	byProto := map[string]int{}
	for id := range acked {
		byProto[strings.SplitN(id, "-", 2)[0]]++
	}
	for _, p := range []string{"lj", "http", "grpc"} {
		if byProto[p] == 0 {
			t.Fatalf("no %s event was acknowledged: the test proves nothing (%v)", p, byProto)
		}
	}
	// The last run delivers the rest; then a graceful stop.
	var got map[string]int
	var torn int
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, torn = readIDs(t, filepath.Join(dataDir, "crash"))
		missing := 0
		for id := range acked {
			if got[id] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged events are not in the sink after %d kills", missing, want, kills)
		}
		time.Sleep(200 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("graceful stop: %v", err)
	}
	dups := 0
	for _, n := range got {
		dups += n - 1
	}
	t.Logf("%d kills: %d events acknowledged (%v), all in the sink; %d delivered again, %d torn lines", kills, want, byProto, dups, torn)
}

// freeAddr returns a loopback address with a port free now, for a process that must
// listen on the same address across restarts.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitHealthy waits until sluice answers /readyz.
func waitHealthy(t *testing.T, httpAddr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("sluice did not become ready on %s", httpAddr)
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// crashBatch is how many events each client sends per request or window.
const crashBatch = 200

func crashIDs(proto string, n int) []string {
	ids := make([]string, crashBatch)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%d-%d", proto, n, i)
	}
	return ids
}

// crashLumberjack sends one window on a new connection and returns its ids once it is
// ACKed in full.
func crashLumberjack(ctx context.Context, addr string, n int) ([]string, error) {
	ids := crashIDs("lj", n)
	c, err := lj.SyncDial(addr, lj.Timeout(5*time.Second))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	events := make([]any, len(ids))
	for i, id := range ids {
		events[i] = map[string]any{"message": id, "fields": map[string]any{"log_type": "crash"}}
	}
	acked, err := c.Send(events)
	if err != nil {
		return nil, err
	}
	if acked != len(events) {
		return nil, fmt.Errorf("window of %d ACKed %d", len(events), acked)
	}
	return ids, ctx.Err()
}

// crashHTTP posts one NDJSON batch and returns its ids when all are accepted.
func crashHTTP(ctx context.Context, addr string, n int) ([]string, error) {
	ids := crashIDs("http", n)
	var body bytes.Buffer
	for _, id := range ids {
		fmt.Fprintf(&body, `{"message":%q}`+"\n", id)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/events?type=crash", &body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct{ Accepted int }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.Accepted != len(ids) {
		return nil, fmt.Errorf("status %d, accepted %d: %v", resp.StatusCode, out.Accepted, err)
	}
	return ids, nil
}

// crashGRPC pushes one batch and returns its ids when all are accepted.
func crashGRPC(ctx context.Context, addr string, n int) ([]string, error) {
	ids := crashIDs("grpc", n)
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	events := make([]*sluicev1.Event, len(ids))
	for i, id := range ids {
		events[i] = &sluicev1.Event{Type: "crash", Message: id}
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := sluicev1.NewIngestServiceClient(conn).Push(cctx, &sluicev1.PushRequest{Events: events})
	if err != nil {
		return nil, err
	}
	if int(resp.GetAccepted()) != len(ids) {
		return nil, fmt.Errorf("accepted %d of %d", resp.GetAccepted(), len(ids))
	}
	return ids, nil
}

// readIDs counts the messages of the NDJSON files under dir, and the lines that do not
// parse (torn by a kill mid-write).
func readIDs(t *testing.T, dir string) (map[string]int, int) {
	t.Helper()
	got := map[string]int{}
	torn := 0
	files, _ := filepath.Glob(filepath.Join(dir, "*.ndjson"))
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var doc struct{ Message string }
			if json.Unmarshal(sc.Bytes(), &doc) != nil {
				torn++
				continue
			}
			got[doc.Message]++
		}
		fh.Close()
	}
	return got, torn
}
