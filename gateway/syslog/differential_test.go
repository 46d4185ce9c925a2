package syslog

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	gosyslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/rfc3164"
	"github.com/leodido/go-syslog/v4/rfc5424"
)

// The header parser is our own, so it is checked against a reference: the Ragel
// parsers of github.com/leodido/go-syslog (the transform tier's syslog processor). On
// RFC 5424 input the two must agree on which messages are valid and on every field of
// the valid ones; the differences the tests allow are listed in known5424.

// rfc5424Corpus are RFC 5424 lines, valid and not, that mutations start from.
var rfc5424Corpus = []string{
	rfc5424SD,
	`<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed for lonvick on /dev/pts/8`,
	`<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.`,
	`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]`,
	`<13>1 2026-12-06T10:00:00Z host app 123 msg1 [a@1 k="v\"w\\x\]y"][b@2] hello world`,
	`<0>1 - - - - - -`,
	`<191>999 2026-02-28T23:59:59.999999+14:00 h a p m - x`,
}

// mutations returns s, each of its prefixes, and s with each byte deleted or replaced
// by a character that matters to the grammar.
func mutations(s string) []string {
	out := []string{s}
	for i := 0; i < len(s); i++ {
		out = append(out, s[:i], s[:i]+s[i+1:])
		for _, c := range []string{" ", "-", `"`, "]", `\`, "x", "0", "9"} {
			out = append(out, s[:i]+c+s[i+1:])
		}
	}
	return out
}

// known5424 reports differences between the two parsers that are intended, and why.
// ours is our reading of msg.
func known5424(msg string, ours Header) string {
	// RFC 5424 6.3.3: a backslash before anything but '"', '\\' and ']' "MUST be
	// treated as a regular backslash"; go-syslog rejects the message. A ']' that its
	// sender did not escape cannot end a quoted value: we read it as part of it,
	// go-syslog rejects the message.
	if ours.Format == FormatRFC5424 && ours.StructuredData != nil {
		st := sdStore{elems: make([]sdElement, 0, 64), params: make([]sdParam, 0, 256)}
		scanSD(ours.StructuredData, 0, &st)
		for _, p := range st.params {
			v := ours.StructuredData[p.valueFrom:p.valueTo]
			for i := 0; i < len(v); i++ {
				switch {
				case v[i] == '\\' && i+1 < len(v) && strings.IndexByte(`"\\]`, v[i+1]) < 0:
					return "a backslash that escapes nothing, kept as RFC 5424 says"
				case v[i] == '\\':
					i++
				case v[i] == ']':
					return "an unescaped ']' in a quoted value"
				}
			}
		}
	}
	// go-syslog takes at most 6 digits of a fraction of a second (TIME-SECFRAC);
	// we take up to 9 (nanoseconds), as RFC 3339 allows any number.
	if i := strings.Index(msg, "."); i > 0 && i < 40 {
		n := 0
		for j := i + 1; j < len(msg) && msg[j] >= '0' && msg[j] <= '9'; j++ {
			n++
		}
		if n > 6 && n <= 9 {
			return "fraction of more than 6 digits"
		}
	}
	return ""
}

func TestDifferentialRFC5424(t *testing.T) {
	machine := rfc5424.NewMachine()
	var checked, valid int
	for _, base := range rfc5424Corpus {
		for _, msg := range mutations(base) {
			checked++
			ours := ParseHeader([]byte(msg), received)
			ref, err := machine.Parse([]byte(msg))
			refOK := err == nil && ref != nil && ref.Valid()
			ourOK := ours.Format == FormatRFC5424
			if ourOK != refOK {
				if why := known5424(msg, ours); why != "" {
					continue
				}
				t.Errorf("%q: ours valid=%v, go-syslog valid=%v (%v)", msg, ourOK, refOK, err)
				continue
			}
			if !ourOK {
				continue
			}
			valid++
			if d := diff5424(ours, ref.(*rfc5424.SyslogMessage)); d != "" {
				t.Errorf("%q:\n%s", msg, d)
			}
		}
	}
	t.Logf("%d messages compared, %d valid", checked, valid)
}

