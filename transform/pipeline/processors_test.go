package pipeline

import (
	"context"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/transform/event"
)

// procCase is one processor run: its YAML (a one-key object), the event before, and
// the event after or the error it fails with.
type procCase struct {
	name    string
	proc    string
	in      string
	want    string // the document after, when wantErr is empty
	wantErr string
}

// compileProc compiles one processor (its common options included) into a step.
func compileProc(t testing.TB, src string) (*step, error) {
	t.Helper()
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(src), &node); err != nil {
		t.Fatal(err)
	}
	b := builder{deps: &Deps{}, origin: "pipelines.test", kinds: processorKinds()}
	s := b.step(node.Content[0], "processors[0]")
	if len(b.errs) > 0 {
		return nil, b.errs[0]
	}
	return s, nil
}

func runCases(t *testing.T, cases []procCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := compileProc(t, c.proc)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			e := &event.Event{Type: "test", Received: received, Fields: doc(t, c.in)}
			err = s.proc.Process(context.Background(), e)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Process: %v", err)
			}
			wantDoc(t, e, c.want)
		})
	}
}

func TestSet(t *testing.T) {
	runCases(t, []procCase{
		{"constant", `set: {field: event.kind, value: alert}`, `{}`, `{"event":{"kind":"alert"}}`, ""},
		{"template", `set: {field: related.hosts, value: '{{source.ip}}->{{{destination.ip}}}:{{destination.port}}'}`,
			`{"source":{"ip":"1.2.3.4"},"destination":{"ip":"5.6.7.8","port":443}}`,
			`{"source":{"ip":"1.2.3.4"},"destination":{"ip":"5.6.7.8","port":443},"related":{"hosts":"1.2.3.4->5.6.7.8:443"}}`, ""},
		{"composite value is copied", `set: {field: event.category, value: [network, intrusion_detection]}`, `{}`, `{"event":{"category":["network","intrusion_detection"]}}`, ""},
		{"no override", `set: {field: a, value: new, override: false}`, `{"a":"old"}`, `{"a":"old"}`, ""},
		{"copy_from", `set: {field: b, copy_from: a.x}`, `{"a":{"x":[1,2]}}`, `{"a":{"x":[1,2]},"b":[1,2]}`, ""},
		{"copy_from missing", `set: {field: b, copy_from: a}`, `{}`, "", "field a: not found"},
		{"ignore_empty_value", `set: {field: b, value: '{{nope}}', ignore_empty_value: true}`, `{}`, `{}`, ""},
		{"expr", `set: {field: url.domain, expr: 'first(filter(ctx.headers, lower(.name) == "host"))?.value'}`,
			`{"headers":[{"name":"User-Agent","value":"x"},{"name":"Host","value":"shop.example.com"}]}`,
			`{"headers":[{"name":"User-Agent","value":"x"},{"name":"Host","value":"shop.example.com"}],"url":{"domain":"shop.example.com"}}`, ""},
		{"through a string fails", `set: {field: message.x, value: 1}`, `{"message":"m"}`, "", "field message.x: set message.x: message is a string, not an object"},
	})
}

func TestRenameRemove(t *testing.T) {
	runCases(t, []procCase{
		{"rename", `rename: {field: src, target_field: source.ip}`, `{"src":"1.2.3.4"}`, `{"source":{"ip":"1.2.3.4"}}`, ""},
		{"rename many in order", "rename:\n  fields: {a: b, b: c}", `{"a":1}`, `{"c":1}`, ""},
		{"rename missing", `rename: {field: src, target_field: x}`, `{}`, "", "field src: not found"},
		{"rename ignore_missing", `rename: {field: src, target_field: x, ignore_missing: true}`, `{}`, `{}`, ""},
		{"rename target exists", `rename: {field: a, target_field: b}`, `{"a":1,"b":2}`, "", "target b exists"},
		{"rename override", `rename: {field: a, target_field: b, override: true}`, `{"a":1,"b":2}`, `{"b":1}`, ""},
		{"rename into a string puts it back", `rename: {field: a, target_field: m.x}`, `{"a":1,"m":"s"}`, "", "field a: rename to m.x"},
		{"remove list", `remove: {field: [a, b.c]}`, `{"a":1,"b":{"c":2,"d":3}}`, `{"b":{"d":3}}`, ""},
		{"remove missing", `remove: {field: nope}`, `{}`, "", "field nope: not found"},
		{"remove keep", `remove: {keep: ["@timestamp", message]}`, `{"@timestamp":"t","message":"m","x":1}`, `{"@timestamp":"t","message":"m"}`, ""},
	})
}

