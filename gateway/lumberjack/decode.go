package lumberjack

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"

	"github.com/klauspost/compress/zlib"
)

// The lumberjack wire format. Every frame starts with a version byte and a type byte;
// numbers are unsigned 32-bit big endian.
//
//	'2' 'W' count                 window: count events follow before the client waits
//	'2' 'J' seq len payload       one event, a JSON document of len bytes
//	'2' 'C' len payload           zlib data holding more frames (here: 'J' frames)
//	'2' 'A' seq                   server to client: events up to seq are acknowledged
//
// Protocol v1 (version byte '1', key/value 'D' frames) is logstash-forwarder's and is
// refused.
const (
	versionV1       = '1'
	versionV2       = '2'
	frameWindow     = 'W'
	frameJSON       = 'J'
	frameCompressed = 'C'
	frameACK        = 'A'
)

// Sizes of the buffers a connection reads through.
const (
	// wireBufferSize is the connection's read buffer.
	wireBufferSize = 32 << 10
	// inflateInSize buffers a compressed frame's bytes for the zlib reader (which
	// decodes fastest from a *bufio.Reader).
	inflateInSize = 4 << 10
	// inflateOutSize buffers decompressed frames.
	inflateOutSize = 32 << 10
	// payloadChunk is the most an event buffer grows ahead of the bytes that arrived:
	// a client's declared size is never an allocation.
	payloadChunk = 64 << 10
)

// protocolError is input that breaks the protocol or one of its limits. The connection
// is closed; kind labels the metric.
type protocolError struct {
	kind string
	msg  string
}

func (e *protocolError) Error() string { return e.msg }

func protoErr(kind, format string, args ...any) error {
	return &protocolError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// Errors of the decompressed stream, turned into protocol errors by the decoder.
var (
	errDecodedTooLarge = errors.New("decompressed frame too large")
)

// decodeLimits are the decoder's bounds, from the configuration.
type decodeLimits struct {
	maxWindow  uint32 // events a window may announce
	maxFrame   uint32 // declared length of a 'J' or 'C' frame
	maxDecoded int64  // decompressed bytes of one 'C' frame
}

// decoder reads lumberjack v2 frames from a connection's buffered reader, going into
// and out of compressed frames transparently. It never trusts a declared length for an
// allocation: payloads are appended to the caller's buffer as their bytes arrive, in
// chunks of at most payloadChunk, and a compressed frame is decompressed as a stream
// through fixed buffers. It is not safe for concurrent use.
type decoder struct {
	wire *bufio.Reader
	lim  decodeLimits
	// inflaters are shared by the server's connections (sync.Pool of *inflater).
	inflaters *sync.Pool
	// z is the compressed frame being read, or nil.
	z *inflater
	// hdr holds the frame header being read: a local array would escape to the heap
	// through io.ReadFull, an allocation per event.
	hdr [10]byte
}

// inflater decompresses one compressed frame: wire -> frame (the frame's bytes) -> in
// -> zlib -> count (the decompressed limit) -> out.
type inflater struct {
	frame frameReader
	in    *bufio.Reader
	zr    io.ReadCloser
	count limitReader
	out   *bufio.Reader
}

// frameReader reads the rest of a compressed frame from the wire, and remembers why
// the wire failed, so that a corrupt stream is told apart from a dropped connection.
type frameReader struct {
	wire *bufio.Reader
	left int64
	err  error
}

func (f *frameReader) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.wire.Read(p)
	f.left -= int64(n)
	if err != nil {
		f.err = err
	}
	return n, err
}

// limitReader fails with errDecodedTooLarge once more than left bytes were read.
type limitReader struct {
	r    io.Reader
	left int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	if int64(n) > l.left {
		return 0, errDecodedTooLarge
	}
	l.left -= int64(n)
	return n, err
}

func newInflaterPool() *sync.Pool {
	return &sync.Pool{New: func() any {
		z := &inflater{}
		z.in = bufio.NewReaderSize(&z.frame, inflateInSize)
		z.out = bufio.NewReaderSize(&z.count, inflateOutSize)
		return z
	}}
}

