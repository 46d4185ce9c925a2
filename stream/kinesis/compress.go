package kinesis

// Compressed records (docs/stream-format.md): the producer may compress an aggregated
// record's data as one zstd frame; the reader decompresses any record whose data
// begins with zstd's frame magic, whatever the producer's setting, so that streams
// with both kinds (a rolling upgrade) stay readable. Neither a sluice envelope ('{')
// nor a KPL aggregated record (kpl.Magic) can begin with that magic.

import (
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Compressions of records (Config.Compression).
const (
	CompressionZstd = "zstd"
	CompressionNone = "none"
)

// zstdMagic begins every zstd frame (RFC 8878, 3.1.1).
const zstdMagic = "\x28\xb5\x2f\xfd"

// IsCompressed reports whether record data is a zstd frame.
func IsCompressed(data []byte) bool {
	return len(data) >= len(zstdMagic) && string(data[:len(zstdMagic)]) == zstdMagic
}

// minCompressBytes is the smallest record data the producer compresses: below it the
// frame's overhead eats most of the gain.
const minCompressBytes = 256

// compressor compresses record data for a producer; safe for concurrent use (the
// senders share it).
type compressor struct{ enc *zstd.Encoder }

// newCompressor returns the compressor of a producer whose records hold at most
// maxRecord bytes, with one encoder for each of concurrency senders.
func newCompressor(concurrency, maxRecord int) *compressor {
	// SpeedFastest: records of the samples within a few per cent of SpeedDefault's
	// size, in two thirds to three quarters of its time (BENCHMARKS.md, "Compressed
	// records").
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(max(1, concurrency)),
		zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithWindowSize(windowSize(maxRecord)),
		zstd.WithZeroFrames(false), zstd.WithEncoderCRC(false))
	return &compressor{enc: enc}
}

// maxWindow is the largest window an encoder gets: SpeedDefault's own.
const maxWindow = 8 << 20

// windowSize returns the window of an encoder of records of at most maxRecord bytes:
// the smallest power of two that holds a whole record (a record is one frame, so a
// match never reaches further back), within zstd's bounds and maxWindow. An encoder
// keeps a history of twice its window: with SpeedDefault's 8 MiB, 16 MiB for each
// encoder, 80 of a gateway's 240 MB with 1 MiB records; 2 MiB each with a 1 MiB window
// (BENCHMARKS.md, "OTLP/gRPC logs into Kinesis").
func windowSize(maxRecord int) int {
	w := zstd.MinWindowSize
	for w < maxRecord && w < maxWindow {
		w <<= 1
	}
	return w
}

// compress returns data as a zstd frame, or data itself when it is small or the frame
// would not be smaller.
func (c *compressor) compress(data []byte) []byte {
	if c == nil || len(data) < minCompressBytes {
		return data
	}
	out := c.enc.EncodeAll(data, make([]byte, 0, len(data)/4))
	if len(out) >= len(data) {
		return data
	}
	return out
}

// decompressor decompresses records, bounding the size of each. It is safe for
// concurrent use.
type decompressor struct {
	max  int
	once sync.Once
	dec  *zstd.Decoder
}

// errTooLarge is wrapped by the error of a record that decompresses past the bound.
var errTooLarge = errors.New("larger than max_decompressed_bytes once decompressed")

// decompress returns the data of a zstd frame, failing past d.max bytes: the bound is
// checked as the frame is decoded, so a decompression bomb costs no more memory
// than the bound.
func (d *decompressor) decompress(data []byte) ([]byte, error) {
	d.once.Do(func() {
		d.dec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(uint64(d.max)),
			zstd.WithDecoderMaxWindow(uint64(min(d.max, zstd.MaxWindowSize))))
	})
	out, err := d.dec.DecodeAll(data, nil)
	if err != nil {
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
			return nil, fmt.Errorf("zstd record: %w (%d bytes)", errTooLarge, d.max)
		}
		return nil, fmt.Errorf("zstd record: %w", err)
	}
	if len(out) > d.max {
		return nil, fmt.Errorf("zstd record: %w (%d bytes)", errTooLarge, d.max)
	}
	return out, nil
}
