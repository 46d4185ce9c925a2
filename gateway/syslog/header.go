package syslog

import (
	"bytes"
	"time"
)

// Format is the kind of header ParseHeader recognised in a message.
type Format uint8

// The header formats.
const (
	// FormatUnknown is a message whose header is neither RFC 5424 nor RFC 3164: it is
	// still accepted, whole, tagged _syslogparsefailure.
	FormatUnknown Format = iota
	// FormatRFC3164 is the BSD header: <PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG,
	// also with an RFC 3339 timestamp, without HOSTNAME, or without the PRI.
	FormatRFC3164
	// FormatRFC5424 is <PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG].
	FormatRFC5424
)

// String names the format as logs and tests show it.
func (f Format) String() string {
	switch f {
	case FormatRFC3164:
		return "rfc3164"
	case FormatRFC5424:
		return "rfc5424"
	default:
		return "unknown"
	}
}

// Field lengths of RFC 5424 (section 6), and the bounds this parser applies to the
// looser RFC 3164 fields.
const (
	maxHostname = 255
	maxAppName  = 48
	maxProcID   = 128
	maxMsgID    = 32
	maxSDName   = 32
	maxTag      = 128 // RFC 3164 says 32; real tags (postfix/submission/smtpd) run longer
	maxPID      = 128
	maxFraction = 9 // digits of a fraction of a second: nanoseconds
	maxVersion  = 999
	maxPriority = 191
)

// Header is what ParseHeader found in a message. Its byte slices are parts of the
// message, valid as long as the message is; nil means absent (or NILVALUE).
type Header struct {
	// Format is the header recognised; FormatUnknown when none was.
	Format Format
	// Priority is the PRI value (facility*8 + severity), or -1 when the message has
	// no valid PRI.
	Priority int
	// Version is the RFC 5424 VERSION; 0 for other formats.
	Version int
	// Timestamp is the header's time in UTC; zero when absent, NILVALUE or not a
	// valid date. RFC 3164 times have no zone and no year: they are read as UTC, in
	// the year (of the receive time, the one before or the one after) that puts them
	// nearest to the receive time, which handles December/January rollover.
	Timestamp time.Time
	// Hostname is HOSTNAME.
	Hostname []byte
	// AppName is RFC 5424 APP-NAME or RFC 3164 TAG.
	AppName []byte
	// ProcID is RFC 5424 PROCID, or the PID between brackets after an RFC 3164 TAG.
	ProcID []byte
	// MsgID is RFC 5424 MSGID.
	MsgID []byte
	// StructuredData is the RFC 5424 STRUCTURED-DATA elements as sent (checked, not
	// unescaped); nil for NILVALUE.
	StructuredData []byte
	// Msg is the MSG part, the text after the header; the whole message when no
	// header was recognised.
	Msg []byte
}

// Facility returns the facility code (0-23), or -1 without a PRI.
func (h *Header) Facility() int {
	if h.Priority < 0 {
		return -1
	}
	return h.Priority >> 3
}

// Severity returns the severity code (0-7), or -1 without a PRI.
func (h *Header) Severity() int {
	if h.Priority < 0 {
		return -1
	}
	return h.Priority & 7
}

// facilityNames are the facility keywords by code (RFC 5424 table 1, with the names
// the transform tier's syslog processor gives them).
var facilityNames = [24]string{
	"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
	"uucp", "cron", "authpriv", "ftp", "ntp", "security", "console", "cron2",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
}

// severityNames are the severity names by code (RFC 5424 table 2).
var severityNames = [8]string{"emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug"}

// ParseHeader reads the header of one syslog message, RFC 5424 or RFC 3164, in one
// forward pass without regular expressions or allocation. received is when the message
// arrived: it gives RFC 3164 timestamps their year. A message whose header is not
// recognised gives FormatUnknown, its PRI if it has a valid one, and Msg the whole
// message. ParseHeader never fails otherwise: any input is safe.
func ParseHeader(msg []byte, received time.Time) Header {
	h := Header{Priority: -1, Msg: msg}
	i := 0
	if len(msg) > 0 && msg[0] == '<' {
		pri, n, ok := parsePRI(msg)
		if !ok {
			return h
		}
		h.Priority, i = pri, n
		if v, n, ok := parseVersion(msg, i); ok {
			parse5424(&h, msg, n, v)
			return h
		}
	}
	parse3164(&h, msg, i, received)
	return h
}

