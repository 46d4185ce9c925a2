package syslog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// framing is how a TCP connection delimits its messages (RFC 6587).
type framing uint8

const (
	framingUnknown framing = iota
	// framingOctet is octet counting: MSG-LEN SP SYSLOG-MSG.
	framingOctet
	// framingLF is non-transparent framing: messages end with LF.
	framingLF
)

func (f framing) String() string {
	switch f {
	case framingOctet:
		return "octet_counting"
	case framingLF:
		return "lf"
	default:
		return "unknown"
	}
}

// framingError is input that breaks the framing past recovery: the connection is
// closed. kind names it in the metric sluice_syslog_framing_errors.
type framingError struct {
	kind string
	msg  string
}

func (e *framingError) Error() string { return e.msg }

// Kinds of framing errors.
const (
	kindFrameTooLarge = "frame_too_large" // an octet count over max_message_bytes
	kindBadCount      = "bad_octet_count" // not MSG-LEN SP
	kindTruncated     = "truncated"       // the connection ended inside a frame
	kindLineTooLong   = "line_too_long"   // an LF line over max_message_bytes (discarded, not fatal)
	kindSlowMessage   = "message_timeout" // a started message not whole within message_timeout
)

// errNeedMore is next's answer when the buffer holds no complete message.
var errNeedMore = errors.New("need more input")

// errLineTooLong is next's answer for an LF-delimited line longer than the limit: it
// is discarded (up to its LF, without being kept) and reading goes on.
var errLineTooLong = errors.New("line longer than max_message_bytes")

// Sizes of a frame reader's buffer. It starts at initialBuffer (or less, when the
// limit is small) and grows only as far as a message that was actually received
// needs, up to the limit and room for the octet count: never by a declared length.
const (
	initialBuffer = 64 << 10
	// countRoom is the most bytes of MSG-LEN SP (7 digits for 1 MiB) and of the
	// trailer an LF line may carry (CR, NULs) beyond the message limit.
	countRoom = 16
)

// frameReader splits a TCP stream into syslog messages by RFC 6587 framing, detected
// from the first byte of the connection: a digit 1-9 starts octet counting, anything
// else (normally '<') non-transparent framing with LF, where a trailing CR and NULs
// are stripped from each line. Between octet-counted frames, stray LF, CR and NUL
// bytes are skipped.
//
// It reads into one buffer that it owns and returns messages as parts of it, valid
// until the next call of next or fill. It separates parsing (next, which never reads)
// from reading (fill, one Read), so that its user decides when to block.
type frameReader struct {
	r     io.Reader
	buf   []byte // len is the capacity in use; grows up to maxBuf
	start int    // first unread byte
	end   int    // end of the bytes read
	max   int    // max_message_bytes
	mode  framing
	// scanned is how many bytes after start are known to hold no LF.
	scanned int
	// discarding is set while an overlong LF line is skipped up to its LF.
	discarding bool
	eof        bool
	// short is set when the last read returned less than there was room for: the
	// socket had nothing more at hand.
	short bool
}

func newFrameReader(r io.Reader, max int) *frameReader {
	return &frameReader{r: r, max: max}
}

func (f *frameReader) maxBuf() int { return f.max + countRoom }

// midMessage reports whether the bytes read hold the start of a message not yet
// whole (or an overlong line being skipped): valid after next returned errNeedMore.
func (f *frameReader) midMessage() bool { return f.end > f.start || f.discarding }

// maxLine is the longest LF-delimited line kept, its trailer (CR, NULs) included: a
// longer one is discarded.
func (f *frameReader) maxLine() int { return f.max + countRoom/2 }

// next returns the next complete message in the buffer. It returns errNeedMore when
// the buffer holds none (call fill, then next again), errLineTooLong for a discarded
// line (call next again), io.EOF after the last message once fill reported the end
// of the stream, or a *framingError that ends the connection.
func (f *frameReader) next() ([]byte, error) {
	for {
		if f.start == f.end {
			if f.eof {
				return nil, io.EOF
			}
			return nil, errNeedMore
		}
		if f.mode == framingUnknown {
			if c := f.buf[f.start]; c >= '1' && c <= '9' {
				f.mode = framingOctet
			} else {
				f.mode = framingLF
			}
		}
		if f.mode == framingOctet {
			return f.nextOctet()
		}
		msg, err := f.nextLine()
		if err == nil && len(msg) == 0 {
			continue // an empty line is no message
		}
		return msg, err
	}
}

