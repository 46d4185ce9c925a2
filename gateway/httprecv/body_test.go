package httprecv

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/internal/bytesize"
)

// FuzzReadBody holds the body reader to its contract on any bytes under any encoding:
// no panic, never more than the decoded limit, every byte of budget given back, and a
// body that the reference decoders read within the limit is read the same.
func FuzzReadBody(f *testing.F) {
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(b)
		_ = zw.Close()
		return buf.Bytes()
	}
	enc, _ := zstd.NewWriter(nil)
	for _, b := range [][]byte{nil, []byte(`{"a":1}`), bytes.Repeat([]byte("x"), 5000), bytes.Repeat([]byte(" "), 1<<20)} {
		f.Add(b, "")
		f.Add(gz(b), "gzip")
		f.Add(enc.EncodeAll(b, nil), "zstd")
		f.Add(gz(b)[:len(gz(b))/2], "gzip")
	}
	_ = enc.Close()
	limits := gateway.DefaultConfig().Limits
	limits.MaxBodyBytes = 64 * bytesize.KiB
	limits.MaxDecodedBytes = 256 * bytesize.KiB
	limits.MaxBufferedBytes = 512 * bytesize.KiB
	limits.BackpressureWait = time.Second
	cfg := gateway.DefaultConfig()
	cfg.Limits = limits
	gw, err := gateway.New(cfg, nil, gateway.Options{})
	if err != nil {
		f.Fatal(err)
	}
	br := newBodyReader(limits, gw)
	f.Fuzz(func(t *testing.T, data []byte, encoding string) {
		req := httptest.NewRequest("POST", "/v1/events", bytes.NewReader(data))
		req.Header.Set("Content-Encoding", encoding)
		b, err := br.read(httptest.NewRecorder(), req)
		if err == nil {
			if int64(len(b.bytes)) > int64(limits.MaxDecodedBytes) {
				t.Fatalf("read %d bytes, over the decoded limit", len(b.bytes))
			}
			if want, ok := reference(data, encoding, int64(limits.MaxDecodedBytes)); ok && len(data) <= int(limits.MaxBodyBytes) && !bytes.Equal(want, b.bytes) {
				t.Fatalf("read %d bytes, the reference decoder %d", len(b.bytes), len(want))
			}
			b.Release()
			b.Release()
		}
		if n := gw.BufferedBytes(); n != 0 {
			t.Fatalf("%d bytes of the budget not given back", n)
		}
	})
}

// reference decodes data with the reference decoders; ok is false when they fail or
// the result is over max.
func reference(data []byte, encoding string, max int64) ([]byte, bool) {
	var r io.Reader = bytes.NewReader(data)
	switch encoding {
	case "":
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, false
		}
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, false
		}
		defer zr.Close()
		r = zr
	default:
		return nil, false
	}
	out, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil || int64(len(out)) > max {
		return nil, false
	}
	return out, true
}