func TestConvert(t *testing.T) {
	runCases(t, []procCase{
		{"string to integer", `convert: {field: p, type: integer}`, `{"p":"443"}`, `{"p":443}`, ""},
		{"json number to integer", `convert: {field: p, type: long}`, `{"p":443}`, `{"p":443}`, ""},
		{"hex to integer", `convert: {field: p, type: integer}`, `{"p":"0x10"}`, `{"p":16}`, ""},
		{"float", `convert: {field: p, type: float, target_field: q}`, `{"p":"1.5"}`, `{"p":"1.5","q":1.5}`, ""},
		{"boolean", `convert: {field: p, type: boolean}`, `{"p":"TRUE"}`, `{"p":true}`, ""},
		{"ip canonical", `convert: {field: p, type: ip}`, `{"p":"2001:DB8:0:0::1"}`, `{"p":"2001:db8::1"}`, ""},
		{"mac as ECS writes it", `convert: {field: p, type: mac}`, `{"p":["00:16:3e:4a:5b:6c","0016.3e4a.5b6c","00-16-3E-4A-5B-6C"]}`, `{"p":["00-16-3E-4A-5B-6C","00-16-3E-4A-5B-6C","00-16-3E-4A-5B-6C"]}`, ""},
		{"bad mac", `convert: {field: p, type: mac}`, `{"p":"00:16:3e:4a:5b"}`, "", `field p: "00:16:3e:4a:5b" is not a MAC address`},
		{"string", `convert: {field: p, type: string}`, `{"p":22}`, `{"p":"22"}`, ""},
		{"auto", `convert: {field: p, type: auto}`, `{"p":["1","1.5","false","x"]}`, `{"p":[1,1.5,false,"x"]}`, ""},
		{"array", `convert: {field: p, type: integer}`, `{"p":["1","2"]}`, `{"p":[1,2]}`, ""},
		{"bad integer", `convert: {field: p, type: integer}`, `{"p":"ssh"}`, "", `field p: cannot convert "ssh" to an integer`},
		{"lossy integer", `convert: {field: p, type: integer}`, `{"p":1.5}`, "", `cannot convert 1.5 to an integer`},
		{"bad ip", `convert: {field: p, type: ip}`, `{"p":"300.1.2.3"}`, "", `field p: "300.1.2.3" is not an IP address`},
		{"missing", `convert: {field: p, type: ip}`, `{}`, "", `field p: not found`},
		{"nested in place", `convert: {field: a.b.p, type: integer}`, `{"a":{"b":{"p":"7","q":1}}}`, `{"a":{"b":{"p":7,"q":1}}}`, ""},
		{"dotted key in place", `convert: {field: a.p, type: integer}`, `{"a.p":"7"}`, `{"a.p":7}`, ""},
	})
}

