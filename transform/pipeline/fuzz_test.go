package pipeline

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/transform/event"
)

// The parsers at the trust boundary get arbitrary input: they never panic, and they
// are linear by construction (single passes over the input with strings.Index), which
// the time limit checks loosely.

func fuzzProcessor(f *testing.F, src string, seeds ...string) {
	s, err := compileProc(f, src)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range seeds {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if len(in) > 64<<10 {
			return
		}
		e := &event.Event{Received: received, Fields: map[string]any{"message": in}}
		start := time.Now()
		_ = s.proc.Process(context.Background(), e) // an error is fine; a panic is not
		if d := time.Since(start); d > time.Second {
			t.Fatalf("%d bytes took %v", len(in), d)
		}
	})
}

func FuzzDissect(f *testing.F) {
	fuzzProcessor(f, `dissect: {field: message, pattern: '%{a} %{+a/2} [%{?x}] %{*k}=%{&k} %{b->} %{c}'}`,
		"1 2 [x] user=bob   y z", "", " [] = ", "%{a}")
}

func FuzzDissectPattern(f *testing.F) {
	f.Add("%{a} %{b}", "x y")
	f.Add("%{+a/x}%{", "")
	f.Add("%{*k}=%{&k}", "a=b")
	f.Fuzz(func(t *testing.T, pattern, in string) {
		p := &dissectProc{field: event.ParsePath("message")}
		if p.compile(pattern) != nil {
			return
		}
		e := &event.Event{Fields: map[string]any{"message": in}}
		_ = p.Process(context.Background(), e)
	})
}

func FuzzKV(f *testing.F) {
	fuzzProcessor(f, `kv: {field: message, target_field: kv, strip_brackets: true, trim_value: '"'}`,
		`IN=eth0 OUT= SRC=1.2.3.4 user="a b" x='y`, "==", `"`, "a=b=c d",
		// Large and repetitive, within the 64 KiB the target takes: many pairs, one key
		// many times (an array that grows), unterminated quotes, runs of separators.
		strings.Repeat("k=v ", 16000), strings.Repeat("k", 8000)+"="+strings.Repeat("v", 50000),
		`k="`+strings.Repeat("x ", 30000), strings.Repeat("=", 60000), strings.Repeat("a=b=c ", 10000),
		strings.Repeat(`k="a b" `, 8000), strings.Repeat(`"`, 60000), "k=["+strings.Repeat("[", 60000)+"]",
		strings.Repeat(" ", 60000)+"k=v")
}

func FuzzCEF(f *testing.F) {
	fuzzProcessor(f, `cef: {}`,
		`CEF:0|V|P|1|100|name \| x|5|src=10.0.0.1 msg=a\=b c request=http://x/?a=b rt=1`,
		"CEF:1|||||||", `CEF:0|\|\\|`, "CEF:", "x=y CEF:0|a|b|c|d|e|f|=",
		// Large and repetitive: escaped pipes and backslashes, thousands of extension
		// keys, runs of '=' and of escaped '='.
		"CEF:0|"+strings.Repeat(`\|`, 20000), "CEF:0|"+strings.Repeat(`\\`, 30000)+"|b|c|d|e|f|k=v",
		"CEF:0|a|b|c|d|e|f|"+strings.Repeat("k=v ", 15000), "CEF:0|a|b|c|d|e|f|"+strings.Repeat("a=", 30000),
		"CEF:0|a|b|c|d|e|f|k="+strings.Repeat(`\=`, 20000), "CEF:0|a|b|c|d|e|f|msg="+strings.Repeat("x ", 30000)+"k=v",
		strings.Repeat("CEF:0|", 10000))
}

func FuzzSyslog(f *testing.F) {
	fuzzProcessor(f, `syslog: {}`,
		"<4>Nov 26 07:00:01 fw01 kernel: [1.2] IN=eth0",
		`<165>1 2026-11-26T07:00:01.003Z h app 1 ID [a b="c"][d e="\]"] msg`,
		"<0>1 - - - - -", "Nov  6 07:00:01 h p[1]: m", "<999>", "<1>2 x",
		// Large and repetitive: thousands of structured data elements and parameters,
		// escaped brackets, long tags and hosts, runs of '<' and spaces.
		"<165>1 2026-11-26T07:00:01Z h app 1 ID "+strings.Repeat(`[a b="c"]`, 6000)+" msg",
		"<165>1 2026-11-26T07:00:01Z h app 1 ID [a"+strings.Repeat(` b="c"`, 9000)+"] msg",
		`<165>1 2026-11-26T07:00:01Z h app 1 ID [a b="`+strings.Repeat(`\]`, 20000)+`"] msg`,
		`<165>1 2026-11-26T07:00:01Z h app 1 ID [a b="`+strings.Repeat(`x`, 60000),
		strings.Repeat("<", 60000), "<13>"+strings.Repeat(" ", 60000), "<13>Nov 26 07:00:01 "+strings.Repeat("h", 60000)+" p: m",
		"<13>Nov 26 07:00:01 h "+strings.Repeat("p", 60000)+"[1]: m", "<13>Nov 26 07:00:01 h p["+strings.Repeat("1", 60000)+"]: m")
}

func FuzzGrokProcessor(f *testing.F) {
	fuzzProcessor(f, `grok: {field: message, patterns: ['%{SYSLOGBASE} %{GREEDYDATA:rest}', '%{IP:ip}:%{INT:port:int}', '%{NUMBER:n:float}']}`,
		"Nov 26 07:00:01 host sshd[1]: x", "10.0.0.1:99999999999999999999", "1e999")
}
