package syslog

import (
	"fmt"
	"testing"
	"time"
)

// received is when the test messages arrived, unless a case says otherwise.
var received = time.Date(2026, 12, 6, 10, 0, 5, 0, time.UTC)

// Real-world lines, as devices and relays send them.
const (
	iptablesLine = `<4>Dec  6 10:00:00 fw01 kernel: [12345.678] IN=eth0 OUT= MAC=00:16:3e:4a:5b:6c:00:1a:2b:3c:4d:5e:08:00 SRC=203.0.113.7 DST=10.1.2.3 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=54321 DF PROTO=TCP SPT=51234 DPT=22 WINDOW=29200 RES=0x00 SYN URGP=0`
	// Suricata's fast.log alert format through its syslog output (facility local5).
	suricataLine = `<172>Dec  6 10:00:02 ids01 suricata[2841]: [1:2001219:20] ET SCAN Potential SSH Scan [Classification: Attempted Information Leak] [Priority: 2] {TCP} 203.0.113.7:51234 -> 10.1.2.3:22`
	// The example of RFC 5424 section 6.5, with structured data (and a BOM before MSG).
	rfc5424SD = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\"] \xef\xbb\xbfAn application event log entry..."
	// rsyslog's RSYSLOG_ForwardFormat: BSD layout with an RFC 3339 timestamp.
	rsyslogForward = `<30>2026-12-06T11:00:01.123456+01:00 web01 nginx[812]: 203.0.113.9 - - "GET / HTTP/1.1" 200 612`
	// Cisco ASA: a year in the timestamp, a colon after it, no hostname.
	ciscoASA = `<166>Dec 06 2026 10:00:03: %ASA-6-302013: Built inbound TCP connection 1234 for outside:203.0.113.7/51234 (203.0.113.7/51234) to inside:10.1.2.3/22 (10.1.2.3/22)`
)

