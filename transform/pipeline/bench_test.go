package pipeline

import (
	"context"
	"testing"

	"github.com/sluice-siem/sluice/transform/event"
)

const (
	benchFirewall = `<4>Nov 26 07:00:01 fw01 kernel: [12345.678901] FW-DROP: IN=eth0 OUT= MAC=00:16:3e:4a:5b:6c:00:1a:2b:3c:4d:5e:08:00 SRC=203.0.113.7 DST=10.1.2.3 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=54321 DF PROTO=TCP SPT=51234 DPT=22 WINDOW=29200 RES=0x00 SYN URGP=0`
	benchEVE      = `{"timestamp":"2026-11-26T07:00:02.345678+0000","flow_id":1402370513012387,"in_iface":"eth1","event_type":"alert","src_ip":"203.0.113.7","src_port":51234,"dest_ip":"10.1.2.3","dest_port":22,"proto":"TCP","alert":{"action":"allowed","gid":1,"signature_id":2001219,"rev":20,"signature":"ET SCAN Potential SSH Scan","category":"Attempted Information Leak","severity":2},"host":"ids01"}`
	benchCEF      = `CEF:0|Fortinet|FortiGate|7.4|13|traffic denied|5|src=203.0.113.7 spt=51234 dst=10.1.2.3 dpt=22 proto=TCP act=Deny msg=blocked by policy 7 rt=1795676401123`
	benchApache   = `203.0.113.9 - bob [26/Nov/2026:07:00:01 +0000] "GET /index.html HTTP/1.1" 200 5120`
)

