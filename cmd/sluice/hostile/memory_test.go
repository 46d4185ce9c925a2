package hostile

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestDeclaredContentLength opens 100 connections that each declare a 10 MiB body
// (limits.max_body_bytes, the most allowed) and send one byte, spread over /v1/events,
// /_bulk and /v1/push; three times, as a client that reconnects would, so that memory
// freed by one round is reused (and touched) by the next. A declared length is not an
// allocation: peak RSS must stay under the budget (it went from 37 MiB to over 1 GiB).
func TestDeclaredContentLength(t *testing.T) {
	p := start(t, spec{role: "gateway"})
	addr := p.listener("http")
	paths := []string{"/v1/events", "/_bulk", "/v1/push"}
	for round := range 3 {
		var conns []net.Conn
		for i := range 100 {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				closeAll(conns)
				t.Fatalf("round %d: dial after %d connections: %v", round, i, err)
			}
			conns = append(conns, c)
			req := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: sluice\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", paths[i%len(paths)], 10<<20)
			if _, err := c.Write([]byte(req)); err != nil {
				closeAll(conns)
				t.Fatalf("round %d: write: %v", round, err)
			}
		}
		// The process has no event to wait for: watch the peak for a while, stopping as
		// soon as it is over the budget.
		requireHealthy(t, p)
		waitFor(time.Second, func() bool { return p.peakRSS() > rssBudget })
		closeAll(conns)
		p.requireUp(t)
		t.Logf("round %d: peak RSS %.1f MiB, RSS %.1f MiB", round, mib(p.peakRSS()), mib(p.status("VmRSS")))
	}
	p.requirePeakRSS(t, rssBudget, "100 connections declaring 10 MiB, 1 byte sent, 3 rounds")
	requireHealthy(t, p)
	p.stop(t)
}

// TestDecompressionBombs sends 16 compressed bodies at once: 8 gzip bodies to
// /v1/events that inflate to one 63 MiB event (just under limits.max_decoded_bytes), 4
// gzip bodies to /_bulk and 4 zstd bodies to /v1/push that inflate to 100 MiB (over
// it). Each must be answered 413, or 429 when the process-wide budget of decoded bytes
// is full; never 5xx, never a crash; peak RSS under the budget (it reached 1.7 GiB).
func TestDecompressionBombs(t *testing.T) {
	p := start(t, spec{role: "gateway"})

	event := make([]byte, 0, 63<<20)
	event = append(event, `{"message":"`...)
	event = append(event, bytes.Repeat([]byte("a"), 63<<20-len(event)-3)...)
	event = append(event, "\"}\n"...)
	eventsBomb := gzipped(event)
	filler := bytes.Repeat([]byte(`{"message":"a"}`+"\n"), 100<<20/16)
	bulkBomb := gzipped(filler)
	pushBomb := zstded(filler)
	t.Logf("bombs on the wire: events %d bytes (inflates to %d), bulk %d, push %d (inflate to %d)",
		len(eventsBomb), len(event), len(bulkBomb), len(pushBomb), len(filler))

	type shot struct {
		path, ct, enc string
		body          []byte
	}
	var shots []shot
	for range 8 {
		shots = append(shots, shot{"/v1/events", "application/x-ndjson", "gzip", eventsBomb})
	}
	for range 4 {
		shots = append(shots, shot{"/_bulk", "application/x-ndjson", "gzip", bulkBomb})
		shots = append(shots, shot{"/v1/push", "application/json", "zstd", pushBomb})
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		answers = map[string][]string{}
	)
	for _, s := range shots {
		wg.Go(func() {
			a, err := post(p.url(s.path), s.ct, s.enc, s.body)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				answers[s.path] = append(answers[s.path], err.Error())
				t.Errorf("%s %s bomb: %v, want an answer 413 (or 429)", s.path, s.enc, err)
				return
			}
			switch a.status {
			case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
				answers[s.path] = append(answers[s.path], fmt.Sprint(a.status))
			default:
				answers[s.path] = append(answers[s.path], a.String())
				t.Errorf("%s %s bomb: %v, want 413 (or 429)", s.path, s.enc, a)
			}
		})
	}
	wg.Wait()
	t.Logf("answers: %v", answers)
	p.requireUp(t)
	p.requirePeakRSS(t, rssBudget, "16 concurrent decompression bombs")
	requireHealthy(t, p)
	p.stop(t)
}
