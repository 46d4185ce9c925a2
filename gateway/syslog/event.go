package syslog

import (
	"bytes"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/sluice-siem/sluice/internal/jsonx"
)

// ParseFailureTag is the tag of events whose message has no syslog header Parser
// recognises (as Logstash tags what its syslog input cannot parse).
const ParseFailureTag = "_syslogparsefailure"

// SD bounds of one event: structured data beyond them stays in message but is not
// copied into log.syslog.structured_data. They bound the work of grouping params.
const (
	maxSDElements = 16
	maxSDParams   = 32
)

// Parser turns syslog messages into gateway events: it reads the header (ParseHeader),
// writes the event document, and gives the event its log type by the rules. The
// syslog receiver and the RELP receiver (gateway/relp) share it, so a message becomes
// the same event whichever way it came. A Parser is immutable and safe for concurrent
// use.
//
// The event document is a JSON object with ECS fields:
//
//	@timestamp                  the header's time, when it has a valid one (UTC)
//	message                     the whole message as received (invalid UTF-8 as U+FFFD)
//	host.name                   HOSTNAME
//	log.syslog.priority         PRI, and from it
//	log.syslog.facility.code    .name (kern, ..., local7)
//	log.syslog.severity.code    .name (emergency, ..., debug)
//	log.syslog.hostname         HOSTNAME
//	log.syslog.appname          APP-NAME or TAG
//	log.syslog.procid           PROCID or [PID]
//	log.syslog.msgid            MSGID (RFC 5424)
//	log.syslog.version          VERSION (RFC 5424), a string as in ECS
//	log.syslog.structured_data  {SD-ID: {PARAM-NAME: value or [values]}} (RFC 5424)
//	log.source.address          the sender, host:port
//	tags                        ["_syslogparsefailure"] when no header was recognised
//
// message is the line exactly as a shipper such as Filebeat would send it, header
// included: the transform pipelines parse it from there, as they parse lines Filebeat
// read from a file (the firewall sample reads the BSD, RFC 3339 and RFC 5424 headers). A
// pipeline that wants the MSG part alone, such as one decoding Suricata's EVE JSON sent
// through syslog, strips the header first (the syslog processor does).
type Parser struct {
	rules       []rule
	defaultType string
}

// rule is a compiled Rule.
type rule struct {
	typ       string
	app, host glob
	facility  int // -1: any
	re        *regexp.Regexp
}

// glob is a compiled app_name or hostname condition.
type glob struct {
	pattern string
	literal bool // no metacharacters: compared as is
}