func TestParseHeader(t *testing.T) {
	for _, tc := range []struct {
		name, msg string
		received  time.Time
		want      Header
		wantMsg   string
	}{
		{name: "iptables kernel line", msg: iptablesLine, want: Header{
			Format: FormatRFC3164, Priority: 4, Timestamp: date(2026, 12, 6, 10, 0, 0, 0),
			Hostname: b("fw01"), AppName: b("kernel"),
		}, wantMsg: iptablesLine[len(`<4>Dec  6 10:00:00 fw01 kernel: `):]},
		{name: "suricata", msg: suricataLine, want: Header{
			Format: FormatRFC3164, Priority: 172, Timestamp: date(2026, 12, 6, 10, 0, 2, 0),
			Hostname: b("ids01"), AppName: b("suricata"), ProcID: b("2841"),
		}, wantMsg: suricataLine[len(`<172>Dec  6 10:00:02 ids01 suricata[2841]: `):]},
		{name: "rfc5424 with structured data", msg: rfc5424SD, want: Header{
			Format: FormatRFC5424, Priority: 165, Version: 1, Timestamp: date(2003, 10, 11, 22, 14, 15, 3e6),
			Hostname: b("mymachine.example.com"), AppName: b("evntslog"), MsgID: b("ID47"),
			StructuredData: b(`[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]`),
		}, wantMsg: "\xef\xbb\xbfAn application event log entry..."},
		{name: "rfc5424 all nil", msg: `<34>1 - - - - - -`, want: Header{Format: FormatRFC5424, Priority: 34, Version: 1}},
		{name: "rfc5424 offset", msg: `<13>1 2026-12-06T11:00:00.123456+01:00 host app 123 - - hello`, want: Header{
			Format: FormatRFC5424, Priority: 13, Version: 1, Timestamp: date(2026, 12, 6, 10, 0, 0, 123456000),
			Hostname: b("host"), AppName: b("app"), ProcID: b("123"),
		}, wantMsg: "hello"},
		{name: "rfc5424 escapes in structured data", msg: `<13>1 - h a - - [x@1 k="a\"b\\c\]d" k="2"] m`, want: Header{
			Format: FormatRFC5424, Priority: 13, Version: 1, Hostname: b("h"), AppName: b("a"),
			StructuredData: b(`[x@1 k="a\"b\\c\]d" k="2"]`),
		}, wantMsg: "m"},
		{name: "rfc3164 without hostname", msg: `<38>Dec  6 09:59:59 sshd[4711]: Accepted publickey for ops`, want: Header{
			Format: FormatRFC3164, Priority: 38, Timestamp: date(2026, 12, 6, 9, 59, 59, 0), AppName: b("sshd"), ProcID: b("4711"),
		}, wantMsg: "Accepted publickey for ops"},
		{name: "rfc3164 with rfc3339 timestamp", msg: rsyslogForward, want: Header{
			Format: FormatRFC3164, Priority: 30, Timestamp: date(2026, 12, 6, 10, 0, 1, 123456000),
			Hostname: b("web01"), AppName: b("nginx"), ProcID: b("812"),
		}, wantMsg: `203.0.113.9 - - "GET / HTTP/1.1" 200 612`},
		{name: "cisco asa", msg: ciscoASA, want: Header{
			Format: FormatRFC3164, Priority: 166, Timestamp: date(2026, 12, 6, 10, 0, 3, 0), AppName: b("%ASA-6-302013"),
		}, wantMsg: ciscoASA[len(`<166>Dec 06 2026 10:00:03: %ASA-6-302013: `):]},
		{name: "rfc3164 without PRI", msg: `Dec  6 10:00:00 host app: text`, want: Header{
			Format: FormatRFC3164, Priority: -1, Timestamp: date(2026, 12, 6, 10, 0, 0, 0), Hostname: b("host"), AppName: b("app"),
		}, wantMsg: "text"},
		{name: "rfc3164 single-digit day, fraction", msg: `<13>Dec 6 10:00:00.250 host app: x`, want: Header{
			Format: FormatRFC3164, Priority: 13, Timestamp: date(2026, 12, 6, 10, 0, 0, 25e7), Hostname: b("host"), AppName: b("app"),
		}, wantMsg: "x"},
		{name: "rfc3164 hostname without tag", msg: `<13>Dec  6 10:00:00 host some free text`, want: Header{
			Format: FormatRFC3164, Priority: 13, Timestamp: date(2026, 12, 6, 10, 0, 0, 0), Hostname: b("host"),
		}, wantMsg: "some free text"},
		{name: "rfc3164 bare message", msg: `<13>Dec  6 10:00:00 hello`, want: Header{
			Format: FormatRFC3164, Priority: 13, Timestamp: date(2026, 12, 6, 10, 0, 0, 0),
		}, wantMsg: "hello"},
		{name: "rfc3164 timestamp only", msg: `<13>Dec  6 10:00:00`, want: Header{
			Format: FormatRFC3164, Priority: 13, Timestamp: date(2026, 12, 6, 10, 0, 0, 0),
		}},
		{name: "december received in january", msg: `<13>Dec 31 23:59:58 h a: x`, received: date(2027, 1, 1, 0, 0, 5, 0), want: Header{
			Format: FormatRFC3164, Priority: 13, Timestamp: date(2026, 12, 31, 23, 59, 58, 0), Hostname: b("h"), AppName: b("a"),
		}, wantMsg: "x"},
		{name: "january received in december", msg: `<13>Jan  1 00:00:01 h a: x`, received: date(2026, 12, 31, 23, 59, 59, 0), want: Header{
			Format: FormatRFC3164, Priority: 13, Timestamp: date(2027, 1, 1, 0, 0, 1, 0), Hostname: b("h"), AppName: b("a"),
		}, wantMsg: "x"},
		{name: "february 29 of a leap year", msg: `<13>Feb 29 12:00:00 h a: x`, received: date(2028, 3, 1, 0, 0, 0, 0), want: Header{
			Format: FormatRFC3164, Priority: 13, Timestamp: date(2028, 2, 29, 12, 0, 0, 0), Hostname: b("h"), AppName: b("a"),
		}, wantMsg: "x"},
		{name: "february 29 without a leap year near", msg: `<13>Feb 29 12:00:00 h a: x`, received: date(2026, 3, 1, 0, 0, 0, 0), want: Header{Priority: 13}},
		{name: "not syslog", msg: `hello world`, want: Header{Priority: -1}},
		{name: "empty", msg: ``, want: Header{Priority: -1}},
		{name: "PRI too large", msg: `<192>Dec  6 10:00:00 h a: x`, want: Header{Priority: -1}},
		{name: "PRI with leading zero", msg: `<013>Dec  6 10:00:00 h a: x`, want: Header{Priority: -1}},
		{name: "PRI without header", msg: `<13>date=2026-12-06 time=10:00:00 devname=fg01`, want: Header{Priority: 13}},
		{name: "rfc5424 bad timestamp", msg: `<13>1 2026-13-06T10:00:00Z h a - - - x`, want: Header{Priority: 13}},
		{name: "rfc5424 timestamp without zone", msg: `<13>1 2026-12-06T10:00:00 h a - - - x`, want: Header{Priority: 13}},
		{name: "rfc5424 unterminated structured data", msg: `<13>1 - h a - - [x@1 k="v`, want: Header{Priority: 13}},
		{name: "rfc5424 missing structured data", msg: `<13>1 - h a - - msg`, want: Header{Priority: 13}},
		{name: "rfc5424 appname too long", msg: `<13>1 - h ` + string(make49()) + ` - - - x`, want: Header{Priority: 13}},
		{name: "bad month", msg: `<13>Dex  6 10:00:00 h a: x`, want: Header{Priority: 13}},
		{name: "bad clock", msg: `<13>Dec  6 25:00:00 h a: x`, want: Header{Priority: 13}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := received
			if !tc.received.IsZero() {
				rec = tc.received
			}
			got := ParseHeader([]byte(tc.msg), rec)
			want := tc.want
			if want.Format == FormatUnknown {
				tc.wantMsg = tc.msg
			}
			want.Msg = b(tc.wantMsg)
			if d := diffHeader(got, want); d != "" {
				t.Errorf("ParseHeader(%q):\n%s", tc.msg, d)
			}
		})
	}
}