// window reads the next window frame and returns its event count. An error before the
// frame's first byte is the connection's own, unclassified: io.EOF is a clean end
// between windows, a deadline is the idle timeout.
func (d *decoder) window() (uint32, error) {
	hdr := &d.hdr
	n, err := io.ReadFull(d.wire, hdr[:2])
	if err != nil {
		if n == 0 {
			return 0, err
		}
		return 0, d.wireErr(err, "window frame")
	}
	switch {
	case hdr[0] == versionV1:
		return 0, protoErr("version", "lumberjack protocol v1 (logstash-forwarder) is not supported: send protocol v2 (Filebeat's output.logstash)")
	case hdr[0] == 0x16 && hdr[1] == 0x03:
		return 0, protoErr("version", "received a TLS handshake on a plaintext listener: configure lumberjack.tls, or turn TLS off in the client")
	case hdr[0] != versionV2:
		return 0, protoErr("version", "unknown protocol version byte %q: want '2'", hdr[0])
	case hdr[1] != frameWindow:
		return 0, protoErr("frame_type", "frame type %q where a window frame 'W' must start the window", hdr[1])
	}
	if _, err := io.ReadFull(d.wire, hdr[2:6]); err != nil {
		return 0, d.wireErr(err, "window frame")
	}
	count := binary.BigEndian.Uint32(hdr[2:6])
	if count == 0 || count > d.lim.maxWindow {
		return 0, protoErr("window_size", "window of %d events: want 1 to %d (lumberjack.max_window_events)", count, d.lim.maxWindow)
	}
	return count, nil
}

// header reads the next data frame's header, entering compressed frames and leaving
// finished ones on the way, and returns the event's sequence number and length.
func (d *decoder) header() (seq, size uint32, err error) {
	for {
		src := d.wire
		if d.z != nil {
			src = d.z.out
		}
		hdr := &d.hdr
		n, err := io.ReadFull(src, hdr[:2])
		if err != nil {
			if d.z != nil && n == 0 && errors.Is(err, io.EOF) {
				if err := d.endCompressed(); err != nil {
					return 0, 0, err
				}
				continue
			}
			return 0, 0, d.srcErr(err, "frame header")
		}
		if hdr[0] != versionV2 {
			return 0, 0, protoErr("version", "unknown protocol version byte %q in a window: want '2'", hdr[0])
		}
		switch hdr[1] {
		case frameJSON:
			if _, err := io.ReadFull(src, hdr[2:10]); err != nil {
				return 0, 0, d.srcErr(err, "data frame header")
			}
			seq, size = binary.BigEndian.Uint32(hdr[2:6]), binary.BigEndian.Uint32(hdr[6:10])
			if size > d.lim.maxFrame {
				return 0, 0, protoErr("frame_too_large", "data frame of %d bytes, limit is %d (lumberjack.max_frame_bytes)", size, d.lim.maxFrame)
			}
			return seq, size, nil
		case frameCompressed:
			if d.z != nil {
				return 0, 0, protoErr("frame_type", "compressed frame inside a compressed frame")
			}
			if _, err := io.ReadFull(src, hdr[2:6]); err != nil {
				return 0, 0, d.srcErr(err, "compressed frame header")
			}
			size := binary.BigEndian.Uint32(hdr[2:6])
			if size > d.lim.maxFrame {
				return 0, 0, protoErr("frame_too_large", "compressed frame of %d bytes, limit is %d (lumberjack.max_frame_bytes)", size, d.lim.maxFrame)
			}
			if err := d.startCompressed(size); err != nil {
				return 0, 0, err
			}
		case frameWindow:
			return 0, 0, protoErr("frame_type", "window frame before the previous window's last event")
		default:
			return 0, 0, protoErr("frame_type", "unknown frame type %q in a window", hdr[1])
		}
	}
}

