package samples

import (
	"context"
	"fmt"
	"testing"

	elasticgrok "github.com/elastic/go-grok"

	"github.com/sluice-siem/sluice/transform/event"
)

// zeekKinds are the Zeek JSON lines of the benchmarks, in the shares a sensor writes
// them (conn.log the most, then dns.log, http.log and ssl.log), each with the file
// Filebeat reads it from. The varying parts are %[1]d (a counter: ports, ids), %[2]d
// (seconds), %[3]d and %[4]d (address bytes).
var zeekKinds = []struct {
	name, path, format string
	weight             int
}{
	{"conn-tcp", "/opt/zeek/logs/current/conn.log",
		`{"ts":17956764%02[2]d.%06[1]d,"uid":"CHhAvVGS1DH%06[1]d","id.orig_h":"10.1.%[3]d.%[4]d","id.orig_p":5%04[1]d,"id.resp_h":"203.0.113.%[4]d","id.resp_p":443,"proto":"tcp","service":"ssl","duration":1.%06[1]d,"orig_bytes":%[1]d,"resp_bytes":5091,"conn_state":"SF","local_orig":true,"local_resp":false,"missed_bytes":0,"history":"ShADadFf","orig_pkts":8,"orig_ip_bytes":631,"resp_pkts":9,"resp_ip_bytes":5567}`,
		3},
	{"conn-udp", "/opt/zeek/logs/current/conn.log",
		`{"ts":17956764%02[2]d.%06[1]d,"uid":"C4J4Th3PJpw%06[1]d","id.orig_h":"10.1.%[3]d.%[4]d","id.orig_p":4%04[1]d,"id.resp_h":"10.1.0.2","id.resp_p":53,"proto":"udp","service":"dns","duration":0.0%05[1]d,"orig_bytes":37,"resp_bytes":96,"conn_state":"SF","local_orig":true,"local_resp":true,"missed_bytes":0,"history":"Dd","orig_pkts":1,"orig_ip_bytes":65,"resp_pkts":1,"resp_ip_bytes":124}`,
		2},
	{"conn-s0", "/opt/zeek/logs/current/conn.log",
		`{"ts":17956764%02[2]d.%06[1]d,"uid":"CyAkSa1qrn3%06[1]d","id.orig_h":"203.0.113.%[4]d","id.orig_p":6%04[1]d,"id.resp_h":"10.1.%[3]d.%[4]d","id.resp_p":22,"proto":"tcp","conn_state":"S0","local_orig":false,"local_resp":true,"missed_bytes":0,"history":"S","orig_pkts":1,"orig_ip_bytes":44,"resp_pkts":0,"resp_ip_bytes":0}`,
		1},
	{"dns", "/opt/zeek/logs/current/dns.log",
		`{"ts":17956764%02[2]d.%06[1]d,"uid":"CdP2Fz3oRkW%06[1]d","id.orig_h":"10.1.%[3]d.%[4]d","id.orig_p":4%04[1]d,"id.resp_h":"10.1.0.2","id.resp_p":53,"proto":"udp","trans_id":%[1]d,"rtt":0.011502,"query":"host%[4]d.example.com","qclass":1,"qclass_name":"C_INTERNET","qtype":1,"qtype_name":"A","rcode":0,"rcode_name":"NOERROR","AA":false,"TC":false,"RD":true,"RA":true,"Z":0,"answers":["host%[4]d.cdn.example.net","192.0.2.%[4]d"],"TTLs":[300.0,60.0],"rejected":false}`,
		3},
	{"http", "/opt/zeek/logs/current/http.log",
		`{"ts":17956764%02[2]d.%06[1]d,"uid":"CzoFRWTQ6YI%06[1]d","id.orig_h":"10.1.%[3]d.%[4]d","id.orig_p":5%04[1]d,"id.resp_h":"203.0.113.%[4]d","id.resp_p":80,"trans_depth":1,"method":"GET","host":"www.example.com","uri":"/downloads/file%[1]d.zip?v=2","version":"1.1","user_agent":"Wget/1.21.4","request_body_len":0,"response_body_len":179272,"status_code":200,"status_msg":"OK","tags":[],"resp_fuids":["FBbQxG1GXLX%06[1]d"],"resp_mime_types":["application/zip"]}`,
		2},
	{"ssl", "/opt/zeek/logs/current/ssl.log",
		`{"ts":17956764%02[2]d.%06[1]d,"uid":"CsukF91Bx9m%06[1]d","id.orig_h":"10.1.%[3]d.%[4]d","id.orig_p":5%04[1]d,"id.resp_h":"192.0.2.%[4]d","id.resp_p":443,"version":"TLSv13","cipher":"TLS_AES_128_GCM_SHA256","curve":"x25519","server_name":"www%[4]d.example.com","resumed":false,"established":true,"ssl_history":"CsiI"}`,
		1},
	{"ssl-cert", "/opt/zeek/logs/current/ssl.log",
		`{"ts":17956764%02[2]d.%06[1]d,"uid":"CsukF91Bx9n%06[1]d","id.orig_h":"10.1.%[3]d.%[4]d","id.orig_p":5%04[1]d,"id.resp_h":"192.0.2.%[4]d","id.resp_p":443,"version":"TLSv12","cipher":"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256","curve":"secp256r1","server_name":"www.example.com","resumed":false,"next_protocol":"h2","established":true,"ssl_history":"CsxknGIi","cert_chain_fps":["ebdf1f283bf2671fbcd42559ba3378844f76aaeae63e95b3f67c0791cdf1ce49"],"client_cert_chain_fps":[],"subject":"CN=www.example.com,O=Example\\, Inc.,C=US","issuer":"CN=Example Issuing CA 1,O=Example Trust Services\\, LLC,C=US","sni_matches_cert":true,"validation_status":"ok"}`,
		1},
}

