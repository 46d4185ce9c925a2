package lumberjack

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zlib"

	"github.com/sluice-siem/sluice/internal/bytesize"
)

// Frame builders for raw wire tests.

func winFrame(n uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{'2', 'W'}, n)
}

func jsonFrame(seq uint32, payload string) []byte {
	b := binary.BigEndian.AppendUint32([]byte{'2', 'J'}, seq)
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	return append(b, payload...)
}

// jsonHeader is a data frame header declaring size bytes, without the payload.
func jsonHeader(seq, size uint32) []byte {
	b := binary.BigEndian.AppendUint32([]byte{'2', 'J'}, seq)
	return binary.BigEndian.AppendUint32(b, size)
}

func compressed(t testing.TB, frames ...[]byte) []byte {
	t.Helper()
	var z bytes.Buffer
	w, err := zlib.NewWriterLevel(&z, 6)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		if _, err := w.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return compressedRaw(z.Bytes())
}

// compressedRaw is a compressed frame around payload, which need not be zlib.
func compressedRaw(payload []byte) []byte {
	return append(binary.BigEndian.AppendUint32([]byte{'2', 'C'}, uint32(len(payload))), payload...)
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// exchange writes input on a new connection, half-closes it when closeWrite is set,
// and returns everything the server sends before it closes the connection.
func exchange(t *testing.T, addr string, input []byte, closeWrite bool) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	go func() {
		// The server may close before reading it all; a failed write is expected then.
		_, _ = c.Write(input)
		if closeWrite {
			_ = c.(*net.TCPConn).CloseWrite()
		}
	}()
	out, err := io.ReadAll(c)
	if err != nil && !strings.Contains(err.Error(), "reset by peer") {
		t.Fatalf("connection not closed by the server: %v", err)
	}
	return out
}

func ack(seq uint32) []byte { return binary.BigEndian.AppendUint32([]byte{'2', 'A'}, seq) }