// nextOctet reads MSG-LEN SP SYSLOG-MSG.
func (f *frameReader) nextOctet() ([]byte, error) {
	b := f.buf[:f.end]
	i := f.start
	for i < f.end && (b[i] == '\n' || b[i] == '\r' || b[i] == 0) {
		i++
	}
	f.start = i
	if i == f.end {
		return f.needMoreLine() // nothing started: the end of the stream is clean
	}
	if b[i] < '1' || b[i] > '9' {
		return nil, &framingError{kindBadCount, fmt.Sprintf("octet counting: frame starts with %q, not a length", b[i])}
	}
	n := 0
	for i < f.end && isDigit(b[i]) {
		n = n*10 + int(b[i]-'0')
		if n > f.max {
			return nil, &framingError{kindFrameTooLarge, fmt.Sprintf("octet counting: frame length over %d bytes (max_message_bytes)", f.max)}
		}
		i++
	}
	if i == f.end {
		return f.needMore()
	}
	if b[i] != ' ' {
		return nil, &framingError{kindBadCount, fmt.Sprintf("octet counting: %q after the frame length, want a space", b[i])}
	}
	i++
	if f.end-i < n {
		return f.needMore()
	}
	f.start = i + n
	return b[i : i+n], nil
}

// needMore reports errNeedMore, or at the end of the stream a truncated frame.
func (f *frameReader) needMore() ([]byte, error) {
	if f.eof {
		return nil, &framingError{kindTruncated, fmt.Sprintf("connection closed inside a frame (%d bytes of it received)", f.end-f.start)}
	}
	return nil, errNeedMore
}

// nextLine reads a line up to LF, or the rest of the stream after its end.
func (f *frameReader) nextLine() ([]byte, error) {
	b := f.buf[:f.end]
	if f.discarding {
		k := bytes.IndexByte(b[f.start:], '\n')
		if k < 0 {
			f.start, f.end, f.scanned = 0, 0, 0 // drop what was read of the line
			if f.eof {
				return nil, io.EOF
			}
			return nil, errNeedMore
		}
		f.start += k + 1
		f.discarding = false
		if f.start == f.end {
			return f.needMoreLine()
		}
		b = f.buf[:f.end]
	}
	var line []byte
	k := bytes.IndexByte(b[f.start+f.scanned:], '\n')
	switch {
	case k >= 0:
		line = b[f.start : f.start+f.scanned+k]
		f.start += f.scanned + k + 1
		f.scanned = 0
		if len(line) > f.maxLine() {
			// What a line without its LF in sight would have been: the same answer
			// however the stream was cut into reads.
			return nil, errLineTooLong
		}
	case f.end-f.start > f.maxLine():
		// Longer than any line we keep: skip it up to its LF, without buffering it.
		f.start, f.end, f.scanned = 0, 0, 0
		f.discarding = !f.eof
		return nil, errLineTooLong
	case f.eof:
		line = b[f.start:f.end] // the last line, without its LF
		f.start, f.scanned = f.end, 0
	default:
		f.scanned = f.end - f.start
		return nil, errNeedMore
	}
	line = trimLine(line)
	if len(line) > f.max {
		return nil, errLineTooLong
	}
	return line, nil
}

// needMoreLine reports errNeedMore, or io.EOF at the end of the stream: no frame is
// cut short.
func (f *frameReader) needMoreLine() ([]byte, error) {
	if f.eof {
		return nil, io.EOF
	}
	return nil, errNeedMore
}

// trimLine strips a line's trailer: CR and NUL bytes at its end, and NULs at its start
// (the trailer of the frame before, from senders that end frames with "\n\x00").
func trimLine(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\r' || b[len(b)-1] == 0) {
		b = b[:len(b)-1]
	}
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	return b
}

// fill reads once from the stream into the buffer, first making room: bytes already
// returned are dropped, and the buffer grows (doubling, up to max_message_bytes and
// the octet count) only when it is full of one unfinished message. It returns what
// Read returned; io.EOF is remembered, so that next then returns the last line, or
// reports a truncated frame.
func (f *frameReader) fill() (int, error) {
	if f.eof {
		return 0, io.EOF
	}
	if f.start == f.end {
		f.start, f.end = 0, 0
	}
	if f.buf == nil {
		f.buf = make([]byte, min(initialBuffer, f.maxBuf()))
	}
	if f.end == len(f.buf) || (f.start > 0 && f.start >= len(f.buf)/2) {
		if f.start > 0 {
			f.end = copy(f.buf, f.buf[f.start:f.end])
			f.start = 0
		}
		if f.end == len(f.buf) && len(f.buf) < f.maxBuf() {
			grown := make([]byte, min(2*len(f.buf), f.maxBuf()))
			copy(grown, f.buf[:f.end])
			f.buf = grown
		}
	}
	if f.end == len(f.buf) {
		// next turns a full buffer into a message, a discarded line or an error before
		// asking for more: this is a bug, not input.
		return 0, errors.New("syslog frame reader: buffer full")
	}
	room := len(f.buf) - f.end
	n, err := f.r.Read(f.buf[f.end:])
	f.end += n
	f.short = n < room
	if errors.Is(err, io.EOF) {
		f.eof = true
	}
	return n, err
}
