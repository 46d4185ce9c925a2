package samples

import (
	"context"
	"fmt"
	"strings"
	"testing"

	elasticgrok "github.com/elastic/go-grok"

	"github.com/sluice-siem/sluice/transform/event"
)

// vpcflowKinds are the flow log records of the benchmarks, in the shares a busy VPC
// writes them: default-format (version 2) records of TCP flows accepted and rejected,
// UDP, ICMP, IPv6 and NODATA, and records of the every-field version 5 format (the
// second format the pipeline tries). The varying parts are %[1]d (ports, counters),
// %[2]d (seconds) and %[3]d and %[4]d (address bytes).
var vpcflowKinds = []struct {
	name, format string
	weight       int
}{
	{"v2-accept", "2 123456789012 eni-0a1b2c3d4e5f60718 10.0.%[3]d.%[4]d 198.51.100.%[4]d 4%04[1]d 443 6 %[1]d 5%[1]d 17956764%02[2]d 17956765%02[2]d ACCEPT OK", 4},
	{"v2-reject", "2 123456789012 eni-0a1b2c3d4e5f60718 203.0.113.%[4]d 10.0.%[3]d.%[4]d 5%04[1]d 22 6 1 60 17956764%02[2]d 17956764%02[2]d REJECT OK", 3},
	{"v2-udp", "2 123456789012 eni-0a1b2c3d4e5f60718 10.0.%[3]d.%[4]d 10.0.0.2 3%04[1]d 53 17 1 7%[4]d 17956764%02[2]d 17956764%02[2]d ACCEPT OK", 2},
	{"v2-icmp", "2 123456789012 eni-0a1b2c3d4e5f60718 192.0.2.%[4]d 10.0.%[3]d.%[4]d 0 0 1 4 336 17956764%02[2]d 17956765%02[2]d ACCEPT OK", 1},
	{"v2-ipv6", "2 123456789012 eni-0a1b2c3d4e5f60718 2001:db8:1234:a100::%[4]x 2001:db8:1234:a102::%[3]x 3%04[1]d 443 6 54 88%[1]d 17956764%02[2]d 17956765%02[2]d ACCEPT OK", 1},
	{"v2-nodata", "2 123456789012 eni-0a1b2c3d4e5f6%04[1]d - - - - - - - 17956764%02[2]d 17956765%02[2]d - NODATA", 1},
	{"v5", "5 123456789012 eni-0a1b2c3d4e5f60718 10.0.%[3]d.%[4]d 198.51.100.%[4]d 3%04[1]d 443 6 7 4%[1]d 17956764%02[2]d 17956765%02[2]d ACCEPT OK vpc-0f1e2d3c4b5a69788 subnet-0c1d2e3f4a5b6c7d8 i-0123456789abcdef0 19 IPv4 10.0.%[3]d.%[4]d 198.51.100.%[4]d eu-west-1 euw1-az3 - - - S3 egress 8", 1},
}

// vpcflowLines returns n generated records, the kinds mixed by their weights.
func vpcflowLines(n int) []string {
	var order []int
	for k, kind := range vpcflowKinds {
		for range kind.weight {
			order = append(order, k)
		}
	}
	lines := make([]string, n)
	for i := range lines {
		kind := vpcflowKinds[order[i%len(order)]]
		lines[i] = fmt.Sprintf(kind.format, i%10000, i%60, 1+i/200%250, 1+i%250)
	}
	return lines
}

// vpcflowGrok is the go-grok baseline's expression of a format (AWS's field names):
// each field's raw value, none for a "-", as the pipeline's definitions take them.
func vpcflowGrok(format string) string {
	patterns := map[string]string{
		"srcaddr": "IP", "dstaddr": "IP", "pkt-srcaddr": "IP", "pkt-dstaddr": "IP",
		"version": "INT", "srcport": "INT", "dstport": "INT", "protocol": "INT", "packets": "INT", "bytes": "INT",
		"start": "INT", "end": "INT", "tcp-flags": "INT", "traffic-path": "INT",
	}
	var b strings.Builder
	b.WriteString("^")
	for i, name := range strings.Fields(format) {
		if i > 0 {
			b.WriteString(" ")
		}
		p := patterns[name]
		if p == "" {
			p = "NOTSPACE"
		}
		fmt.Fprintf(&b, "(?:-|%%{%s:%s})", p, strings.ReplaceAll(name, "-", "_"))
	}
	b.WriteString("$")
	return b.String()
}

// The formats of vpcflowKinds: the default, and every field of versions 2 to 5.
const (
	vpcflowV2 = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
	vpcflowV5 = vpcflowV2 + " vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path"
)

// BenchmarkPipelineVPCFlow runs the vpcflow sample pipeline over a mix of generated
// flow log records (vpcflowKinds); events/s is the per-core rate with -cpu 1.
func BenchmarkPipelineVPCFlow(b *testing.B) {
	benchMessages(b, samplePipeline(b, "vpcflow"), "vpcflow", vpcflowLines(1024))
}

// BenchmarkGoGrokVPCFlow is the baseline: github.com/elastic/go-grok extracting the
// same raw fields from the same records with one expression per format, the default
// first, as a Logstash grok filter with a list of patterns does. It only splits the
// record: none of the pipeline's mapping to ECS.
func BenchmarkGoGrokVPCFlow(b *testing.B) {
	var groks []*elasticgrok.Grok
	for _, format := range []string{vpcflowV2, vpcflowV5} {
		g := elasticgrok.New()
		if err := g.Compile(vpcflowGrok(format), true); err != nil {
			b.Fatal(err)
		}
		groks = append(groks, g)
	}
	benchLines(b, vpcflowLines(1024), anyGrok(groks...))
}

// TestVPCFlowBenchLines: every generated record of the benchmarks goes through the
// pipeline without an error and with its flow (or its NODATA status), so that the
// benchmark measures the parsing path.
func TestVPCFlowBenchLines(t *testing.T) {
	p := samplePipeline(t, "vpcflow")
	for _, l := range vpcflowLines(len(vpcflowKinds) * 20) {
		e := event.Event{Type: "vpcflow", Received: received, Fields: map[string]any{"message": l}}
		if err := p.Process(context.Background(), &e); err != nil {
			t.Fatal(err)
		}
		if _, failed := e.Fields["error"]; failed {
			t.Fatalf("%s: %v", l, e.Fields["error"])
		}
		if status, _ := e.Get("aws.vpcflow.log_status"); status == "NODATA" {
			continue
		}
		if _, ok := e.Get("network.community_id"); !ok && !strings.Contains(l, " 0 0 1 ") {
			t.Fatalf("%s: no network.community_id", l)
		}
		if _, ok := e.Get("event.outcome"); !ok {
			t.Fatalf("%s: no event.outcome", l)
		}
	}
}