// parsePRI reads "<PRIVAL>" at the start of b: 1 to 3 digits without leading zeros,
// at most 191. It returns the value and the index after '>'.
func parsePRI(b []byte) (int, int, bool) {
	v, i := 0, 1
	for i < len(b) && i <= 4 && isDigit(b[i]) {
		v = v*10 + int(b[i]-'0')
		i++
	}
	digits := i - 1
	if digits == 0 || digits > 3 || i >= len(b) || b[i] != '>' || v > maxPriority || (digits > 1 && b[1] == '0') {
		return 0, 0, false
	}
	return v, i + 1, true
}

// parseVersion reads an RFC 5424 VERSION and its space at b[i:]: 1 to 3 digits, the
// first not 0. It returns the version and the index after the space.
func parseVersion(b []byte, i int) (int, int, bool) {
	if i >= len(b) || b[i] < '1' || b[i] > '9' {
		return 0, 0, false
	}
	v, j := 0, i
	for j < len(b) && j-i < 3 && isDigit(b[j]) {
		v = v*10 + int(b[j]-'0')
		j++
	}
	if j >= len(b) || b[j] != ' ' {
		return 0, 0, false
	}
	return v, j + 1, true
}

// parse5424 reads the rest of an RFC 5424 header from b[i:], just after VERSION SP,
// into h. On any error h keeps its PRI and Format stays FormatUnknown.
func parse5424(h *Header, b []byte, i, version int) {
	var out Header
	out.Priority, out.Version = h.Priority, version
	// TIMESTAMP
	if i < len(b) && b[i] == '-' {
		i++
	} else {
		t, n, ok := parseRFC3339(b, i, true)
		if !ok {
			return
		}
		out.Timestamp, i = t, n
	}
	if i >= len(b) || b[i] != ' ' {
		return
	}
	i++
	var ok bool
	if out.Hostname, i, ok = field5424(b, i, maxHostname); !ok {
		return
	}
	if out.AppName, i, ok = field5424(b, i, maxAppName); !ok {
		return
	}
	if out.ProcID, i, ok = field5424(b, i, maxProcID); !ok {
		return
	}
	if out.MsgID, i, ok = field5424(b, i, maxMsgID); !ok {
		return
	}
	// STRUCTURED-DATA
	if i < len(b) && b[i] == '-' {
		i++
	} else {
		end, ok := scanSD(b, i, nil)
		if !ok {
			return
		}
		out.StructuredData, i = b[i:end], end
	}
	switch {
	case i == len(b):
		out.Msg = b[i:]
	case b[i] == ' ':
		out.Msg = b[i+1:]
	default:
		return
	}
	out.Format = FormatRFC5424
	*h = out
}

// field5424 reads a header field of 1 to max PRINTUSASCII characters and the space
// after it; NILVALUE ("-") gives nil.
func field5424(b []byte, i, max int) ([]byte, int, bool) {
	s := i
	for i < len(b) && b[i] > ' ' && b[i] < 0x7f {
		i++
	}
	if i == s || i-s > max || i >= len(b) || b[i] != ' ' {
		return nil, 0, false
	}
	if i-s == 1 && b[s] == '-' {
		return nil, i + 1, true
	}
	return b[s:i], i + 1, true
}

// sdParam is one SD-PARAM of a structured data element, as offsets into the message:
// the element's SD-ID, the PARAM-NAME and the PARAM-VALUE between its quotes (still
// escaped).
type sdParam struct {
	idFrom, idTo, nameFrom, nameTo, valueFrom, valueTo int32
}

// sdElement is one SD-ELEMENT: its SD-ID and its params, params[from:to] of the store.
type sdElement struct {
	idFrom, idTo int32
	from, to     int
}

// sdStore receives the elements and params scanSD finds, up to its capacity; the
// rest are counted in dropped.
type sdStore struct {
	elems   []sdElement
	params  []sdParam
	dropped int
}