func make49() []byte {
	out := make([]byte, 49)
	for i := range out {
		out[i] = 'a'
	}
	return out
}

func b(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

func date(y int, mo time.Month, d, hh, mm, ss, ns int) time.Time {
	return time.Date(y, mo, d, hh, mm, ss, ns, time.UTC)
}

// diffHeader lists the fields in which got and want differ; byte fields compare as
// strings, so nil and empty are alike.
func diffHeader(got, want Header) string {
	var out string
	check := func(name string, g, w any) {
		if fmt.Sprint(g) != fmt.Sprint(w) {
			out += fmt.Sprintf("  %s: got %v, want %v\n", name, g, w)
		}
	}
	check("format", got.Format, want.Format)
	check("priority", got.Priority, want.Priority)
	check("version", got.Version, want.Version)
	if !got.Timestamp.Equal(want.Timestamp) {
		out += fmt.Sprintf("  timestamp: got %v, want %v\n", got.Timestamp, want.Timestamp)
	}
	check("hostname", string(got.Hostname), string(want.Hostname))
	check("appname", string(got.AppName), string(want.AppName))
	check("procid", string(got.ProcID), string(want.ProcID))
	check("msgid", string(got.MsgID), string(want.MsgID))
	check("structured data", string(got.StructuredData), string(want.StructuredData))
	check("msg", fmt.Sprintf("%q", got.Msg), fmt.Sprintf("%q", want.Msg))
	return out
}

// TestParseHeaderAllocates nothing: it runs for every message.
func TestParseHeaderAllocates(t *testing.T) {
	for _, m := range []string{iptablesLine, suricataLine, rfc5424SD, rsyslogForward, ciscoASA, "junk"} {
		msg := []byte(m)
		if n := testing.AllocsPerRun(100, func() { _ = ParseHeader(msg, received) }); n != 0 {
			t.Errorf("ParseHeader(%.30q...) allocates %v times", m, n)
		}
	}
}