func TestCaseAndAppend(t *testing.T) {
	runCases(t, []procCase{
		{"lowercase", `lowercase: {field: network.transport}`, `{"network":{"transport":"TCP"}}`, `{"network":{"transport":"tcp"}}`, ""},
		{"uppercase array target", `uppercase: {field: a, target_field: b}`, `{"a":["x","y"]}`, `{"a":["x","y"],"b":["X","Y"]}`, ""},
		{"lowercase number", `lowercase: {field: a}`, `{"a":1}`, "", "field a: is a number, not a string"},
		{"lowercase a dotted key in place", `lowercase: {field: a.b}`, `{"a.b":"X"}`, `{"a.b":"x"}`, ""},
		{"lowercase to another field", `lowercase: {field: a, target_field: b.c}`, `{"a":"X"}`, `{"a":"X","b":{"c":"x"}}`, ""},
		{"append to missing", `append: {field: tags, value: firewall}`, `{}`, `{"tags":["firewall"]}`, ""},
		{"append to a string", `append: {field: tags, value: [b, '{{x}}']}`, `{"tags":"a","x":"c"}`, `{"tags":["a","b","c"],"x":"c"}`, ""},
		{"append no duplicates", `append: {field: tags, value: [a, b], allow_duplicates: false}`, `{"tags":["a"]}`, `{"tags":["a","b"]}`, ""},
		{"append copies of fields", `append: {field: related.ip, copy_from: [source.ip, destination.ip, client.ip, server.ip, host.ip], allow_duplicates: false}`,
			`{"source":{"ip":"10.0.0.1"},"destination":{"ip":"10.0.0.1"},"server":{"ip":null},"host":{"ip":["10.0.0.2",null,"10.0.0.3"]},"related":{"ip":"10.0.0.9"}}`,
			`{"source":{"ip":"10.0.0.1"},"destination":{"ip":"10.0.0.1"},"server":{"ip":null},"host":{"ip":["10.0.0.2",null,"10.0.0.3"]},"related":{"ip":["10.0.0.9","10.0.0.1","10.0.0.2","10.0.0.3"]}}`, ""},
		{"append copies with duplicates", `append: {field: related.ip, copy_from: [source.ip, destination.ip]}`,
			`{"source":{"ip":"a"},"destination":{"ip":"a"}}`, `{"source":{"ip":"a"},"destination":{"ip":"a"},"related":{"ip":["a","a"]}}`, ""},
		{"append copies of missing fields", `append: {field: related.ip, copy_from: [source.ip]}`, `{"related":{"ip":"x"}}`, `{"related":{"ip":"x"}}`, ""},
		{"append copies: nothing to copy", `append: {field: related.ip, copy_from: [source.ip, destination.ip]}`, `{"x":1}`, `{"x":1}`, ""},
		{"append copies of objects", `append: {field: list, copy_from: o}`, `{"o":{"a":1}}`, `{"o":{"a":1},"list":[{"a":1}]}`, ""},
	})
}

func TestGrokProcessor(t *testing.T) {
	runCases(t, []procCase{
		{"typed captures, first matching pattern", `grok: {field: message, patterns: ['^%{WORD:a}$', '^%{IPV4:source.ip}:%{INT:source.port:int} %{NUMBER:x:float}$']}`,
			`{"message":"10.0.0.1:22 1.5"}`, `{"message":"10.0.0.1:22 1.5","source":{"ip":"10.0.0.1","port":22},"x":1.5}`, ""},
		{"empty captures skipped", `grok: {field: message, patterns: ['IN=%{DATA:in} OUT=%{DATA:out} X']}`,
			`{"message":"IN=eth0 OUT= X"}`, `{"message":"IN=eth0 OUT= X","in":"eth0"}`, ""},
		{"keep empty captures", `grok: {field: message, patterns: ['OUT=%{DATA:out} X'], keep_empty_captures: true}`,
			`{"message":"OUT= X"}`, `{"message":"OUT= X","out":""}`, ""},
		{"custom patterns", "grok:\n  field: message\n  patterns: ['%{FWACTION:event.action}']\n  pattern_definitions: {FWACTION: 'ACCEPT|DROP|REJECT'}",
			`{"message":"x DROP y"}`, `{"message":"x DROP y","event":{"action":"DROP"}}`, ""},
		{"no match", `grok: {field: message, patterns: ['^%{INT:n}$']}`, `{"message":"x"}`, "", "field message: no grok pattern matched"},
		{"not a string", `grok: {field: message, patterns: ['%{INT:n}']}`, `{"message":5}`, "", "field message: is a number, not a string"},
		{"missing", `grok: {field: message, patterns: ['%{INT:n}']}`, `{}`, "", "field message: not found"},
		{"ignore_missing", `grok: {field: message, patterns: ['%{INT:n}'], ignore_missing: true}`, `{}`, `{}`, ""},
		{"capture into a string", `grok: {field: message, patterns: ['%{INT:message.n}']}`, `{"message":"5"}`, "", "capture message.n"},
	})
}