// scanSD checks the SD-ELEMENTs at b[i:] (one or more, back to back) and returns the
// index after the last ']'. When st is set, it records what it finds there.
//
//	SD-ELEMENT = "[" SD-ID *(SP PARAM-NAME "=" %d34 PARAM-VALUE %d34) "]"
func scanSD(b []byte, i int, st *sdStore) (int, bool) {
	if i >= len(b) || b[i] != '[' {
		return 0, false
	}
	for i < len(b) && b[i] == '[' {
		i++
		idFrom := i
		i = sdName(b, i)
		if i == idFrom {
			return 0, false
		}
		idTo := i
		elem := -1
		if st != nil {
			if n := len(st.elems); n < cap(st.elems) {
				// Resliced, not appended: the store never allocates.
				st.elems = st.elems[:n+1]
				st.elems[n] = sdElement{idFrom: int32(idFrom), idTo: int32(idTo), from: len(st.params), to: len(st.params)}
				elem = n
			} else {
				st.dropped++
			}
		}
		for i < len(b) && b[i] == ' ' {
			i++
			nameFrom := i
			i = sdName(b, i)
			if i == nameFrom || i+1 >= len(b) || b[i] != '=' || b[i+1] != '"' {
				return 0, false
			}
			nameTo := i
			i += 2
			valueFrom := i
			for i < len(b) && b[i] != '"' {
				if b[i] == '\\' {
					i++ // an escaped character, '"' included
				}
				i++
			}
			if i >= len(b) {
				return 0, false
			}
			if elem >= 0 {
				if n := len(st.params); n < cap(st.params) {
					st.params = st.params[:n+1]
					st.params[n] = sdParam{int32(idFrom), int32(idTo), int32(nameFrom), int32(nameTo), int32(valueFrom), int32(i)}
					st.elems[elem].to = n + 1
				} else {
					st.dropped++
				}
			}
			i++ // the closing quote
		}
		if i >= len(b) || b[i] != ']' {
			return 0, false
		}
		i++
	}
	return i, true
}

// sdName returns the end of the SD-NAME at b[i:]: up to 32 PRINTUSASCII characters
// except '=', SP, ']' and '"'. It returns i when there is none or it is too long.
func sdName(b []byte, i int) int {
	s := i
	for i < len(b) && b[i] > ' ' && b[i] < 0x7f && b[i] != '=' && b[i] != ']' && b[i] != '"' {
		i++
		if i-s > maxSDName {
			return s
		}
	}
	return i
}

// parse3164 reads an RFC 3164 header from b[i:] (after the PRI, if any) into h:
//
//	TIMESTAMP SP [HOSTNAME SP] [TAG["[" PID "]"]":" SP] MSG
//
// where TIMESTAMP is "Mmm dd hh:mm:ss" (the day padded with a space or a zero, a year
// or a fraction of a second allowed, as some devices send them) or RFC 3339. A
// message without a valid TIMESTAMP is not recognised.
func parse3164(h *Header, b []byte, i int, received time.Time) {
	t, j, ok := parseBSDTime(b, i, received)
	if !ok {
		if t, j, ok = parseRFC3339(b, i, false); !ok {
			return
		}
	}
	if j < len(b) && b[j] == ':' { // Cisco's "Mar  1 18:46:11.123: %SYS-5-..."
		j++
	}
	if j < len(b) && b[j] != ' ' {
		return
	}
	h.Format, h.Timestamp, h.Msg = FormatRFC3164, t, b[len(b):]
	for j < len(b) && b[j] == ' ' {
		j++
	}
	if j == len(b) {
		return
	}
	// The first word is the TAG when it looks like one ("sshd[42]:", "kernel:"), the
	// HOSTNAME otherwise, unless it is the last word (a bare message).
	end := j + bytes.IndexByte(b[j:], ' ')
	if end < j {
		h.Msg = b[j:]
		return
	}
	word := b[j:end]
	if bytes.IndexByte(word, '[') >= 0 || word[len(word)-1] == ':' {
		if app, pid, n, ok := parseTag(b, j); ok {
			h.AppName, h.ProcID, h.Msg = app, pid, b[n:]
			return
		}
	}
	if !printable(word) || len(word) > maxHostname {
		h.Msg = b[j:]
		return
	}
	h.Hostname = word
	j = end + 1
	if app, pid, n, ok := parseTag(b, j); ok {
		h.AppName, h.ProcID, h.Msg = app, pid, b[n:]
		return
	}
	h.Msg = b[j:]
}

