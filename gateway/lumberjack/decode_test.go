package lumberjack

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	lj "github.com/elastic/go-lumber/client/v2"
)

// decodeAll runs a decoder over input as a connection would, keeping at most keep bytes
// per event (larger ones are skipped), and returns the events of the complete windows,
// how many bytes the event buffer ever held, and the error that ended the input.
func decodeAll(input []byte, lim decodeLimits, keep uint32) (events []string, peak int, err error) {
	d := &decoder{wire: bufio.NewReaderSize(bytes.NewReader(input), wireBufferSize), lim: lim, inflaters: newInflaterPool()}
	defer d.release()
	var buf []byte
	for {
		count, err := d.window()
		if err != nil {
			return events, peak, err
		}
		var window []string
		for range count {
			_, size, err := d.header()
			if err != nil {
				return events, peak, err
			}
			if size > keep {
				if err := d.skip(size); err != nil {
					return events, peak, err
				}
				window = append(window, "")
				continue
			}
			buf, err = d.payload(buf[:0], size)
			peak = max(peak, cap(buf))
			if err != nil {
				return events, peak, err
			}
			window = append(window, string(buf))
		}
		if err := d.endWindow(); err != nil {
			return events, peak, err
		}
		events = append(events, window...)
	}
}

var testLimits = decodeLimits{maxWindow: 1000, maxFrame: 64 << 10, maxDecoded: 256 << 10}

// captureConn is a net.Conn that keeps what a client writes, so that tests get the exact
// bytes go-lumber's client sends.
type captureConn struct {
	net.Conn
	buf bytes.Buffer
}

func (c *captureConn) Write(p []byte) (int, error)      { return c.buf.Write(p) }
func (c *captureConn) SetWriteDeadline(time.Time) error { return nil }
func (c *captureConn) Close() error                     { return nil }

// clientBytes returns what go-lumber's client sends for windows at a compression level.
func clientBytes(t testing.TB, level int, windows ...[]any) []byte {
	t.Helper()
	cc := &captureConn{}
	c, err := lj.NewWithConn(cc, lj.CompressionLevel(level))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range windows {
		if err := c.Send(w); err != nil {
			t.Fatal(err)
		}
	}
	return cc.buf.Bytes()
}

func TestDecodeClientBytes(t *testing.T) {
	w1, w2 := events(0, 7), events(7, 3)
	for _, level := range []int{0, 1, 9} {
		got, _, err := decodeAll(clientBytes(t, level, w1, w2), testLimits, 1<<20)
		if !errors.Is(err, io.EOF) {
			t.Fatalf("level %d: %v", level, err)
		}
		want := wantDocs(t, append(w1, w2...))
		for i := range got {
			var s scanner
			doc, err := s.event([]byte(got[i]), false)
			if err != nil || string(doc) != want[i] {
				t.Fatalf("level %d event %d = %s, %v; want %s", level, i, doc, err, want[i])
			}
		}
		if len(got) != len(want) {
			t.Fatalf("level %d: %d events, want %d", level, len(got), len(want))
		}
	}
}

// TestDecodeNeverTrustsDeclaredSizes: a frame that declares a large payload but sends
// little costs what was sent, not what was declared; a window that announces 2^20
// events allocates nothing for them; a zlib bomb is stopped at the decompressed limit
// after reading through fixed buffers.
func TestDecodeNeverTrustsDeclaredSizes(t *testing.T) {
	lim := decodeLimits{maxWindow: 1 << 20, maxFrame: 1<<32 - 1, maxDecoded: 1 << 20}
	allocs := func(input []byte, keep uint32, wantKind string) uint64 {
		t.Helper()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, peak, err := decodeAll(input, lim, keep)
		runtime.ReadMemStats(&after)
		var pe *protocolError
		if !errors.As(err, &pe) || pe.kind != wantKind {
			t.Fatalf("error %v, want a %s protocol error", err, wantKind)
		}
		if peak > 2*len(input)+payloadChunk {
			t.Errorf("event buffer grew to %d bytes for %d bytes of input", peak, len(input))
		}
		return after.TotalAlloc - before.TotalAlloc
	}
	// 4 GiB declared, 10 bytes sent.
	if n := allocs(concat(winFrame(1<<20), jsonHeader(1, 1<<32-1), []byte(`{"a":"xxx`)), 1<<32-1, "truncated"); n > 256<<10 {
		t.Errorf("declared 4 GiB, sent 10 bytes: allocated %d bytes", n)
	}
	// 8 MiB of frames in 8 KiB of zlib, against a limit of 1 MiB.
	frame := jsonFrame(1, "{"+strings.Repeat(" ", 32<<10)+"}")
	var bomb [][]byte
	for range 256 {
		bomb = append(bomb, frame)
	}
	input := concat(winFrame(256), compressed(t, bomb...))
	if len(input) > 64<<10 {
		t.Fatalf("bomb is %d bytes", len(input))
	}
	if n := allocs(input, 0, "decoded_too_large"); n > 512<<10 {
		t.Errorf("zlib bomb of 8 MiB: allocated %d bytes", n)
	}
}

// FuzzDecodeFrames feeds arbitrary bytes to the frame decoder: it must not panic, must
// not grow its buffer beyond what it was sent (and decompressed, within the limit), and
// must end with io.EOF or an error.
func FuzzDecodeFrames(f *testing.F) {
	f.Add(clientBytes(f, 0, events(0, 2)))
	f.Add(clientBytes(f, 3, events(0, 3), events(3, 1)))
	f.Add(concat(winFrame(1), compressed(f, jsonFrame(1, `{"a":1}`))))
	f.Add(concat(winFrame(2), jsonFrame(1, `{}`), compressed(f, jsonFrame(2, `{}`))))
	f.Add(concat(winFrame(1), compressed(f, compressed(f, jsonFrame(1, `{}`)))))
	f.Add(concat(winFrame(1), compressedRaw([]byte("x\x9c garbage"))))
	f.Add([]byte("1W\x00\x00\x00\x01"))
	f.Add(winFrame(0))
	f.Fuzz(func(t *testing.T, input []byte) {
		evs, peak, err := decodeAll(input, testLimits, 4<<10)
		if err == nil {
			t.Fatal("decoding ended without an error")
		}
		if limit := len(input) + int(testLimits.maxDecoded) + payloadChunk; peak > 2*limit {
			t.Fatalf("event buffer grew to %d bytes for %d bytes of input", peak, len(input))
		}
		if len(evs) > (len(input)+int(testLimits.maxDecoded))/10 {
			t.Fatalf("%d events from %d bytes", len(evs), len(input))
		}
	})
}
