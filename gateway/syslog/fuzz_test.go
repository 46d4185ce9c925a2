package syslog

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"
)

// fuzzMax is max_message_bytes in the framing fuzz target: small, so that limits are
// reached often.
const fuzzMax = 64

// FuzzFraming feeds any bytes to the frame reader, cut into reads of fuzzed sizes: it
// must not panic, must keep its buffer within its bound, must return no message over
// the limit, and must read the same messages however the stream is cut, the same as a
// plain reference reading of RFC 6587.
//
//	go test -run '^$' -fuzz FuzzFraming -fuzztime 20s ./gateway/syslog
func FuzzFraming(f *testing.F) {
	for _, s := range []string{
		octet("<13>a", "<13>1 - - - - - - b\nc"), "<13>a\r\n<13>b\x00\n\n<13>c", "65 x", "0 x", "12x",
		"9999999999999999999 x", "5 <13>", "\n\n3 abc\n", string(bytes.Repeat([]byte("x"), 200)) + "\n<13>y\n",
		"<13>" + string(bytes.Repeat([]byte{0}, 80)) + "\n", "1", "",
	} {
		f.Add([]byte(s), uint16(1), uint16(7))
		f.Add([]byte(s), uint16(64), uint16(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, a, b uint16) {
		whole := readFrames(t, &chunkReader{data: bytes.Clone(data), sizes: []int{1 << 20}}, fuzzMax)
		cut := readFrames(t, &chunkReader{data: bytes.Clone(data), sizes: []int{int(a%200) + 1, int(b%200) + 1}}, fuzzMax)
		if !sameFrames(whole, cut) {
			t.Fatalf("one read: %s\ncut at %d,%d: %s", summary(whole), a, b, summary(cut))
		}
		for _, m := range whole.msgs {
			if len(m) == 0 || len(m) > fuzzMax {
				t.Fatalf("message of %d bytes, limit %d", len(m), fuzzMax)
			}
		}
		ref := referenceFrames(data, fuzzMax)
		if !sameFrames(whole, ref) {
			t.Fatalf("frame reader: %s\nreference: %s", summary(whole), summary(ref))
		}
	})
}

// referenceFrames reads a whole stream by RFC 6587 the plain way, for FuzzFraming.
func referenceFrames(data []byte, max int) frameResult {
	var res frameResult
	if len(data) == 0 {
		return res
	}
	if data[0] >= '1' && data[0] <= '9' {
		i := 0
		for {
			for i < len(data) && (data[i] == '\n' || data[i] == '\r' || data[i] == 0) {
				i++
			}
			if i == len(data) {
				return res
			}
			if data[i] < '1' || data[i] > '9' {
				res.err = &framingError{kind: kindBadCount}
				return res
			}
			n, j := 0, i
			for j < len(data) && data[j] >= '0' && data[j] <= '9' {
				if n = n*10 + int(data[j]-'0'); n > max {
					res.err = &framingError{kind: kindFrameTooLarge}
					return res
				}
				j++
			}
			switch {
			case j == len(data):
				res.err = &framingError{kind: kindTruncated}
			case data[j] != ' ':
				res.err = &framingError{kind: kindBadCount}
			case len(data)-j-1 < n:
				res.err = &framingError{kind: kindTruncated}
			}
			if res.err != nil {
				return res
			}
			res.msgs = append(res.msgs, string(data[j+1:j+1+n]))
			i = j + 1 + n
		}
	}
	lines := bytes.Split(data, []byte{'\n'})
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1] // the stream ended with LF
	}
	for _, l := range lines {
		if len(l) > max+countRoom/2 {
			res.tooLong++
			continue
		}
		l = trimLine(l)
		switch {
		case len(l) > max:
			res.tooLong++
		case len(l) > 0:
			res.msgs = append(res.msgs, string(l))
		}
	}
	return res
}

// FuzzParser makes the event of any bytes: ParseHeader and the document writer must
// not panic, the document must be valid JSON (checked with encoding/json), message
// must be the input with each invalid UTF-8 byte replaced by U+FFFD, the failure tag
// must be there exactly when no header was recognised, and the log type must be one
// the rules can give.
//
//	go test -run '^$' -fuzz FuzzParser -fuzztime 20s ./gateway/syslog
func FuzzParser(f *testing.F) {
	for _, s := range []string{
		iptablesLine, suricataLine, rfc5424SD, rsyslogForward, ciscoASA, `<34>1 - - - - - -`,
		`<13>1 - h a - - [origin ip="192.0.2.1" ip="192.0.2.2" software="x\"y\\z\]"][origin x="1"] m`,
		"<13>Feb 29 12:00:00 h a: x", "Dec 31 23:59:59 h t[1]: m", "<191>2026-12-06T10:00:00.123456789-23:59 h x",
		"<13>\xff\xfe\x00\x01 \u2028", "just text", "",
	} {
		f.Add([]byte(s), int64(received.Unix()))
	}
	p, err := NewParser(DefaultRules(), "syslog")
	if err != nil {
		f.Fatal(err)
	}
	types := map[string]bool{"syslog": true} // the default type, and each rule's
	for _, r := range DefaultRules() {
		types[r.Type] = true
	}
	f.Fuzz(func(t *testing.T, msg []byte, rec int64) {
		at := time.Unix(rec%(1<<35), 0) // years 1 to about 3000
		orig := bytes.Clone(msg)
		doc, typ, ok := p.AppendEvent(nil, msg, "192.0.2.1:514", at)
		if !bytes.Equal(msg, orig) {
			t.Fatal("AppendEvent modified the message")
		}
		if !json.Valid(doc) {
			t.Fatalf("invalid JSON for %q:\n%s", msg, doc)
		}
		var ev struct {
			Message   string   `json:"message"`
			Tags      []string `json:"tags"`
			Timestamp string   `json:"@timestamp"`
		}
		if err := json.Unmarshal(doc, &ev); err != nil {
			t.Fatal(err)
		}
		if want := perByteValid(msg); ev.Message != want {
			t.Fatalf("message %q, want %q", ev.Message, want)
		}
		if ok == (len(ev.Tags) > 0) {
			t.Fatalf("parsed %v, tags %v", ok, ev.Tags)
		}
		if ev.Timestamp != "" {
			if _, err := time.Parse(time.RFC3339Nano, ev.Timestamp); err != nil {
				t.Fatalf("@timestamp %q: %v", ev.Timestamp, err)
			}
		}
		if !types[typ] {
			t.Fatalf("type %q", typ)
		}
		h := ParseHeader(msg, at)
		if h2 := ParseHeader(msg, at); !reflect.DeepEqual(h, h2) {
			t.Fatal("ParseHeader is not deterministic")
		}
		if h.Priority > maxPriority || (h.Format == FormatRFC5424 && h.Priority < 0) {
			t.Fatalf("priority %d", h.Priority)
		}
	})
}

// perByteValid returns b as a string with each byte of invalid UTF-8 replaced by
// U+FFFD, as jsonx writes it.
func perByteValid(b []byte) string {
	var out []rune
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		out = append(out, r)
		b = b[n:]
	}
	return string(out)
}