func diff5424(ours Header, ref *rfc5424.SyslogMessage) string {
	var out string
	check := func(name string, got []byte, want *string) {
		w := ""
		if want != nil {
			w = *want
		}
		if string(got) != w {
			out += fmt.Sprintf("  %s: ours %q, go-syslog %q\n", name, got, w)
		}
	}
	if ref.Priority == nil || int(*ref.Priority) != ours.Priority {
		out += fmt.Sprintf("  priority: ours %d, go-syslog %v\n", ours.Priority, ref.Priority)
	}
	if int(ref.Version) != ours.Version {
		out += fmt.Sprintf("  version: ours %d, go-syslog %d\n", ours.Version, ref.Version)
	}
	var refTime time.Time
	if ref.Timestamp != nil {
		refTime = *ref.Timestamp
	}
	if !refTime.Equal(ours.Timestamp) {
		out += fmt.Sprintf("  timestamp: ours %v, go-syslog %v\n", ours.Timestamp, refTime)
	}
	check("hostname", ours.Hostname, ref.Hostname)
	check("appname", ours.AppName, ref.Appname)
	check("procid", ours.ProcID, ref.ProcID)
	check("msgid", ours.MsgID, ref.MsgID)
	check("msg", ours.Msg, ref.Message)
	// Structured data: the same SD-IDs and, for params that do not repeat, the same
	// unescaped values (go-syslog keeps one value of a repeated param).
	refSD := map[string]map[string]string{}
	if ref.StructuredData != nil {
		refSD = *ref.StructuredData
	}
	oursSD := sdMap(ours.StructuredData)
	if len(oursSD) != len(refSD) {
		out += fmt.Sprintf("  structured data: ours %v, go-syslog %v\n", oursSD, refSD)
	}
	for id, params := range oursSD {
		rp, ok := refSD[id]
		if !ok {
			out += fmt.Sprintf("  structured data: ours has %q, go-syslog not\n", id)
			continue
		}
		for name, values := range params {
			if len(values) == 1 && rp[name] != values[0] {
				out += fmt.Sprintf("  structured data %s.%s: ours %q, go-syslog %q\n", id, name, values[0], rp[name])
			}
		}
	}
	return out
}

// sdMap reads structured data with scanSD into SD-ID -> name -> values.
func sdMap(sd []byte) map[string]map[string][]string {
	out := map[string]map[string][]string{}
	if sd == nil {
		return out
	}
	st := sdStore{elems: make([]sdElement, 0, 64), params: make([]sdParam, 0, 256)}
	if _, ok := scanSD(sd, 0, &st); !ok {
		return nil
	}
	for _, e := range st.elems {
		id := string(sd[e.idFrom:e.idTo])
		if out[id] == nil {
			out[id] = map[string][]string{}
		}
		for _, p := range st.params[e.from:e.to] {
			var v string // appendSDValue writes a JSON string
			if err := json.Unmarshal(appendSDValue(nil, sd[p.valueFrom:p.valueTo]), &v); err != nil {
				return nil
			}
			out[id][string(sd[p.nameFrom:p.nameTo])] = append(out[id][string(sd[p.nameFrom:p.nameTo])], v)
		}
	}
	return out
}

// TestDifferentialRFC3164 compares BSD lines with HOSTNAME and TAG, the form both
// parsers read the same way (go-syslog reads the first word as HOSTNAME always; we
// read "tag:" or "tag[pid]" there as the TAG of a line without HOSTNAME).
func TestDifferentialRFC3164(t *testing.T) {
	lines := []string{
		iptablesLine,
		suricataLine,
		`<13>Dec  6 10:00:00 host app: text`,
		`<13>Dec 16 10:00:00 host app[42]: text with: colons`,
		`<191>Jan  1 00:00:00 h.example.com postfix/smtpd[1]: connect from unknown[203.0.113.7]`,
		`<0>Feb 28 23:59:59 h a: x`,
	}
	machine := rfc3164.NewMachine(rfc3164.WithYear(rfc3164.Year{YYYY: received.Year()}), rfc3164.WithTimezone(time.UTC))
	for _, msg := range lines {
		ours := ParseHeader([]byte(msg), received)
		ref, err := machine.Parse([]byte(msg))
		if err != nil || ours.Format != FormatRFC3164 {
			t.Errorf("%q: ours %v, go-syslog error %v", msg, ours.Format, err)
			continue
		}
		if d := diff3164(ours, ref); d != "" {
			t.Errorf("%q:\n%s", msg, d)
		}
	}
}

func diff3164(ours Header, m gosyslog.Message) string {
	ref := m.(*rfc3164.SyslogMessage)
	var out string
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	if ref.Priority == nil || int(*ref.Priority) != ours.Priority {
		out += fmt.Sprintf("  priority: ours %d, go-syslog %v\n", ours.Priority, ref.Priority)
	}
	// go-syslog gives year-less times the configured year; ours picks the nearest.
	if ref.Timestamp == nil || ref.Timestamp.Format(time.StampNano) != ours.Timestamp.Format(time.StampNano) {
		out += fmt.Sprintf("  timestamp: ours %v, go-syslog %v\n", ours.Timestamp, ref.Timestamp)
	}
	for _, f := range []struct {
		name      string
		ours, ref string
	}{
		{"hostname", string(ours.Hostname), str(ref.Hostname)},
		{"appname", string(ours.AppName), str(ref.Appname)},
		{"procid", string(ours.ProcID), str(ref.ProcID)},
		{"msg", string(ours.Msg), str(ref.Message)},
	} {
		if f.ours != f.ref {
			out += fmt.Sprintf("  %s: ours %q, go-syslog %q\n", f.name, f.ours, f.ref)
		}
	}
	return out
}
