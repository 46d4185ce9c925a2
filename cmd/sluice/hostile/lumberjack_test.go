package hostile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	lj "github.com/elastic/go-lumber/client/v2"
	"github.com/klauspost/compress/zlib"
)

// Lumberjack v2 frames, written by hand: the hostile ones are what no client library
// would send.

func ljWindow(n uint32) []byte { return binary.BigEndian.AppendUint32([]byte{'2', 'W'}, n) }

func ljJSON(seq uint32, payload []byte) []byte {
	b := binary.BigEndian.AppendUint32([]byte{'2', 'J'}, seq)
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	return append(b, payload...)
}

// ljJSONHeader is the header of a 'J' frame that declares size payload bytes.
func ljJSONHeader(seq, size uint32) []byte {
	b := binary.BigEndian.AppendUint32([]byte{'2', 'J'}, seq)
	return binary.BigEndian.AppendUint32(b, size)
}

func ljCompressed(z []byte) []byte {
	b := binary.BigEndian.AppendUint32([]byte{'2', 'C'}, uint32(len(z)))
	return append(b, z...)
}

// ljResult is what a raw lumberjack client saw.
type ljResult struct {
	acked  uint32 // highest sequence number ACKed
	closed bool   // the server closed the connection
	err    error  // how reading ended, when not by a close
}

// ljExchange writes frames on a new connection and reads ACKs until the server closes
// the connection, want events are ACKed, or the timeout passes.
func ljExchange(t *testing.T, addr string, frames []byte, want uint32, timeout time.Duration) ljResult {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial lumberjack: %v", err)
	}
	defer c.Close()
	return ljConverse(c, frames, want, timeout)
}

// ljConverse writes frames on c and reads ACKs until the server closes the connection,
// want events are ACKed (0: never enough), or the timeout passes.
func ljConverse(c net.Conn, frames []byte, want uint32, timeout time.Duration) ljResult {
	go func() { _, _ = c.Write(frames) }() // the server may stop reading: never block on it
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	var res ljResult
	var ack [6]byte
	for {
		if _, err := io.ReadFull(c, ack[:]); err != nil {
			res.closed = isClosed(err)
			if !res.closed {
				res.err = err
			}
			return res
		}
		if ack[0] != '2' || ack[1] != 'A' {
			res.err = fmt.Errorf("unexpected frame %q", ack[:2])
			return res
		}
		res.acked = max(res.acked, binary.BigEndian.Uint32(ack[2:]))
		if want > 0 && res.acked >= want {
			return res
		}
	}
}

// isClosed reports whether a read error means the peer closed the connection.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE)
}

// ljSendOK sends a window of n events with go-lumber's client (what Filebeat is built
// on) and requires it ACKed.
func ljSendOK(t *testing.T, addr string, n int) {
	t.Helper()
	c, err := lj.SyncDial(addr, lj.Timeout(10*time.Second))
	if err != nil {
		t.Errorf("lumberjack client: dial: %v", err)
		return
	}
	defer c.Close()
	events := make([]any, n)
	for i := range events {
		events[i] = map[string]any{"message": fmt.Sprintf("legitimate lumberjack event %d", i), "fields": map[string]any{"log_type": "legit"}}
	}
	got, err := c.Send(events)
	if err != nil || got != n {
		t.Errorf("lumberjack client: %d of %d events ACKed: %v", got, n, err)
	}
}