// BenchmarkProcessors measures each processor on a typical input: ns/op and
// allocs/op of one Process call, plus making the event it runs on (the baseline
// sub-benchmark is that alone).
func BenchmarkProcessors(b *testing.B) {
	cases := []struct {
		name, proc string
		fields     func() map[string]any
	}{
		{"baseline", `drop: {}`, func() map[string]any { return map[string]any{"message": benchFirewall} }},
		{"grok/firewall", `grok: {field: message, patterns: ['^<%{NONNEGINT:log.syslog.priority:int}>%{SYSLOGTIMESTAMP:ts} %{SYSLOGHOST:observer.hostname} kernel: \[\s*%{NUMBER}\] %{DATA:rule.name}: IN=%{DATA:observer.ingress.interface.name} OUT=%{DATA:observer.egress.interface.name} MAC=%{NOTSPACE} SRC=%{IP:source.ip} DST=%{IP:destination.ip} LEN=%{INT:iptables.length:int} TOS=%{NOTSPACE:iptables.tos} PREC=%{NOTSPACE:iptables.precedence_bits} TTL=%{INT:iptables.ttl:int} ID=%{INT:iptables.id:int} (?:%{WORD:iptables.fragment_flags} )?PROTO=%{WORD:network.transport} SPT=%{INT:source.port:int} DPT=%{INT:destination.port:int}']}`,
			func() map[string]any { return map[string]any{"message": benchFirewall} }},
		{"grok/apache", `grok: {field: message, patterns: ['%{COMMONAPACHELOG}']}`, func() map[string]any { return map[string]any{"message": benchApache} }},
		{"dissect", `dissect: {field: message, pattern: '%{source.ip} %{?ident} %{user.name} [%{ts}] "%{http.request.method} %{url.original} HTTP/%{http.version}" %{status} %{bytes}'}`,
			func() map[string]any { return map[string]any{"message": benchApache} }},
		{"kv", `kv: {field: message, target_field: fw}`, func() map[string]any {
			return map[string]any{"message": "IN=eth0 OUT= SRC=203.0.113.7 DST=10.1.2.3 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=54321 DF PROTO=TCP SPT=51234 DPT=22 WINDOW=29200 RES=0x00 SYN URGP=0"}
		}},
		{"json", `json: {field: message, target_field: suricata.eve}`, func() map[string]any { return map[string]any{"message": benchEVE} }},
		{"csv", `csv: {field: message, target_fields: [a, b, c, d, e, f]}`, func() map[string]any {
			return map[string]any{"message": `2026-11-26T07:00:01Z,fw01,deny,203.0.113.7,"10.1.2.3",22`}
		}},
		{"syslog/rfc3164", `syslog: {}`, func() map[string]any { return map[string]any{"message": benchFirewall} }},
		{"syslog/rfc5424", `syslog: {}`, func() map[string]any {
			return map[string]any{"message": `<165>1 2026-11-26T07:00:01.003Z fw02 ids 1234 ID47 [origin ip="10.0.0.1"] alert text`}
		}},
		{"cef", `cef: {}`, func() map[string]any { return map[string]any{"message": benchCEF} }},
		{"date/syslog", `date: {field: ts, formats: ['MMM d HH:mm:ss']}`, func() map[string]any { return map[string]any{"ts": "Nov 26 07:00:01"} }},
		{"date/iso8601", `date: {field: ts, formats: [ISO8601]}`, func() map[string]any { return map[string]any{"ts": "2026-11-26T07:00:02.345678+0000"} }},
		{"date/unix_ms", `date: {field: ts, formats: [UNIX_MS]}`, func() map[string]any { return map[string]any{"ts": int64(1795676403456)} }},
		{"rename", `rename: {field: src_ip, target_field: source.ip}`, func() map[string]any { return map[string]any{"src_ip": "203.0.113.7"} }},
		{"set/constant", `set: {field: event.kind, value: alert}`, func() map[string]any { return map[string]any{"message": "m"} }},
		{"set/template", `set: {field: related.hosts, value: '{{source.ip}}:{{source.port}}'}`, func() map[string]any {
			return map[string]any{"source": map[string]any{"ip": "203.0.113.7", "port": int64(51234)}}
		}},
		{"set/if", `set: {field: event.kind, value: alert, if: 'ctx.event_type == "alert" && ctx.src?.ip != nil'}`, func() map[string]any {
			return map[string]any{"event_type": "alert", "src": map[string]any{"ip": "x"}}
		}},
		{"set/expr", `set: {field: network.bytes, expr: 'int(num(ctx.source.bytes) + num(ctx.destination.bytes))'}`, func() map[string]any {
			return map[string]any{"source": map[string]any{"bytes": int64(1200)}, "destination": map[string]any{"bytes": int64(56000)}}
		}},
		{"set/expr-if", `set: {field: url.query, expr: 'split(ctx._tmp.url_host, "?", 2)[1]', if: 'ctx._tmp?.url_host != nil && len(ctx._tmp.url_host) > 3'}`, func() map[string]any {
			return map[string]any{"_tmp": map[string]any{"url_host": "example.com?a=b"}}
		}},
		{"remove", `remove: {field: [a, b.c]}`, func() map[string]any { return map[string]any{"a": 1, "b": map[string]any{"c": 2}} }},
		{"convert/integer", `convert: {field: p, type: integer}`, func() map[string]any { return map[string]any{"p": "51234"} }},
		{"convert/ip", `convert: {field: p, type: ip}`, func() map[string]any { return map[string]any{"p": "2001:db8::1"} }},
		{"lowercase", `lowercase: {field: p}`, func() map[string]any { return map[string]any{"p": "TCP"} }},
		{"append", `append: {field: tags, value: [firewall, '{{observer}}'], allow_duplicates: false}`, func() map[string]any { return map[string]any{"observer": "fw01"} }},
	}
	ctx := context.Background()
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			s, err := compileProc(b, c.proc)
			if err != nil {
				b.Fatal(err)
			}
			e := &event.Event{Received: received, Fields: c.fields()}
			if err := s.proc.Process(ctx, e); err != nil {
				b.Fatalf("%s: %v", c.name, err)
			}
			b.ReportAllocs()
			for b.Loop() {
				e := event.Event{Received: received, Fields: c.fields()}
				if s.cond != nil {
					if ok, _ := s.cond.test(&e); !ok {
						b.Fatal("condition false")
					}
				}
				if err := s.proc.Process(ctx, &e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