// parseTag reads TAG, an optional [PID], and the ':' and space after them, at b[i:]. A
// TAG is 1 to maxTag PRINTUSASCII characters other than '[' and ':'; it must be
// followed by "[PID]" or ':'. It returns the index where MSG starts.
func parseTag(b []byte, i int) (tag, pid []byte, next int, ok bool) {
	s := i
	for i < len(b) && b[i] > ' ' && b[i] < 0x7f && b[i] != '[' && b[i] != ':' {
		i++
	}
	if i == s || i-s > maxTag || i >= len(b) {
		return nil, nil, 0, false
	}
	tag = b[s:i]
	switch b[i] {
	case '[':
		p := i + 1
		k := p
		for k < len(b) && b[k] > ' ' && b[k] < 0x7f && b[k] != ']' {
			k++
		}
		if k >= len(b) || b[k] != ']' || k-p > maxPID {
			return nil, nil, 0, false
		}
		if k > p {
			pid = b[p:k]
		}
		i = k + 1
		if i < len(b) && b[i] == ':' {
			i++
		}
	case ':':
		i++
	default:
		return nil, nil, 0, false
	}
	if i < len(b) {
		if b[i] != ' ' {
			return nil, nil, 0, false
		}
		i++
	}
	return tag, pid, i, true
}