func TestDate(t *testing.T) {
	runCases(t, []procCase{
		{"ISO8601 without colon", `date: {field: ts, formats: [ISO8601]}`, `{"ts":"2026-11-26T07:00:02.345678+0100"}`,
			`{"ts":"2026-11-26T07:00:02.345678+0100","@timestamp":"2026-11-26T06:00:02.345678Z"}`, ""},
		{"ISO8601 zone-less in timezone", `date: {field: ts, formats: [ISO8601], timezone: Europe/Amsterdam}`, `{"ts":"2026-07-01 12:00:00"}`,
			`{"ts":"2026-07-01 12:00:00","@timestamp":"2026-07-01T10:00:00Z"}`, ""},
		{"UNIX_MS number", `date: {field: ts, formats: [UNIX_MS], target_field: t}`, `{"ts":1795676401123}`,
			`{"ts":1795676401123,"t":"2026-11-26T07:00:01.123Z"}`, ""},
		{"UNIX fraction", `date: {field: ts, formats: [UNIX]}`, `{"ts":"1795676401.5"}`,
			`{"ts":"1795676401.5","@timestamp":"2026-11-26T07:00:01.5Z"}`, ""},
		{"syslog, year from received", `date: {field: ts, formats: ['MMM  d HH:mm:ss', 'MMM d HH:mm:ss']}`, `{"ts":"Nov  6 07:00:01"}`,
			`{"ts":"Nov  6 07:00:01","@timestamp":"2026-11-06T07:00:01Z"}`, ""},
		{"syslog, December log received in January", `date: {field: ts, formats: ['MMM d HH:mm:ss']}`, `{"ts":"Dec 31 23:59:59"}`,
			`{"ts":"Dec 31 23:59:59","@timestamp":"2025-12-31T23:59:59Z"}`, ""},
		{"java pattern with zone", `date: {field: ts, formats: ['dd/MMM/yyyy:HH:mm:ss Z']}`, `{"ts":"26/Nov/2026:07:00:01 -0500"}`,
			`{"ts":"26/Nov/2026:07:00:01 -0500","@timestamp":"2026-11-26T12:00:01Z"}`, ""},
		{"go layout, output format", `date: {field: ts, formats: ['2006/01/02 15:04'], output_format: "yyyy-MM-dd"}`, `{"ts":"2026/11/26 07:00"}`,
			`{"ts":"2026/11/26 07:00","@timestamp":"2026-11-26"}`, ""},
		{"no format fits", `date: {field: ts, formats: [ISO8601, UNIX]}`, `{"ts":"yesterday"}`, "", `field ts: "yesterday" matches none of the formats ISO8601, UNIX`},
	})
}