// TestMalformedInput writes broken lumberjack streams over raw TCP. Each closes the
// connection with a log line and a count by kind, or rejects one event and keeps the
// rest, as documented; the server keeps serving well-formed clients after each.
func TestMalformedInput(t *testing.T) {
	rec := newRecorder()
	rec.limits.MaxEventBytes = 2000
	cfg := testConfig()
	cfg.MaxWindowEvents = 100
	cfg.MaxFrameBytes = 64 * bytesize.KiB
	cfg.MaxDecodedFrameBytes = 256 * bytesize.KiB
	h := start(t, rec, cfg)

	good := `{"message":"ok"}`
	spaces := jsonFrame(1, "{"+strings.Repeat(" ", 60000)+"}")
	var bomb [][]byte
	for range 100 {
		bomb = append(bomb, spaces)
	}
	garbage := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range garbage {
		garbage[i] = byte(rng.Uint32())
	}
	garbage[0] = 'G' // not a version byte

	for _, tc := range []struct {
		name       string
		input      []byte
		closeWrite bool
		kind       string // protocol error counted, "" if none
		log        string // in the server log
		reply      []byte // what the server sends before closing
		stored     int    // events ingested
	}{
		{name: "wrong version", input: concat([]byte("3W"), winFrame(1)[2:]), kind: "version", log: `unknown protocol version byte '3'`},
		{name: "protocol v1", input: concat([]byte("1W"), winFrame(1)[2:]), kind: "version", log: "protocol v1 (logstash-forwarder) is not supported"},
		{name: "TLS on plaintext", input: []byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), kind: "version", log: "TLS handshake on a plaintext listener"},
		{name: "data before window", input: jsonFrame(1, good), kind: "frame_type", log: "where a window frame 'W' must start"},
		{name: "window size 0", input: winFrame(0), kind: "window_size", log: "window of 0 events"},
		{name: "window size 2^32-1", input: winFrame(1<<32 - 1), kind: "window_size", log: "window of 4294967295 events"},
		{name: "window over max", input: winFrame(101), kind: "window_size", log: "max_window_events"},
		{name: "truncated window frame", input: winFrame(1)[:4], closeWrite: true, kind: "truncated", log: "connection closed inside a window frame"},
		{name: "truncated data frame", input: concat(winFrame(2), jsonFrame(1, good), jsonFrame(2, good)[:12]), closeWrite: true, kind: "truncated", log: "connection closed inside a data frame"},
		{name: "truncated compressed frame", input: concat(winFrame(2), compressed(t, jsonFrame(1, good), jsonFrame(2, good))[:20]), closeWrite: true, kind: "truncated"},
		{name: "data frame over max_frame_bytes", input: concat(winFrame(1), jsonHeader(1, 64<<10+1)), kind: "frame_too_large", log: "data frame of 65537 bytes"},
		{name: "compressed frame over max_frame_bytes", input: concat(winFrame(1), compressedRaw(make([]byte, 64<<10+1))), kind: "frame_too_large", log: "compressed frame of 65537 bytes"},
		{name: "zlib bomb", input: concat(winFrame(100), compressed(t, bomb...)), kind: "decoded_too_large", log: "max_decoded_frame_bytes"},
		{name: "corrupt zlib", input: concat(winFrame(1), compressedRaw([]byte("not zlib at all"))), kind: "zlib", log: "corrupt compressed frame"},
		{name: "nested compression", input: concat(winFrame(1), compressed(t, compressed(t, jsonFrame(1, good)))), kind: "frame_type", log: "compressed frame inside a compressed frame"},
		{name: "more events than the window", input: concat(winFrame(1), compressed(t, jsonFrame(1, good), jsonFrame(2, good))), kind: "frame_type", log: "more than the window's events"},
		{name: "window inside a window", input: concat(winFrame(2), jsonFrame(1, good), winFrame(1)), kind: "frame_type", log: "window frame before the previous window's last event"},
		{name: "unknown frame type", input: concat(winFrame(1), []byte("2X")), kind: "frame_type", log: `unknown frame type 'X'`},
		{name: "garbage", input: garbage, kind: "version"},
		{
			// The bad event is rejected, counted and logged; the others are kept
			// and the whole window is ACKed, so the bad one is not resent.
			name:  "invalid JSON in one event",
			input: concat(winFrame(3), jsonFrame(1, good), jsonFrame(2, `{"message":"cut`), jsonFrame(3, good)),
			log:   `"seq":2`, reply: ack(3), stored: 2,
		},
		{
			name:  "event over max_event_bytes",
			input: concat(winFrame(3), compressed(t, jsonFrame(1, good), jsonFrame(2, `{"m":"`+strings.Repeat("x", 7000)+`"}`), jsonFrame(3, good))),
			log:   "limit is 2000 (gateway.limits.max_event_bytes)", reply: ack(3), stored: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := rec.count()
			var kindBefore int64
			if tc.kind != "" {
				kindBefore = h.counter(t, "sluice_lumberjack_protocol_errors", "kind", tc.kind)
			}
			// A window that is answered ends with the client closing its side.
			out := exchange(t, h.addr, tc.input, tc.closeWrite || tc.reply != nil)
			if !bytes.Equal(out, tc.reply) {
				t.Errorf("server sent %q, want %q", out, tc.reply)
			}
			if got := rec.count() - before; got != tc.stored {
				t.Errorf("%d events ingested, want %d", got, tc.stored)
			}
			if tc.kind != "" {
				eventually(t, "the protocol error counted", func() bool {
					return h.counter(t, "sluice_lumberjack_protocol_errors", "kind", tc.kind) == kindBefore+1
				})
			}
			if tc.log != "" && !strings.Contains(h.logs.String(), tc.log) {
				t.Errorf("log lacks %q", tc.log)
			}
			// The process survives and serves a well-formed client.
			send(t, h.addr, "sync", 3, [][]any{events(0, 2)})
		})
	}
	if n := h.counter(t, "sluice_lumberjack_events", "result", "rejected"); n != 2 {
		t.Errorf("%d events counted rejected, want 2", n)
	}
}