// payload appends the event of size bytes that follows a header to dst, growing dst as
// the bytes arrive.
func (d *decoder) payload(dst []byte, size uint32) ([]byte, error) {
	src := d.wire
	if d.z != nil {
		src = d.z.out
	}
	for left := int(size); left > 0; {
		n := min(left, payloadChunk)
		dst = slices.Grow(dst, n)
		m, err := io.ReadFull(src, dst[len(dst):len(dst)+n])
		dst = dst[:len(dst)+m]
		if err != nil {
			return dst, d.srcErr(err, "data frame")
		}
		left -= n
	}
	return dst, nil
}

// skip reads past an event of size bytes without keeping it.
func (d *decoder) skip(size uint32) error {
	src := d.wire
	if d.z != nil {
		src = d.z.out
	}
	if _, err := src.Discard(int(size)); err != nil {
		return d.srcErr(err, "data frame")
	}
	return nil
}

// endWindow checks, after a window's last event, that no compressed frame holds more.
func (d *decoder) endWindow() error {
	if d.z == nil {
		return nil
	}
	if _, err := d.z.out.ReadByte(); err == nil {
		return protoErr("frame_type", "compressed frame holds more than the window's events")
	} else if !errors.Is(err, io.EOF) {
		return d.srcErr(err, "compressed frame")
	}
	return d.endCompressed()
}

// startCompressed enters a compressed frame of size bytes.
func (d *decoder) startCompressed(size uint32) error {
	z := d.inflaters.Get().(*inflater)
	z.frame = frameReader{wire: d.wire, left: int64(size)}
	z.in.Reset(&z.frame)
	var err error
	if z.zr == nil {
		z.zr, err = zlib.NewReader(z.in)
	} else {
		err = z.zr.(zlib.Resetter).Reset(z.in, nil)
	}
	d.z = z
	if err != nil {
		return d.srcErr(err, "compressed frame")
	}
	z.count = limitReader{r: z.zr, left: d.lim.maxDecoded}
	z.out.Reset(&z.count)
	return nil
}

// endCompressed leaves a compressed frame whose zlib stream ended (and whose checksum
// the zlib reader verified), skipping any bytes the frame has after the stream.
func (d *decoder) endCompressed() error {
	z := d.z
	if rest := z.frame.left; rest > 0 {
		if _, err := d.wire.Discard(int(rest)); err != nil {
			return d.wireErr(err, "compressed frame")
		}
		z.frame.left = 0
	}
	d.release()
	return nil
}

// release returns the inflater, if any, to the pool. The decoder must not be used for
// the same window after release.
func (d *decoder) release() {
	if d.z == nil {
		return
	}
	z := d.z
	d.z = nil
	z.frame = frameReader{}
	z.count.r = nil
	z.in.Reset(&z.frame)
	z.out.Reset(&z.count)
	d.inflaters.Put(z)
}

// srcErr classifies an error met while reading a window, from the wire or from a
// compressed frame.
func (d *decoder) srcErr(err error, what string) error {
	if d.z != nil {
		switch fe := d.z.frame.err; {
		case errors.Is(err, errDecodedTooLarge):
			return protoErr("decoded_too_large", "compressed frame decompresses to more than %d bytes (lumberjack.max_decoded_frame_bytes)", d.lim.maxDecoded)
		case fe != nil && (d.z.frame.left > 0 || !errors.Is(fe, io.EOF)):
			return d.wireErr(fe, what)
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return protoErr("truncated", "compressed frame ends inside a %s", what)
		default:
			return protoErr("zlib", "corrupt compressed frame: %v", err)
		}
	}
	return d.wireErr(err, what)
}

// wireErr classifies an error of the connection itself.
func (d *decoder) wireErr(err error, what string) error {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return protoErr("truncated", "connection closed inside a %s", what)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return protoErr("read_timeout", "client sent nothing for lumberjack.read_timeout inside a %s", what)
	default:
		return fmt.Errorf("read %s: %w", what, err)
	}
}