// zeekConnGrok is the go-grok baseline's expression for the conn lines of zeekKinds:
// the raw fields of each, the optional ones of an unanswered connection left out as
// Zeek does.
const zeekConnGrok = `^\{"ts":%{NUMBER:ts},"uid":"%{DATA:uid}","id.orig_h":"%{IP:id.orig_h}","id.orig_p":%{INT:id.orig_p},"id.resp_h":"%{IP:id.resp_h}","id.resp_p":%{INT:id.resp_p},"proto":"%{WORD:proto}",(?:"service":"%{DATA:service}",)?(?:"duration":%{NUMBER:duration},)?(?:"orig_bytes":%{INT:orig_bytes},"resp_bytes":%{INT:resp_bytes},)?"conn_state":"%{WORD:conn_state}","local_orig":%{WORD:local_orig},"local_resp":%{WORD:local_resp},"missed_bytes":%{INT:missed_bytes},"history":"%{DATA:history}","orig_pkts":%{INT:orig_pkts},"orig_ip_bytes":%{INT:orig_ip_bytes},"resp_pkts":%{INT:resp_pkts},"resp_ip_bytes":%{INT:resp_ip_bytes}\}$`

// zeekLine is one generated line and the file it is read from.
type zeekLine struct{ kind, path, line string }

// zeekLines returns n generated lines, the kinds mixed by their weights; conn only
// keeps the conn lines.
func zeekLines(n int, connOnly bool) []zeekLine {
	var order []int
	for k, kind := range zeekKinds {
		if connOnly && kind.path != "/opt/zeek/logs/current/conn.log" {
			continue
		}
		for range kind.weight {
			order = append(order, k)
		}
	}
	lines := make([]zeekLine, n)
	for i := range lines {
		kind := zeekKinds[order[i%len(order)]]
		lines[i] = zeekLine{kind.name, kind.path, fmt.Sprintf(kind.format, i%10000, i%60, 1+i/200%250, 1+i%250)}
	}
	return lines
}

// zeekEvent is the event Filebeat makes of a line: the line and the file it read.
func zeekEvent(l zeekLine) event.Event {
	return event.Event{Type: "zeek", Received: received, Fields: map[string]any{
		"message": l.line,
		"log":     map[string]any{"file": map[string]any{"path": l.path}},
	}}
}

// BenchmarkPipelineZeek runs the zeek sample pipeline over a mix of generated conn,
// dns, http and ssl lines (zeekKinds) as Filebeat ships them; events/s is the
// per-core rate with -cpu 1.
func BenchmarkPipelineZeek(b *testing.B) {
	lines := zeekLines(1024, false)
	benchEvents(b, samplePipeline(b, "zeek"), func(i int, objs *event.Objects) event.Event {
		l := lines[i%len(lines)]
		fields, log, file := objs.New(2), objs.New(1), objs.New(1)
		file["path"] = l.path
		log["file"] = file
		fields["message"], fields["log"] = l.line, log
		return event.Event{Type: "zeek", Received: received, Fields: fields}
	})
}

// BenchmarkGoGrokZeek is the baseline: github.com/elastic/go-grok extracting the raw
// fields of the conn lines with one expression (zeekConnGrok), as a Logstash grok
// filter would. It only splits the line: no JSON typing, none of the mapping to ECS.
func BenchmarkGoGrokZeek(b *testing.B) {
	g := elasticgrok.New()
	if err := g.Compile(zeekConnGrok, true); err != nil {
		b.Fatal(err)
	}
	lines := zeekLines(1024, true)
	texts := make([]string, len(lines))
	for i, l := range lines {
		texts[i] = l.line
	}
	benchLines(b, texts, anyGrok(g))
}

// TestZeekBenchLines: every generated line of the benchmarks goes through the pipeline
// without an error and as the kind it is, so that the benchmark measures the parsing
// path.
func TestZeekBenchLines(t *testing.T) {
	p := samplePipeline(t, "zeek")
	want := map[string]string{"conn-tcp": "zeek.connection", "conn-udp": "zeek.connection", "conn-s0": "zeek.connection",
		"dns": "zeek.dns", "http": "zeek.http", "ssl": "zeek.ssl", "ssl-cert": "zeek.ssl"}
	for _, l := range zeekLines(len(zeekKinds)*20, false) {
		e := zeekEvent(l)
		if err := p.Process(context.Background(), &e); err != nil {
			t.Fatal(err)
		}
		if _, failed := e.Fields["error"]; failed {
			t.Fatalf("%s: %v", l.line, e.Fields["error"])
		}
		if got, _ := e.Get("event.dataset"); got != want[l.kind] {
			t.Fatalf("%s: event.dataset %v, want %s", l.line, got, want[l.kind])
		}
		if _, ok := e.Get("network.community_id"); !ok {
			t.Fatalf("%s: no network.community_id", l.line)
		}
	}
}