// TestLumberjackHostileFrames throws hostile frames at the lumberjack listener of a
// gateway, each class on its own connections: a window over lumberjack.max_window_events,
// a frame declaring 2 GiB, a zlib bomb past lumberjack.max_decoded_frame_bytes, and 100
// connections that declare a 32 MiB frame and send one byte. Each of the first three must
// close its connections with a warning or error log line; the process must stay up within
// the RSS budget and keep serving a real client.
func TestLumberjackHostileFrames(t *testing.T) {
	p := start(t, spec{role: "gateway", lumberjack: true})
	addr := p.listener("lumberjack")

	closes := func(t *testing.T, conns int, frames []byte) {
		t.Helper()
		mark := p.logCount()
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			results []ljResult
		)
		for range conns {
			wg.Go(func() {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					mu.Lock()
					results = append(results, ljResult{err: err})
					mu.Unlock()
					return
				}
				defer c.Close()
				r := ljConverse(c, frames, 0, 20*time.Second)
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			})
		}
		wg.Wait()
		open := 0
		var example error
		for _, r := range results {
			if !r.closed {
				open++
				example = r.err
			}
		}
		if open > 0 {
			t.Errorf("%d of %d connections not closed by the server within 20s (%v)", open, conns, example)
		}
		p.requireUp(t)
		if !waitFor(5*time.Second, func() bool { return countLevel(p.linesSince(mark), "WARN", "ERROR") > 0 }) {
			t.Errorf("no warning or error log line for the closed connections")
		} else {
			t.Logf("%d warning/error log lines, such as %s", countLevel(p.linesSince(mark), "WARN", "ERROR"), firstLevel(p.linesSince(mark), "WARN", "ERROR"))
		}
	}

	t.Run("window over the limit", func(t *testing.T) {
		closes(t, 30, ljWindow(1<<31-1))
	})
	t.Run("frame declaring 2 GiB", func(t *testing.T) {
		frames := append(ljWindow(1), ljJSONHeader(1, 2<<30)...)
		frames = append(frames, bytes.Repeat([]byte("x"), 1024)...)
		closes(t, 30, frames)
	})
	t.Run("zlib bomb", func(t *testing.T) {
		// Five 'J' frames of 31 MiB each inside one compressed frame: 155 MiB once
		// inflated, over lumberjack.max_decoded_frame_bytes (128 MiB), ~150 KiB sent.
		var z bytes.Buffer
		zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
		chunk := bytes.Repeat([]byte("a"), 1<<20)
		for seq := uint32(1); seq <= 5; seq++ {
			_, _ = zw.Write(ljJSONHeader(seq, 31<<20))
			for range 31 {
				_, _ = zw.Write(chunk)
			}
		}
		_ = zw.Close()
		t.Logf("zlib bomb: %d bytes on the wire", z.Len())
		closes(t, 4, append(ljWindow(5), ljCompressed(z.Bytes())...))
	})
	t.Run("declared 32 MiB, one byte sent", func(t *testing.T) {
		frames := append(ljWindow(1), ljJSONHeader(1, 32<<20-1)...)
		frames = append(frames, '{')
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for range 100 {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			conns = append(conns, c)
			if _, err := c.Write(frames); err != nil {
				t.Fatalf("write: %v", err)
			}
		}
		time.Sleep(time.Second) // let the server read what was sent; no deadline to wait for
		p.requireUp(t)
		p.requirePeakRSS(t, rssBudget, "100 lumberjack connections each declaring 32 MiB")
	})

	ljSendOK(t, addr, 10)
	p.requireUp(t)
	p.requirePeakRSS(t, rssBudget, "lumberjack hostile frames")
	p.stop(t)
}

func countLevel(lines []string, levels ...string) int {
	n := 0
	for _, l := range lines {
		lv := level(l)
		for _, want := range levels {
			if lv == want {
				n++
			}
		}
	}
	return n
}

func firstLevel(lines []string, levels ...string) string {
	for _, l := range lines {
		lv := level(l)
		for _, want := range levels {
			if lv == want {
				return cut([]string{l}, 300)[0]
			}
		}
	}
	return ""
}

// silentConns opens n TCP connections to addr that never send a byte.
func silentConns(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Logf("dial %s after %d connections: %v", addr, len(conns), err)
			break
		}
		conns = append(conns, c)
	}
	return conns
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		_ = c.Close()
	}
}

// closedByServer counts the connections the server closes within d: reads that end
// in EOF or a reset (whatever the server wrote first is read and dropped).
func closedByServer(conns []net.Conn, d time.Duration) int {
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		closed int
	)
	deadline := time.Now().Add(d)
	for _, c := range conns {
		wg.Go(func() {
			_ = c.SetReadDeadline(deadline)
			_, err := io.Copy(io.Discard, c)
			if err == nil || isClosed(err) {
				mu.Lock()
				closed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return closed
}

// raiseNofile makes sure this test process can hold the connections it opens.
func raiseNofile(t *testing.T, want uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= want {
		return
	}
	lim.Cur = min(want, lim.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < want {
		t.Skipf("need %d open files, the limit is %d: %v", want, lim.Cur, err)
	}
}