// printable reports whether b is all PRINTUSASCII (33-126).
func printable(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// digits reads n decimal digits at b[i:].
func digits(b []byte, i, n int) (int, bool) {
	if i+n > len(b) {
		return 0, false
	}
	v := 0
	for _, c := range b[i : i+n] {
		if !isDigit(c) {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// fraction reads the digits of a fraction of a second at b[i:] (after the '.'), at
// most maxFraction of them, and returns nanoseconds and the index after them.
func fraction(b []byte, i int) (int, int, bool) {
	s, ns := i, 0
	for i < len(b) && isDigit(b[i]) {
		if i-s == maxFraction {
			return 0, 0, false
		}
		ns = ns*10 + int(b[i]-'0')
		i++
	}
	if i == s {
		return 0, 0, false
	}
	for k := i - s; k < maxFraction; k++ {
		ns *= 10
	}
	return ns, i, true
}

// validClock reports whether hh:mm:ss is a time of day; a leap second (60) is
// allowed, as RFC 3339 does.
func validClock(hh, mm, ss int) bool { return hh < 24 && mm < 60 && ss <= 60 }

// daysIn returns the days of month m of year y.
func daysIn(m time.Month, y int) int {
	switch m {
	case time.April, time.June, time.September, time.November:
		return 30
	case time.February:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	default:
		return 31
	}
}

// inRange reports whether t can be written as an RFC 3339 timestamp (years 0-9999).
func inRange(t time.Time) bool {
	y := t.Year()
	return y >= 0 && y <= 9999
}

// parseRFC3339 reads an RFC 3339 timestamp at b[i:]:
//
//	YYYY-MM-DD "T" hh:mm:ss [.fraction] ("Z" | +hh:mm | -hh:mm)
//
// in UTC. T and Z may be lower case. With needZone false a missing zone means UTC, and
// +hhmm is accepted too. It returns the index after the timestamp.
func parseRFC3339(b []byte, i int, needZone bool) (time.Time, int, bool) {
	if i+19 > len(b) || b[i+4] != '-' || b[i+7] != '-' || (b[i+10] != 'T' && b[i+10] != 't') || b[i+13] != ':' || b[i+16] != ':' {
		return time.Time{}, 0, false
	}
	y, ok1 := digits(b, i, 4)
	mo, ok2 := digits(b, i+5, 2)
	d, ok3 := digits(b, i+8, 2)
	hh, ok4 := digits(b, i+11, 2)
	mm, ok5 := digits(b, i+14, 2)
	ss, ok6 := digits(b, i+17, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mo < 1 || mo > 12 || d < 1 || d > daysIn(time.Month(mo), y) || !validClock(hh, mm, ss) {
		return time.Time{}, 0, false
	}
	i += 19
	ns := 0
	if i < len(b) && b[i] == '.' {
		var ok bool
		if ns, i, ok = fraction(b, i+1); !ok {
			return time.Time{}, 0, false
		}
	}
	offset := 0
	switch {
	case i < len(b) && (b[i] == 'Z' || b[i] == 'z'):
		i++
	case i < len(b) && (b[i] == '+' || b[i] == '-'):
		oh, ok := digits(b, i+1, 2)
		if !ok {
			return time.Time{}, 0, false
		}
		n := i + 3
		if n < len(b) && b[n] == ':' {
			n++
		} else if needZone {
			return time.Time{}, 0, false
		}
		om, ok := digits(b, n, 2)
		if !ok || oh > 23 || om > 59 {
			return time.Time{}, 0, false
		}
		offset = (oh*60 + om) * 60
		if b[i] == '-' {
			offset = -offset
		}
		i = n + 2
	default:
		if needZone {
			return time.Time{}, 0, false
		}
	}
	t := time.Date(y, time.Month(mo), d, hh, mm, ss, ns, time.UTC).Add(-time.Duration(offset) * time.Second)
	if !inRange(t) {
		return time.Time{}, 0, false
	}
	return t, i, true
}

// halfYear is less than half of the shortest year: a time nearer than this to the
// receive time is nearer than the same date of any other year.
const halfYear = 182 * 24 * time.Hour

// months are the month abbreviations of RFC 3164 timestamps.
var months = [12][3]byte{
	{'J', 'a', 'n'}, {'F', 'e', 'b'}, {'M', 'a', 'r'}, {'A', 'p', 'r'}, {'M', 'a', 'y'}, {'J', 'u', 'n'},
	{'J', 'u', 'l'}, {'A', 'u', 'g'}, {'S', 'e', 'p'}, {'O', 'c', 't'}, {'N', 'o', 'v'}, {'D', 'e', 'c'},
}

// parseBSDTime reads an RFC 3164 timestamp at b[i:]: "Mmm dd hh:mm:ss" where the day
// is " d", "dd" or "d", optionally with a year before the time ("Mmm dd yyyy
// hh:mm:ss") and a fraction of a second after it. Without a year, the year is the one
// of received (in UTC), the one before or the one after, whichever puts the time
// nearest to received.
func parseBSDTime(b []byte, i int, received time.Time) (time.Time, int, bool) {
	if i+14 > len(b) { // "Mmm d hh:mm:ss"
		return time.Time{}, 0, false
	}
	mo := 0
	for k := range months {
		if b[i] == months[k][0] && b[i+1] == months[k][1] && b[i+2] == months[k][2] {
			mo = k + 1
			break
		}
	}
	if mo == 0 || b[i+3] != ' ' {
		return time.Time{}, 0, false
	}
	i += 4
	if b[i] == ' ' {
		i++
	}
	d := 0
	switch {
	case i+1 < len(b) && isDigit(b[i]) && isDigit(b[i+1]):
		d = int(b[i]-'0')*10 + int(b[i+1]-'0')
		i += 2
	case i < len(b) && isDigit(b[i]):
		d = int(b[i] - '0')
		i++
	default:
		return time.Time{}, 0, false
	}
	if d < 1 || d > 31 || i >= len(b) || b[i] != ' ' {
		return time.Time{}, 0, false
	}
	i++
	year := -1
	if y, ok := digits(b, i, 4); ok && i+4 < len(b) && b[i+4] == ' ' {
		year, i = y, i+5
	}
	if i+8 > len(b) || b[i+2] != ':' || b[i+5] != ':' {
		return time.Time{}, 0, false
	}
	hh, ok1 := digits(b, i, 2)
	mm, ok2 := digits(b, i+3, 2)
	ss, ok3 := digits(b, i+6, 2)
	if !(ok1 && ok2 && ok3) || !validClock(hh, mm, ss) {
		return time.Time{}, 0, false
	}
	i += 8
	ns := 0
	if i < len(b) && b[i] == '.' {
		var ok bool
		if ns, i, ok = fraction(b, i+1); !ok {
			return time.Time{}, 0, false
		}
	}
	month := time.Month(mo)
	if year >= 0 {
		if d > daysIn(month, year) {
			return time.Time{}, 0, false
		}
		return time.Date(year, month, d, hh, mm, ss, ns, time.UTC), i, true
	}
	// The year nearest to the receive time: Dec 31 received on Jan 1 is last year's,
	// Jan 1 received on Dec 31 (a sender's clock a little ahead) next year's.
	rec := received.UTC()
	if y := rec.Year(); d <= daysIn(month, y) {
		// Within half a year of the receive time, this year is the nearest: the
		// others are more than half a year away. Nearly every message ends here.
		t := time.Date(y, month, d, hh, mm, ss, ns, time.UTC)
		if dist := t.Sub(rec); dist > -halfYear && dist < halfYear && inRange(t) {
			return t, i, true
		}
	}
	var (
		best     time.Time
		bestDist time.Duration
		found    bool
	)
	for y := rec.Year() - 1; y <= rec.Year()+1; y++ {
		if d > daysIn(month, y) {
			continue // Feb 29 of a year that has none
		}
		t := time.Date(y, month, d, hh, mm, ss, ns, time.UTC)
		dist := t.Sub(rec)
		if dist < 0 {
			dist = -dist
		}
		if !found || dist < bestDist {
			best, bestDist, found = t, dist, true
		}
	}
	if !found || !inRange(best) {
		return time.Time{}, 0, false
	}
	return best, i, true
}
