package relp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// The RELP frame, as librelp's protocol description defines it:
//
//	FRAME   = TXNR SP COMMAND SP DATALEN [SP DATA] TRAILER
//	TXNR    = 1*9DIGIT   ; 1..999999999 per session, then 1 again; 0 is for hints
//	COMMAND = 1*32ALPHA
//	DATALEN = 1*9DIGIT   ; octets of DATA; 0: no DATA and no SP before it
//	TRAILER = LF
const (
	maxDigits     = 9
	maxTxnr       = 999_999_999
	maxCommandLen = 32
)

// command is a RELP command the server knows.
type command uint8

const (
	cmdOther command = iota
	cmdOpen
	cmdSyslog
	cmdClose
)

// header is a frame's header: what comes before its data.
type header struct {
	txnr uint32
	cmd  command
	// name is the command as sent (for logs and the answer to an unknown command).
	name    [maxCommandLen]byte
	nameLen uint8
	size    int // DATALEN
}

func (h *header) command() string { return string(h.name[:h.nameLen]) }

// Protocol error kinds, the values of the kind label of the protocol errors metric.
const (
	kindMalformed   = "malformed"    // a header that breaks the grammar
	kindTrailer     = "trailer"      // no LF after the data
	kindTruncated   = "truncated"    // the connection ended inside a frame
	kindTooLarge    = "too_large"    // DATALEN above max_message_bytes
	kindTxnr        = "txnr"         // a TXNR other than the next one
	kindNotOpen     = "not_open"     // a command before open
	kindOffers      = "offers"       // an open whose offers cannot be used
	kindReadTimeout = "read_timeout" // a started frame did not arrive in read_timeout
)

// protocolError is input that breaks the protocol or a limit: the connection is closed.
type protocolError struct {
	kind string
	msg  string
}

func (e *protocolError) Error() string { return e.msg }