func newGlob(p string) glob {
	return glob{pattern: p, literal: !strings.ContainsAny(p, `*?[\`)}
}

// match reports whether the field matches; an empty pattern matches anything, a
// non-empty one never matches an absent field.
func (g glob) match(field []byte) bool {
	switch {
	case g.pattern == "":
		return true
	case field == nil:
		return false
	case g.literal:
		return string(field) == g.pattern
	default:
		ok, _ := path.Match(g.pattern, view(field))
		return ok
	}
}

// NewParser compiles the log type rules: first match wins, defaultType otherwise
// (empty leaves the type to the gateway's routing). It reports the problems
// ValidateRules reports.
func NewParser(rules []Rule, defaultType string) (*Parser, error) {
	if err := ValidateRules(rules, defaultType); err != nil {
		return nil, fmt.Errorf("syslog rules: %w", err)
	}
	p := &Parser{defaultType: defaultType}
	for _, r := range rules {
		cr := rule{typ: r.Type, app: newGlob(r.AppName), host: newGlob(r.Hostname), facility: -1}
		if r.Facility != "" {
			cr.facility, _ = facilityCode(r.Facility)
		}
		if r.Match != "" {
			cr.re = regexp.MustCompile(r.Match) // checked by ValidateRules
		}
		p.rules = append(p.rules, cr)
	}
	return p, nil
}

// Types returns every log type the parser can give an event: the rules' and the
// default type, without repeats, in rule order.
func (p *Parser) Types() []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range p.rules {
		if !seen[r.typ] {
			seen[r.typ] = true
			out = append(out, r.typ)
		}
	}
	if p.defaultType != "" && !seen[p.defaultType] {
		out = append(out, p.defaultType)
	}
	return out
}

// Type returns the log type of a message with header h: the type of the first rule
// that matches, or the default type.
func (p *Parser) Type(h *Header) string {
	for i := range p.rules {
		r := &p.rules[i]
		if r.facility >= 0 && h.Facility() != r.facility {
			continue
		}
		if !r.app.match(h.AppName) || !r.host.match(h.Hostname) {
			continue
		}
		if r.re != nil && !r.re.Match(h.Msg) {
			continue
		}
		return r.typ
	}
	return p.defaultType
}

// AppendEvent parses msg, appends its event document to dst and returns the extended
// slice, the event's log type, and whether a syslog header was recognised (false: the
// event is tagged _syslogparsefailure). source is the sender's address for
// log.source.address (empty: none); received gives RFC 3164 timestamps their year. It
// never fails: any bytes make a valid JSON object.
func (p *Parser) AppendEvent(dst, msg []byte, source string, received time.Time) ([]byte, string, bool) {
	h := ParseHeader(msg, received)
	return AppendDocument(dst, msg, &h, source), p.Type(&h), h.Format != FormatUnknown
}

// AppendDocument appends the event document of msg, whose header is h (from
// ParseHeader(msg, ...)), to dst. See Parser for its fields.
func AppendDocument(dst, msg []byte, h *Header, source string) []byte {
	dst = append(dst, '{')
	if !h.Timestamp.IsZero() {
		dst = append(dst, `"@timestamp":"`...)
		dst = appendTime(dst, h.Timestamp)
		dst = append(dst, `",`...)
	}
	dst = append(dst, `"message":`...)
	dst = jsonx.AppendString(dst, view(msg))
	if h.Hostname != nil {
		dst = append(dst, `,"host":{"name":`...)
		dst = jsonx.AppendString(dst, view(h.Hostname))
		dst = append(dst, '}')
	}
	dst = append(dst, `,"log":{`...)
	comma := false
	if h.Priority >= 0 || h.Format != FormatUnknown {
		dst = appendSyslog(dst, h)
		comma = true
	}
	if source != "" {
		if comma {
			dst = append(dst, ',')
		}
		dst = append(dst, `"source":{"address":`...)
		dst = jsonx.AppendString(dst, source)
		dst = append(dst, '}')
	}
	dst = append(dst, '}')
	if h.Format == FormatUnknown {
		dst = append(dst, `,"tags":["`+ParseFailureTag+`"]`...)
	}
	return append(dst, '}')
}

// appendSyslog appends the "syslog":{...} member of log.
func appendSyslog(dst []byte, h *Header) []byte {
	dst = append(dst, `"syslog":{`...)
	comma := false
	member := func(name string) {
		if comma {
			dst = append(dst, ',')
		}
		comma = true
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, `":`...)
	}
	str := func(name string, v []byte) {
		if v != nil {
			member(name)
			dst = jsonx.AppendString(dst, view(v))
		}
	}
	if h.Priority >= 0 {
		f, s := h.Facility(), h.Severity()
		member("priority")
		dst = strconv.AppendInt(dst, int64(h.Priority), 10)
		member("facility")
		dst = append(dst, `{"code":`...)
		dst = strconv.AppendInt(dst, int64(f), 10)
		dst = append(dst, `,"name":"`...)
		dst = append(dst, facilityNames[f]...)
		dst = append(dst, `"}`...)
		member("severity")
		dst = append(dst, `{"code":`...)
		dst = strconv.AppendInt(dst, int64(s), 10)
		dst = append(dst, `,"name":"`...)
		dst = append(dst, severityNames[s]...)
		dst = append(dst, `"}`...)
	}
	str("hostname", h.Hostname)
	str("appname", h.AppName)
	str("procid", h.ProcID)
	str("msgid", h.MsgID)
	if h.Version > 0 {
		member("version")
		dst = append(dst, '"')
		dst = strconv.AppendInt(dst, int64(h.Version), 10)
		dst = append(dst, '"')
	}
	if h.StructuredData != nil {
		member("structured_data")
		dst = appendSD(dst, h.StructuredData)
	}
	return append(dst, '}')
}

