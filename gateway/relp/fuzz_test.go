package relp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/sluice-siem/sluice/gateway"
)

// fuzzSeeds are inputs for both fuzz targets: valid sessions and near misses.
func fuzzSeeds(f *testing.F) {
	f.Add(session())
	f.Add(frame(1, "open", openOffers))
	f.Add([]byte("1 open 0\n2 syslog 3 abc\n3 close 0\n"))
	f.Add([]byte("1 syslog 5 hello\n"))
	f.Add([]byte("1 open 85 relp_version=0\n"))
	f.Add([]byte("2 syslog 999999999 x"))
	f.Add([]byte("0 serverclose 0\n"))
	f.Add([]byte("1234567890 a 0\n"))
	f.Add(append(frame(1, "open", "relp_version=9\ncommands=syslog,x\nz"), frame(2, "starttls", "")...))
	f.Add([]byte("\x16\x03\x01\x00\x00"))
}

// FuzzReadFrame feeds arbitrary bytes to the frame reader: it never panics, never keeps
// more data than the limit or than arrived, and every frame it returns obeys the grammar.
func FuzzReadFrame(f *testing.F) {
	fuzzSeeds(f)
	const limit = 4096
	f.Fuzz(func(t *testing.T, in []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(in), 16)
		var dst []byte
		for range 1000 {
			h, err := readHeader(br)
			if err != nil {
				var pe *protocolError
				if !errors.Is(err, io.EOF) && !errors.As(err, &pe) {
					t.Fatalf("error %v is neither EOF nor a protocol error", err)
				}
				return
			}
			if h.txnr > maxTxnr || h.size > maxTxnr || h.nameLen == 0 || int(h.nameLen) > maxCommandLen {
				t.Fatalf("header out of the grammar: %+v", h)
			}
			if h.size > limit {
				return // the server answers 500 here and reads no further
			}
			before := len(dst)
			dst, err = readData(br, h.size, dst)
			if len(dst)-before > h.size || len(dst) > len(in) {
				t.Fatalf("kept %d bytes for DATALEN %d from %d bytes of input", len(dst)-before, h.size, len(in))
			}
			if err != nil {
				return
			}
			if len(dst)-before != h.size {
				t.Fatalf("read %d bytes for DATALEN %d", len(dst)-before, h.size)
			}
			if h.cmd == cmdOpen {
				_, _ = parseOffers(dst[before:])
			}
		}
	})
}

// FuzzSession runs a whole connection, state machine included, over arbitrary bytes cut
// into arbitrary reads: it never panics, never hands the handler more than the window
// or a message over the limit, and answers in well-formed frames with increasing TXNRs.
func FuzzSession(f *testing.F) {
	fuzzSeeds(f)
	cfg := testConfig()
	cfg.Window = 4
	cfg.MaxMessageBytes = 512
	cfg.MaxBatchBytes = 1024
	f.Fuzz(func(t *testing.T, in []byte) {
		handle := func(ctx context.Context, b Batch) (gateway.Result, error) {
			if len(b.Messages) == 0 || len(b.Messages) > cfg.Window {
				t.Fatalf("batch of %d messages, window %d", len(b.Messages), cfg.Window)
			}
			total := 0
			var res gateway.Result
			for i, m := range b.Messages {
				if len(m) > int(cfg.MaxMessageBytes) {
					t.Fatalf("message of %d bytes, limit %d", len(m), cfg.MaxMessageBytes)
				}
				total += len(m)
				if len(m) > 0 && m[0] == 'x' { // some messages are refused for good
					res.Rejections = append(res.Rejections, gateway.Rejection{Index: i, Kind: gateway.KindInvalid, Reason: "x"})
				}
			}
			if total > int(cfg.MaxBatchBytes+cfg.MaxMessageBytes) {
				t.Fatalf("batch of %d bytes, bound %d", total, cfg.MaxBatchBytes+cfg.MaxMessageBytes)
			}
			if len(b.Messages) > 0 && len(b.Messages[0]) > 0 && b.Messages[0][0] == 'p' {
				return res, gateway.Errorf(gateway.KindInvalid, "whole batch refused")
			}
			return res, nil
		}
		// The input's first byte picks where the reads are cut.
		var chunks [][]byte
		step := 1
		if len(in) > 0 {
			step = int(in[0])%7 + 1
		}
		for rest := in; len(rest) > 0; {
			n := min(step, len(rest))
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
			step = step%7 + 1
		}
		out := runScript(t, cfg, handle, nil, chunks...)
		frames := parseOut(t, out)
		var last uint32
		for i, fr := range frames {
			if fr.txnr == 0 {
				if fr.cmd != "serverclose" || i != len(frames)-1 {
					t.Fatalf("hint %v not last", fr)
				}
				continue
			}
			if fr.cmd != "rsp" || fr.txnr != nextTxnr(last) && last != 0 {
				t.Fatalf("frame %v after TXNR %d", fr, last)
			}
			if len(fr.data) < 3 || (fr.data[:3] != "200" && fr.data[:3] != "500") {
				t.Fatalf("response %q", fr.data)
			}
			last = fr.txnr
		}
	})
}