// TestDateDecemberInJanuary checks the year rollover with a January receive time.
func TestDateDecemberInJanuary(t *testing.T) {
	s, err := compileProc(t, `date: {field: ts, formats: ['MMM d HH:mm:ss']}`)
	if err != nil {
		t.Fatal(err)
	}
	e := &event.Event{Received: received.AddDate(0, 1, 10), Fields: map[string]any{"ts": "Dec 31 23:59:59"}} // 2027-01-05
	if err := s.proc.Process(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if got := e.Fields["@timestamp"]; got != "2026-12-31T23:59:59Z" {
		t.Errorf("@timestamp = %v", got)
	}
}

func TestJSONAndCSV(t *testing.T) {
	runCases(t, []procCase{
		{"json to target", `json: {field: message, target_field: suricata.eve}`, `{"message":"{\"src_port\":51234,\"alert\":{\"signature\":\"x\"}}"}`,
			`{"message":"{\"src_port\":51234,\"alert\":{\"signature\":\"x\"}}","suricata":{"eve":{"src_port":51234,"alert":{"signature":"x"}}}}`, ""},
		{"json in place", `json: {field: m}`, `{"m":"[1,2]"}`, `{"m":[1,2]}`, ""},
		{"json add_to_root", `json: {field: m, add_to_root: true}`, `{"m":"{\"a\":1}"}`, `{"m":"{\"a\":1}","a":1}`, ""},
		{"json bad", `json: {field: m}`, `{"m":"{\"a\":"}`, "", "field m: decode JSON"},
		{"json trailing data", `json: {field: m}`, `{"m":"{} x"}`, "", "after top-level value"},
		{"json deeper than limits.max_depth", `json: {field: m}`, `{"m":"` + strings.Repeat("[", 101) + strings.Repeat("]", 101) + `"}`, "", "nested deeper than 100 levels"},
		{"json add_to_root array", `json: {field: m, add_to_root: true}`, `{"m":"[]"}`, "", "add_to_root needs a JSON object, not a array"},
		{"csv", `csv: {field: m, target_fields: [a, b.c, d, e], trim: true}`, `{"m":"x, \"y,\"\"z\"\"\",,w"}`,
			`{"m":"x, \"y,\"\"z\"\"\",,w","a":"x","b":{"c":"y,\"z\""},"e":"w"}`, ""},
		{"csv empty_value and separator", `csv: {field: m, target_fields: [a, b], separator: ';', empty_value: null}`, `{"m":"1;"}`,
			`{"m":"1;","a":"1","b":null}`, ""},
		{"csv unterminated", `csv: {field: m, target_fields: [a]}`, `{"m":"\"x"}`, "", "column 1: unterminated quote"},
		// convert: as the convert processor converts; what does not convert stays text,
		// an empty column stays out (or empty_value, unconverted), a quoted one converts.
		{"csv convert", `csv: {field: m, target_fields: [a, b.c, d, e, f, g, h], convert: {a: long, b.c: int, d: double, e: boolean, f: long, g: long}}`,
			`{"m":"42,-7,1.5,true,x1,,\"8\""}`, `{"m":"42,-7,1.5,true,x1,,\"8\"","a":42,"b":{"c":-7},"d":1.5,"e":true,"f":"x1","h":"8"}`, ""},
		{"csv convert quoted and empty_value", `csv: {field: m, target_fields: [a, b], convert: {a: long, b: long}, empty_value: ""}`,
			`{"m":"\"9\","}`, `{"m":"\"9\",","a":9,"b":""}`, ""},
		{"csv convert, a field named twice", `csv: {field: m, target_fields: [a, _skip, a], convert: {a: long}}`,
			`{"m":"1,x,2"}`, `{"m":"1,x,2","a":2,"_skip":"x"}`, ""},
		{"csv convert, drop", `csv: {field: m, target_fields: [a, b, c], convert: {a: long, b: long}, convert_failure: drop}`,
			`{"m":"x,2,y"}`, `{"m":"x,2,y","b":2,"c":"y"}`, ""},
	})
}

func TestKV(t *testing.T) {
	runCases(t, []procCase{
		{"iptables", `kv: {field: m, target_field: fw}`, `{"m":"IN=eth0 OUT= SRC=1.2.3.4  DF PROTO=TCP SYN"}`,
			`{"m":"IN=eth0 OUT= SRC=1.2.3.4  DF PROTO=TCP SYN","fw":{"IN":"eth0","OUT":"","SRC":"1.2.3.4","PROTO":"TCP"}}`, ""},
		{"quotes, prefix, include, duplicates", `kv: {field: m, prefix: fg_, include_keys: [user, msg, dst]}`,
			`{"m":"user=\"bob smith\" msg='a=b c' dst=1 dst=2 srcport=5"}`,
			`{"m":"user=\"bob smith\" msg='a=b c' dst=1 dst=2 srcport=5","fg_user":"bob smith","fg_msg":"a=b c","fg_dst":["1","2"]}`, ""},
		{"splits, trims, brackets, exclude", `kv: {field: m, field_split: "&", value_split: ":", trim_key: " ", strip_brackets: true, exclude_keys: [x], target_field: q}`,
			`{"m":" a :[1]&x:2&b:<3>"}`, `{"m":" a :[1]&x:2&b:<3>","q":{"a":"1","b":"3"}}`, ""},
		{"target not an object", `kv: {field: m, target_field: m}`, `{"m":"a=1"}`, "", "target m is a string, not an object"},
		// fields: mapped keys go to their own fields (no prefix), the others under the
		// target; a key seen twice keeps both values; include and exclude still apply.
		{"fields", `kv: {field: m, target_field: t, prefix: p_, exclude_keys: [z], fields: {srcip: source.ip, dstip: destination.ip, z: zz, msg: message}}`,
			`{"m":"srcip=1.1.1.1 dstip=2.2.2.2 srcip=3.3.3.3 port=5 z=9 msg=\"hi there\""}`,
			`{"m":"srcip=1.1.1.1 dstip=2.2.2.2 srcip=3.3.3.3 port=5 z=9 msg=\"hi there\"","source":{"ip":["1.1.1.1","3.3.3.3"]},"destination":{"ip":"2.2.2.2"},"message":"hi there","t":{"p_port":"5"}}`, ""},
		// An unmapped key written over an object a mapped field goes into: the mapped
		// fields after it see the new value, not the replaced object.
		{"fields under a replaced object", `kv: {field: m, fields: {a: s.a, b: s.b}}`,
			`{"m":"a=1 s=2 b=3"}`, "", "key b"},
		{"fields into a non-object", `kv: {field: m, fields: {a: m.a}}`, `{"m":"a=1"}`, "", "key a: set m.a: m is a string, not an object"},
		// convert: the fields' values as csv converts its columns; what does not convert
		// stays text, or is left out with convert_failure: drop (each value of a key seen
		// twice on its own); the other keys are untouched.
		{"fields convert", `kv: {field: m, target_field: t, fields: {sp: source.port, b: source.bytes, ok: ok}, convert: {source.port: long, source.bytes: long, ok: boolean}}`,
			`{"m":"sp=0x10 b=x1 ok=TRUE n=5"}`, `{"m":"sp=0x10 b=x1 ok=TRUE n=5","source":{"port":16,"bytes":"x1"},"ok":true,"t":{"n":"5"}}`, ""},
		{"fields convert, drop", `kv: {field: m, fields: {sp: source.port, b: source.bytes}, convert: {source.port: long, source.bytes: long}, convert_failure: drop}`,
			`{"m":"sp=1 b=x1 sp=y sp=3"}`, `{"m":"sp=1 b=x1 sp=y sp=3","source":{"port":[1,3]}}`, ""},
	})
}

func TestDissect(t *testing.T) {
	runCases(t, []procCase{
		{"plain and skip", `dissect: {field: m, pattern: '%{source.ip} %{?ident} %{user.name} [%{ts}] "%{}"'}`,
			`{"m":"1.2.3.4 - bob [26/Nov/2026] \"GET /\""}`,
			`{"m":"1.2.3.4 - bob [26/Nov/2026] \"GET /\"","source":{"ip":"1.2.3.4"},"user":{"name":"bob"},"ts":"26/Nov/2026"}`, ""},
		{"append with order and padding", `dissect: {field: m, pattern: '%{+ts/2} %{+ts/1->} %{rest}', append_separator: ' '}`,
			`{"m":"07:00 Nov-26    x y"}`, `{"m":"07:00 Nov-26    x y","ts":"Nov-26 07:00","rest":"x y"}`, ""},
		{"reference", `dissect: {field: m, pattern: '%{*k}=%{&k};%{*j}=%{&j}'}`, `{"m":"user=bob;port=22"}`,
			`{"m":"user=bob;port=22","user":"bob","port":"22"}`, ""},
		{"prefix mismatch", `dissect: {field: m, pattern: 'HTTP/%{v}'}`, `{"m":"SPDY/3"}`, "", `does not start with "HTTP/"`},
		{"delimiter missing", `dissect: {field: m, pattern: '%{a} %{b}|%{c}'}`, `{"m":"x y z"}`, "", `delimiter "|" after %{b} not found`},
	})
}

func TestSyslog(t *testing.T) {
	runCases(t, []procCase{
		{"rfc3164 kernel", `syslog: {}`, `{"message":"<4>Nov 26 07:00:01 fw01 kernel: [12345.678] IN=eth0"}`,
			`{"message":"[12345.678] IN=eth0","@timestamp":"2026-11-26T07:00:01Z","log":{"syslog":{"priority":4,
			"facility":{"code":0,"name":"kern"},"severity":{"code":4,"name":"warning"},"hostname":"fw01","appname":"kernel"}}}`, ""},
		{"rfc3164 with pid, no priority, timezone", `syslog: {timezone: "+02:00", timestamp_field: ts}`, `{"message":"Nov  6 09:00:01 host sshd[42]: Accepted password"}`,
			`{"message":"Accepted password","ts":"2026-11-06T07:00:01Z","log":{"syslog":{"hostname":"host","appname":"sshd","procid":"42"}}}`, ""},
		{"rfc5424 with structured data", `syslog: {message_field: msg}`,
			`{"message":"<165>1 2026-11-26T07:00:01.003Z fw02 ids 1234 ID47 [origin ip=\"10.0.0.1\"] alert text"}`,
			`{"message":"<165>1 2026-11-26T07:00:01.003Z fw02 ids 1234 ID47 [origin ip=\"10.0.0.1\"] alert text","msg":"alert text",
			"@timestamp":"2026-11-26T07:00:01.003Z","log":{"syslog":{"priority":165,"facility":{"code":20,"name":"local4"},
			"severity":{"code":5,"name":"notice"},"hostname":"fw02","appname":"ids","procid":"1234","msgid":"ID47","version":"1",
			"structured_data":{"origin":{"ip":"10.0.0.1"}}}}}`, ""},
		{"not syslog", `syslog: {format: rfc5424}`, `{"message":"hello"}`, "", "field message: parse RFC 5424"},
	})
}

func TestCEF(t *testing.T) {
	line := `Nov 26 07:00:01 fw CEF:0|Fortinet|FortiGate|7.4|13|traffic denied \\| policy|5|src=203.0.113.7 spt=51234 dst=10.1.2.3 dpt=22 proto=TCP act=Deny msg=blocked a\\=b by rule\\=7 request=https://x/?a=b&c=d rt=1795676401123`
	runCases(t, []procCase{
		{"ecs", `cef: {}`, `{"message":"` + line + `"}`, `{"message":"blocked a=b by rule=7","cef":{"version":"0","device":{"vendor":"Fortinet","product":"FortiGate","version":"7.4","event_class_id":"13"},
			"name":"traffic denied | policy","severity":"5","extensions":{"src":"203.0.113.7","spt":"51234","dst":"10.1.2.3","dpt":"22","proto":"TCP","act":"Deny","msg":"blocked a=b by rule=7","request":"https://x/?a=b&c=d","rt":"1795676401123"}},
			"observer":{"vendor":"Fortinet","product":"FortiGate","version":"7.4"},"event":{"code":"13","severity":5,"action":"deny"},
			"source":{"ip":"203.0.113.7","port":51234},"destination":{"ip":"10.1.2.3","port":22},"network":{"transport":"tcp"},
			"url":{"original":"https://x/?a=b&c=d"},"@timestamp":"2026-11-26T07:00:01.123Z"}`, ""},
		{"no extension, no ecs", `cef: {field: m, ecs: false, target_field: c}`, `{"m":"CEF:1|V|P|1|id|name|High"}`,
			`{"m":"CEF:1|V|P|1|id|name|High","c":{"version":"1","device":{"vendor":"V","product":"P","version":"1","event_class_id":"id"},"name":"name","severity":"High"}}`, ""},
		{"short header", `cef: {}`, `{"message":"CEF:0|a|b"}`, "", "CEF header has 3 of 7 fields"},
		{"not cef", `cef: {}`, `{"message":"LEEF:1.0|x"}`, "", "no CEF: record"},
	})
}

func TestOptionErrors(t *testing.T) {
	for src, want := range map[string]string{
		`set: {value: 1}`:                                                                "processors[0].set.field: required",
		`rename: {field: a}`:                                                             "processors[0].rename.target_field: required",
		`remove: {field: a, keep: [b]}`:                                                  "give either field or keep",
		`convert: {field: a}`:                                                            `type: want integer`,
		`append: {field: tags}`:                                                          "append.value: required (or copy_from)",
		`append: {field: tags, value: a, copy_from: b}`:                                  "append.copy_from: give value or copy_from, not both",
		`append: {field: tags, copy_from: []}`:                                           "append.copy_from: name at least one field",
		`append: {field: tags, copy_from: [a.., b]}`:                                     "append.copy_from: \"a..\" is not a field path",
		`grok: {field: m}`:                                                               "grok.patterns: required",
		`date: {field: m, formats: [""]}`:                                                "date.formats[0]: empty format",
		`csv: {field: m, target_fields: [a], separator: ";;"}`:                           `csv.separator: want one ASCII character`,
		`csv: {field: m, target_fields: [a], convert: {b: long}}`:                        `csv.convert: "b" is not one of target_fields`,
		`csv: {field: m, target_fields: [a], convert: {a: ip}}`:                          `csv.convert: a: want integer, long, float, double or boolean, not "ip"`,
		`csv: {field: m, target_fields: [a], convert: {a: long}, convert_failure: skip}`: `csv.convert_failure: want keep or drop, not "skip"`,
		`csv: {field: m, target_fields: [a], convert_failure: drop}`:                     `csv.convert_failure: applies to convert, which is not set`,
		`kv: {field: m, fields: {a: x}, convert: {y: long}}`:                             `kv.convert: "y" is not one of fields' targets`,
		`kv: {field: m, convert: {y: long}}`:                                             `kv.convert: "y" is not one of fields' targets`,
		`kv: {field: m, field_split: "=", value_split: "="}`:                             "value_split: must differ from field_split",
		`kv: {field: m, fields: [a]}`:                                                    "kv.fields: want a map of keys to the fields",
		`kv: {field: m, fields: {a: x, a: y}}`:                                           `kv.fields: key "a": empty or given twice`,
		`kv: {field: m, fields: {a: ""}}`:                                                "kv.fields: required",
		`dissect: {field: m, pattern: '%{a}%{b}'}`:                                       "need a delimiter between them",
		`dissect: {field: m, pattern: '%{*k}:%{v}'}`:                                     "reference k needs both",
		`syslog: {format: rfc1}`:                                                         `format: want auto, rfc3164 or rfc5424`,
		`json: {field: m, add_to_root: true, target_field: x}`:                           "give either add_to_root or target_field",
		`drop: {really: true}`:                                                           "drop.really: unknown option",
		`set: {field: a, value: 1, if: 3}`:                                               "", // a number is a valid expr-lang expression, but not boolean
		`set: {field: ..a, value: 1}`:                                                    `"..a" is not a field path`,
		`lowercase: {field: a, ignore_missing: maybe}`:                                   "lowercase.ignore_missing: cannot unmarshal",
	} {
		_, err := compileProc(t, src)
		if want == "" {
			if err == nil {
				t.Errorf("%s: compiled", src)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", src, err, want)
		}
	}
}