func protoErrorf(kind, format string, args ...any) error {
	return &protocolError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// readHeader reads a frame's header and the byte after DATALEN (SP before data, or the
// trailer of a frame without data). It returns io.EOF when the connection ends before
// the frame's first byte. Every byte is checked as it is read and every field is
// bounded, so a header costs at most 9+1+32+1+9+1 bytes, whatever the input.
func readHeader(br *bufio.Reader) (header, error) {
	var h header
	txnr, next, err := readNumber(br, true)
	if err != nil {
		return h, err
	}
	if next != ' ' {
		return h, protoErrorf(kindMalformed, "frame header: TXNR must be 1 to 9 digits followed by a space, found byte %q", next)
	}
	h.txnr = txnr
	for {
		c, err := br.ReadByte()
		if err != nil {
			return h, midFrame(err)
		}
		if c == ' ' {
			break
		}
		if !isAlpha(c) {
			return h, protoErrorf(kindMalformed, "frame header: command must be letters followed by a space, found byte %q", c)
		}
		if int(h.nameLen) == maxCommandLen {
			return h, protoErrorf(kindMalformed, "frame header: command longer than %d letters", maxCommandLen)
		}
		h.name[h.nameLen] = c
		h.nameLen++
	}
	if h.nameLen == 0 {
		return h, protoErrorf(kindMalformed, "frame header: empty command")
	}
	switch string(h.name[:h.nameLen]) {
	case "open":
		h.cmd = cmdOpen
	case "syslog":
		h.cmd = cmdSyslog
	case "close":
		h.cmd = cmdClose
	}
	size, next, err := readNumber(br, false)
	if err != nil {
		return h, err
	}
	h.size = int(size)
	switch {
	case size == 0 && next != '\n':
		return h, protoErrorf(kindMalformed, "frame header: DATALEN 0 must be followed by the trailer (LF), found byte %q", next)
	case size > 0 && next != ' ':
		return h, protoErrorf(kindMalformed, "frame header: DATALEN must be followed by a space, found byte %q", next)
	}
	return h, nil
}

// readNumber reads 1 to 9 decimal digits and the byte after them. first says whether
// these are the frame's first bytes: io.EOF before them is a clean end.
func readNumber(br *bufio.Reader, first bool) (uint32, byte, error) {
	var n uint32
	for digits := 0; ; digits++ {
		c, err := br.ReadByte()
		if err != nil {
			if first && digits == 0 && errors.Is(err, io.EOF) {
				return 0, 0, io.EOF
			}
			return 0, 0, midFrame(err)
		}
		if c < '0' || c > '9' {
			if digits == 0 {
				return 0, 0, protoErrorf(kindMalformed, "frame header: expected a decimal number, found byte %q", c)
			}
			return n, c, nil
		}
		if digits == maxDigits {
			return 0, 0, protoErrorf(kindMalformed, "frame header: number longer than %d digits", maxDigits)
		}
		n = n*10 + uint32(c-'0')
	}
}

// readData appends a frame's size bytes of data to dst, and reads its trailer (which
// readHeader has read already when size is 0). dst grows only by the bytes that
// arrived, never by what DATALEN declares.
func readData(br *bufio.Reader, size int, dst []byte) ([]byte, error) {
	if size == 0 {
		return dst, nil
	}
	for size > 0 {
		if br.Buffered() == 0 {
			if _, err := br.Peek(1); err != nil {
				return dst, midFrame(err)
			}
		}
		n := min(size, br.Buffered())
		b, _ := br.Peek(n)
		dst = append(dst, b...)
		_, _ = br.Discard(n)
		size -= n
	}
	return dst, readTrailer(br)
}

// skipData reads past size bytes of data and the trailer; it is readData for data that
// is not kept.
func skipData(br *bufio.Reader, size int) error {
	if size == 0 {
		return nil
	}
	if _, err := br.Discard(size); err != nil {
		return midFrame(err)
	}
	return readTrailer(br)
}

func readTrailer(br *bufio.Reader) error {
	c, err := br.ReadByte()
	if err != nil {
		return midFrame(err)
	}
	if c != '\n' {
		return protoErrorf(kindTrailer, "frame trailer: expected LF after DATALEN bytes of data, found byte %q (DATALEN does not match the data)", c)
	}
	return nil
}

// midFrame turns the end of the connection inside a frame into a protocol error; other
// errors (timeouts, resets) are returned as they are.
func midFrame(err error) error {
	if errors.Is(err, io.EOF) {
		return protoErrorf(kindTruncated, "connection ended inside a frame")
	}
	return err
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// nextTxnr is the transaction number after t: 999999999 is followed by 1.
func nextTxnr(t uint32) uint32 {
	if t >= maxTxnr {
		return 1
	}
	return t + 1
}

// appendFrame appends a frame the server sends: a response (rsp) or a hint (txnr 0).
func appendFrame(dst []byte, txnr uint32, cmd string, data []byte) []byte {
	dst = strconv.AppendUint(dst, uint64(txnr), 10)
	dst = append(dst, ' ')
	dst = append(dst, cmd...)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(len(data)), 10)
	if len(data) > 0 {
		dst = append(dst, ' ')
		dst = append(dst, data...)
	}
	return append(dst, '\n')
}

// serverClose is the hint the server sends before it closes a connection.
var serverClose = appendFrame(nil, 0, "serverclose", nil)

// offers are what a client's open announces that the server uses.
type offers struct {
	version    int  // relp_version; -1 when absent
	syslog     bool // commands lists syslog
	hasVersion bool
}

// Bounds of one offer, from the protocol description.
const (
	maxOfferName  = 32
	maxOfferValue = 255
)

// parseOffers reads the data of an open: offers separated by LF, each a name, and
// optionally "=" and values separated by commas. Unknown offers are ignored; relp_version
// must be a number when present. It works in place, in one pass, without allocating.
func parseOffers(data []byte) (offers, error) {
	o := offers{version: -1}
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			continue
		}
		name, values, _ := bytes.Cut(line, []byte{'='})
		if len(name) > maxOfferName {
			return o, fmt.Errorf("offer name longer than %d bytes", maxOfferName)
		}
		switch string(name) {
		case "relp_version":
			v, err := strconv.Atoi(string(firstValue(values)))
			if err != nil || v < 0 || v > maxTxnr {
				return o, fmt.Errorf("relp_version %q is not a version number", truncate(values, 20))
			}
			o.version, o.hasVersion = v, true
		case "commands":
			for len(values) > 0 {
				var v []byte
				v, values, _ = bytes.Cut(values, []byte{','})
				if len(v) > maxOfferValue {
					return o, fmt.Errorf("offer value longer than %d bytes", maxOfferValue)
				}
				if string(v) == "syslog" {
					o.syslog = true
				}
			}
		}
	}
	return o, nil
}

func firstValue(values []byte) []byte {
	v, _, _ := bytes.Cut(values, []byte{','})
	return v
}

// truncate returns at most n bytes of b, for messages.
func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
