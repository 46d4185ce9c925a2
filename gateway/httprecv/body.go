package httprecv

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/sluice-siem/sluice/gateway"
)

// Reading request bodies: what a client declares (Content-Length, a compressed size,
// a zstd window) is a promise to check, never an allocation size. A body is read in
// chunks into a buffer that grows only as bytes arrive, and every byte of buffer is
// first taken from the budget all requests share (limits.max_buffered_bytes, kept by
// the gateway core, gRPC's messages included), so that N concurrent decompression
// bombs cost at most that budget, not N times max_decoded_bytes. Growing a buffer by doubling allocates about twice the body in
// all, which is what the budget counts, so a body of max_decoded_bytes takes twice that.

const (
	// readChunk is the smallest step a body buffer grows by.
	readChunk = 64 << 10
	// maxPooledBuffer is the largest buffer kept for reuse; larger ones are left to the
	// garbage collector, so the pool never pins a bomb's worth of memory.
	maxPooledBuffer = 1 << 20
	// zstdMaxWindow is the largest zstd window a body may need: the 8 MB that RFC 9659
	// sets for the zstd content coding, so a frame header cannot make the decoder
	// reserve more.
	zstdMaxWindow = 8 << 20
)

// budget is the shared budget of request bytes: the gateway core's.
type budget interface {
	ReserveBuffer(ctx context.Context, n int64) error
	ReleaseBuffer(n int64)
}

// bodyReader reads request bodies within the limits and the shared budget.
type bodyReader struct {
	limits  gateway.Limits
	budget  budget
	buffers sync.Pool // *[]byte with cap in [readChunk, maxPooledBuffer]
	zstd    sync.Pool // *zstd.Decoder
}

func newBodyReader(l gateway.Limits, b budget) *bodyReader {
	return &bodyReader{limits: l, budget: b}
}

// body is a request body read into a buffer taken from the budget. Release gives both
// back; the bytes must not be used after it. Release is safe on a zero body and twice.
type body struct {
	bytes []byte
	held  int64 // budget taken: the capacity of every buffer the body has had
	br    *bodyReader
}

func (b *body) Release() {
	if b.br == nil {
		return
	}
	if c := cap(b.bytes); c >= readChunk && c <= maxPooledBuffer {
		buf := b.bytes[:0]
		b.br.buffers.Put(&buf)
	}
	b.br.budget.ReleaseBuffer(b.held)
	*b = body{}
}

// read reads r's body, decompressing gzip and zstd, within limits.max_body_bytes on the
// wire and limits.max_decoded_bytes decoded. On error nothing is held.
func (br *bodyReader) read(w http.ResponseWriter, r *http.Request) (_ body, err error) {
	maxWire, maxDecoded := int64(br.limits.MaxBodyBytes), int64(br.limits.MaxDecodedBytes)
	if r.ContentLength > maxWire {
		return body{}, gateway.Errorf(gateway.KindTooLarge, "body is %d bytes, limit is %d (limits.max_body_bytes)", r.ContentLength, maxWire)
	}
	wire := http.MaxBytesReader(w, r.Body, maxWire)
	var src io.Reader
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		src = wire
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(wire)
		if err != nil {
			return body{}, br.bodyError(err, "read gzip body")
		}
		src = zr
	case "zstd":
		zr, err := br.zstdReader(wire)
		if err != nil {
			return body{}, br.bodyError(err, "read zstd body")
		}
		defer func() { _ = zr.Reset(nil); br.zstd.Put(zr) }()
		src = zr
	default:
		return body{}, gateway.Errorf(gateway.KindUnsupportedMedia, "unsupported Content-Encoding %q: send gzip, zstd or no encoding", enc)
	}

	b := body{br: br}
	defer func() {
		if err != nil {
			b.Release()
		}
	}()
	if p, ok := br.buffers.Get().(*[]byte); ok {
		if err := br.budget.ReserveBuffer(r.Context(), int64(cap(*p))); err != nil {
			br.buffers.Put(p)
			return body{}, err
		}
		b.bytes, b.held = *p, int64(cap(*p))
	}
	for {
		if len(b.bytes) == cap(b.bytes) {
			if int64(len(b.bytes)) >= maxDecoded {
				return b, br.expectEOF(src, maxDecoded)
			}
			// Grow by doubling up to the limit, taking the new buffer from the budget
			// first. The old one stays counted until the request ends: it is garbage,
			// but memory until the collector runs, and the budget bounds memory.
			newCap := min(max(2*int64(cap(b.bytes)), readChunk), maxDecoded)
			if err := br.budget.ReserveBuffer(r.Context(), newCap); err != nil {
				return body{}, err
			}
			grown := make([]byte, len(b.bytes), newCap)
			copy(grown, b.bytes)
			b.bytes, b.held = grown, b.held+newCap
		}
		n, rerr := src.Read(b.bytes[len(b.bytes):cap(b.bytes)])
		b.bytes = b.bytes[:len(b.bytes)+n]
		if errors.Is(rerr, io.EOF) {
			return b, nil
		}
		if rerr != nil {
			return body{}, br.bodyError(rerr, "read body")
		}
	}
}

// expectEOF reads on from a body that has filled the decoded limit: the body is fine
// if it ends there, and over the limit if one more byte comes.
func (br *bodyReader) expectEOF(src io.Reader, maxDecoded int64) error {
	var one [1]byte
	for {
		n, err := src.Read(one[:])
		switch {
		case n > 0:
			return gateway.Errorf(gateway.KindTooLarge, "decompressed body exceeds %d bytes (limits.max_decoded_bytes)", maxDecoded)
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return br.bodyError(err, "read body")
		}
	}
}

func (br *bodyReader) zstdReader(r io.Reader) (*zstd.Decoder, error) {
	if d, ok := br.zstd.Get().(*zstd.Decoder); ok {
		if err := d.Reset(r); err != nil {
			return nil, err
		}
		return d, nil
	}
	return zstd.NewReader(r,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxMemory(uint64(br.limits.MaxDecodedBytes)),
		zstd.WithDecoderMaxWindow(uint64(min(max(int64(br.limits.MaxDecodedBytes), zstd.MinWindowSize), zstdMaxWindow))))
}

// bodyError classifies an error met while reading the body.
func (br *bodyReader) bodyError(err error, what string) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return gateway.Errorf(gateway.KindTooLarge, "body exceeds %d bytes (limits.max_body_bytes)", mbe.Limit)
	case errors.Is(err, zstd.ErrWindowSizeExceeded):
		return gateway.Errorf(gateway.KindTooLarge, "%s: the zstd frame asks for a window over %d bytes, the smaller of limits.max_decoded_bytes and the zstd content coding's 8 MiB (RFC 9659)", what, min(int64(br.limits.MaxDecodedBytes), zstdMaxWindow))
	case errors.Is(err, zstd.ErrDecoderSizeExceeded):
		return gateway.Errorf(gateway.KindTooLarge, "%s: decompressed body exceeds %d bytes (limits.max_decoded_bytes)", what, br.limits.MaxDecodedBytes)
	case errors.Is(err, gzip.ErrHeader), errors.Is(err, gzip.ErrChecksum), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, zstd.ErrMagicMismatch), errors.Is(err, zstd.ErrReservedBlockType), errors.Is(err, zstd.ErrBlockTooSmall):
		return gateway.Errorf(gateway.KindInvalid, "%s: corrupt or truncated data: %w", what, err)
	default:
		return gateway.Errorf(gateway.KindInvalid, "%s: %w", what, err)
	}
}