// appendSD appends the structured data sd as a JSON object: each
// SD-ID an object of its params, values unescaped; a PARAM-NAME that repeats within an
// SD-ID (allowed by RFC 5424) becomes an array of its values, and an SD-ID that
// repeats (not allowed) is merged into its first element. At most maxSDElements
// elements and maxSDParams params are copied.
func appendSD(dst, sd []byte) []byte {
	var (
		elems  [maxSDElements]sdElement
		params [maxSDParams]sdParam
	)
	st := sdStore{elems: elems[:0], params: params[:0]}
	if _, ok := scanSD(sd, 0, &st); !ok {
		return append(dst, "{}"...)
	}
	span := func(from, to int32) []byte { return sd[from:to] }
	dst = append(dst, '{')
	for e := range st.elems {
		id := span(st.elems[e].idFrom, st.elems[e].idTo)
		if firstElement(&st, sd, e) != e {
			continue // merged into the first element of this SD-ID
		}
		if e > 0 {
			dst = append(dst, ',')
		}
		dst = jsonx.AppendString(dst, view(id))
		dst = append(dst, ":{"...)
		first := true
		// The params of every element with this SD-ID, in order.
		for k := st.elems[e].from; k < len(st.params); k++ {
			pk := &st.params[k]
			if !bytes.Equal(span(pk.idFrom, pk.idTo), id) {
				continue
			}
			name := span(pk.nameFrom, pk.nameTo)
			if seenParam(&st, sd, e, k, id, name) {
				continue // written with its first occurrence
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = jsonx.AppendString(dst, view(name))
			dst = append(dst, ':')
			n := 0
			for q := k; q < len(st.params); q++ {
				pq := &st.params[q]
				if bytes.Equal(span(pq.idFrom, pq.idTo), id) && bytes.Equal(span(pq.nameFrom, pq.nameTo), name) {
					n++
				}
			}
			if n == 1 {
				dst = appendSDValue(dst, span(pk.valueFrom, pk.valueTo))
				continue
			}
			dst = append(dst, '[')
			for q, i := k, 0; q < len(st.params); q++ {
				pq := &st.params[q]
				if bytes.Equal(span(pq.idFrom, pq.idTo), id) && bytes.Equal(span(pq.nameFrom, pq.nameTo), name) {
					if i > 0 {
						dst = append(dst, ',')
					}
					i++
					dst = appendSDValue(dst, span(pq.valueFrom, pq.valueTo))
				}
			}
			dst = append(dst, ']')
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// firstElement returns the index of the first element with the SD-ID of element e.
func firstElement(st *sdStore, sd []byte, e int) int {
	id := sd[st.elems[e].idFrom:st.elems[e].idTo]
	for k := 0; k < e; k++ {
		if bytes.Equal(sd[st.elems[k].idFrom:st.elems[k].idTo], id) {
			return k
		}
	}
	return e
}

// seenParam reports whether a param named name of SD-ID id comes before param k.
func seenParam(st *sdStore, sd []byte, e, k int, id, name []byte) bool {
	for q := st.elems[e].from; q < k; q++ {
		p := &st.params[q]
		if bytes.Equal(sd[p.idFrom:p.idTo], id) && bytes.Equal(sd[p.nameFrom:p.nameTo], name) {
			return true
		}
	}
	return false
}

// appendSDValue appends a PARAM-VALUE as a JSON string, unescaping \" \\ and \] (RFC
// 5424 section 6.3.3: a backslash before any other character is kept).
func appendSDValue(dst, v []byte) []byte {
	if bytes.IndexByte(v, '\\') < 0 {
		return jsonx.AppendString(dst, view(v))
	}
	var buf [256]byte
	u := buf[:0]
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) && (v[i+1] == '"' || v[i+1] == '\\' || v[i+1] == ']') {
			i++
		}
		u = append(u, v[i])
	}
	return jsonx.AppendString(dst, view(u))
}

// appendTime appends t (UTC, years 0-9999) as RFC 3339 with the fraction of a second
// it has, without trailing zeros, and Z: as time.RFC3339Nano formats it, faster.
func appendTime(dst []byte, t time.Time) []byte {
	y, mo, d := t.Date()
	hh, mm, ss := t.Clock()
	dst = append(dst,
		byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+int(mo)/10), byte('0'+int(mo)%10), '-',
		byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+hh/10), byte('0'+hh%10), ':',
		byte('0'+mm/10), byte('0'+mm%10), ':',
		byte('0'+ss/10), byte('0'+ss%10))
	if ns := t.Nanosecond(); ns > 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i > 0; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		dst = append(dst, frac[:n]...)
	}
	return append(dst, 'Z')
}

// view returns the bytes of b as a string without copying them. The string must not
// outlive b's contents: it is only passed to functions that read it and keep nothing
// (jsonx.AppendString, path.Match).
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}
