package pipeline

import (
	"context"
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
		`IN=eth0 OUT= SRC=1.2.3.4 user="a b" x='y`, "==", `"`, "a=b=c d")
}

func FuzzCEF(f *testing.F) {
	fuzzProcessor(f, `cef: {}`,
		`CEF:0|V|P|1|100|name \| x|5|src=10.0.0.1 msg=a\=b c request=http://x/?a=b rt=1`,
		"CEF:1|||||||", `CEF:0|\|\\|`, "CEF:", "x=y CEF:0|a|b|c|d|e|f|=")
}

func FuzzSyslog(f *testing.F) {
	fuzzProcessor(f, `syslog: {}`,
		"<4>Nov 26 07:00:01 fw01 kernel: [1.2] IN=eth0",
		`<165>1 2026-11-26T07:00:01.003Z h app 1 ID [a b="c"][d e="\]"] msg`,
		"<0>1 - - - - -", "Nov  6 07:00:01 h p[1]: m", "<999>", "<1>2 x")
}

func FuzzGrokProcessor(f *testing.F) {
	fuzzProcessor(f, `grok: {field: message, patterns: ['%{SYSLOGBASE} %{GREEDYDATA:rest}', '%{IP:ip}:%{INT:port:int}', '%{NUMBER:n:float}']}`,
		"Nov 26 07:00:01 host sshd[1]: x", "10.0.0.1:99999999999999999999", "1e999")
}
