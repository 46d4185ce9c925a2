package samples

import (
	"context"
	"fmt"
	"strings"
	"testing"

	elasticgrok "github.com/elastic/go-grok"

	"github.com/sluice-siem/sluice/transform/event"
	"github.com/sluice-siem/sluice/transform/pipeline"
	"github.com/sluice-siem/sluice/transform/pipeline/grok"
)

// panosTraffic returns n PAN-OS TRAFFIC lines in the default format of PAN-OS 10.2 (115
// columns) behind a BSD syslog header, as a firewall's syslog server profile sends
// them: sessions ending, starting, dropped and denied, with and without source NAT,
// over a spread of addresses, ports, applications and users.
func panosTraffic(n int) []string {
	apps := []string{"ssl", "web-browsing", "dns", "ms-office365-base", "google-base", "smtp-base", "ntp", "ping"}
	type kind struct{ sub, action, reason string }
	kinds := []kind{
		{"end", "allow", "tcp-fin"}, {"end", "allow", "aged-out"}, {"end", "allow", "tcp-rst-from-server"},
		{"end", "allow", "tcp-fin"}, {"end", "allow", "tcp-fin"}, {"end", "allow", "aged-out"}, {"start", "allow", "n/a"},
		{"drop", "deny", "policy-deny"}, {"deny", "reset-both", "policy-deny"}, {"end", "allow", "tcp-fin"},
	}
	lines := make([]string, n)
	for i := range lines {
		k, app := kinds[i%len(kinds)], apps[i%len(apps)]
		src := fmt.Sprintf("10.1.%d.%d", 5+i%3, 10+i%200)
		dst := fmt.Sprintf("198.51.100.%d", 1+i%250)
		nat, natPort, flags := "203.0.113.130", fmt.Sprint(20000+i%40000), "0x400053"
		if i%4 == 3 { // internal traffic: no NAT
			dst, nat, natPort, flags = fmt.Sprintf("10.1.2.%d", 1+i%250), "0.0.0.0", "0", "0x53"
		}
		natDst := dst
		if nat == "0.0.0.0" {
			natDst = "0.0.0.0"
		}
		user := ""
		if i%3 != 0 {
			user = fmt.Sprintf(`acme\user%d`, i%500)
		}
		sent, rcvd := 200+i%5000, 1000+(i*7)%90000
		lines[i] = fmt.Sprintf("<14>Nov 26 07:00:%02d PA-VM 1,2026/11/26 07:00:%02d,007058000248010,TRAFFIC,%s,2816,2026/11/26 07:00:%02d,"+
			"%s,%s,%s,%s,allow-outbound,%s,,%s,vsys1,trust,untrust,ethernet1/2,ethernet1/1,default-logging,2026/11/26 07:00:01,%d,1,%d,443,%s,443,%s,tcp,%s,"+
			"%d,%d,%d,%d,2026/11/26 06:59:%02d,%d,computer-and-internet-info,0,%d,0x0,10.0.0.0-10.255.255.255,United States,0,%d,%d,%s,0,0,0,0,,PA-VM,from-policy,,,0,,0,,N/A,0,0,0,0,"+
			"6f1c5e3a-3b5f-4b8e-9d3e-0a1b2c3d4e5f,0,0,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,2026-11-26T07:00:01.113+00:00,,,encrypted-tunnel,networking,browser-based,4,"+
			`"used-by-malware,able-to-transfer-files,has-known-vulnerability",,ssl,no,no,0`,
			i%60, i%60, k.sub, i%60, src, dst, nat, natDst, user, app, 30000+i, 49152+i%16000, natPort, flags, k.action,
			sent+rcvd, sent, rcvd, 4+i%60, i%60, i%600, 7286123782408766001+int64(i), 2+i%30, 2+i%40, k.reason)
	}
	return lines
}

// TestPanosTrafficLines: every generated line parses without a failure and keeps its
// columns in place (the benchmarks measure the path real lines take).
func TestPanosTrafficLines(t *testing.T) {
	p := build(t).Get("panos")
	for i, line := range panosTraffic(200) {
		e := &event.Event{Type: "panos", Received: received, Fields: map[string]any{"message": line}}
		if err := p.Process(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		if msg, failed := e.Get("error.message"); failed {
			t.Fatalf("line %d: %v\n%s", i, msg, line)
		}
		if got, _ := e.Get("panw.panos.endreason"); got == nil || got == "" {
			t.Fatalf("line %d: no session end reason (columns out of place): %v", i, e.Fields)
		}
		if got, _ := e.Get("source.port"); got != int64(49152+i%16000) {
			t.Fatalf("line %d: source.port %v", i, got)
		}
	}
}

// panosTrafficGrok is the grok expression equivalent to what the panos pipeline's
// header grok and TRAFFIC csv processor extract from a 10.2 line: one capture per
// column (a quoted column is taken with its quotes), named as the pipeline names them
// (the generated time as timestamp: elastic/go-grok takes no @ in a name).
func panosTrafficGrok(t testing.TB) (expr string, defs map[string]string) {
	cfgs, err := Pipelines()
	if err != nil {
		t.Fatal(err)
	}
	var csv struct {
		Tag          string   `yaml:"tag"`
		TargetFields []string `yaml:"target_fields"`
	}
	for _, n := range cfgs["panos"].Processors {
		if n.Content[0].Value != "csv" {
			continue
		}
		if err := n.Content[1].Decode(&csv); err != nil {
			t.Fatal(err)
		}
		if csv.Tag == "traffic" {
			break
		}
	}
	if csv.Tag != "traffic" {
		t.Fatal("no traffic csv processor in panos.yaml")
	}
	var b strings.Builder
	b.WriteString(`^<%{NONNEGINT:log.syslog.priority}>%{SYSLOGTIMESTAMP} %{PANOS_HOST:log.syslog.hostname} %{PANOS_COLUMN},%{PANOS_COLUMN:event.created},` +
		`%{PANOS_COLUMN:observer.serial_number},%{PANOS_COLUMN:panw.panos.type},%{PANOS_COLUMN:panw.panos.sub_type},%{PANOS_COLUMN},%{PANOS_COLUMN:timestamp}`)
	// The 10.2 lines stop at column 115 (Offloaded): 108 columns after the header.
	for _, f := range csv.TargetFields[:108] {
		if f == "_tmp.skip" {
			b.WriteString(",%{PANOS_COLUMN}")
		} else {
			b.WriteString(",%{PANOS_COLUMN:" + f + "}")
		}
	}
	b.WriteString("$")
	return b.String(), map[string]string{"PANOS_HOST": `[^ ,]+`, "PANOS_COLUMN": `(?:"(?:[^"]|"")*"|[^,]*)`}
}

// BenchmarkPanosPipeline runs the panos sample pipeline on one core's worth of events,
// as BenchmarkFirewallPipeline does: generated TRAFFIC lines (the bulk of what a
// firewall sends), and the inputs of panos.test.yaml in turn (every log type and
// THREAT subtype). events/s is the per-core rate with -cpu 1; events/cpu-s counts the
// process's CPU time instead of the wall clock.
func BenchmarkPanosPipeline(b *testing.B) {
	p := build(b).Get("panos")
	tf, err := pipeline.LoadTestFile(FS(), "panos.test.yaml", "panos.test.yaml")
	if err != nil {
		b.Fatal(err)
	}
	var cases []string
	for _, c := range tf.Cases {
		if c.Input != nil && !strings.Contains(c.Name, "not a PAN-OS line") {
			cases = append(cases, *c.Input)
		}
	}
	for _, w := range []struct {
		name  string
		lines []string
	}{{"traffic", panosTraffic(4096)}, {"cases", cases}} {
		b.Run(w.name, func(b *testing.B) { benchPanos(b, p, w.lines) })
	}
}

// BenchmarkPanosEnrichedPipeline is BenchmarkPanosPipeline/traffic with the enriched
// sample and the sample lookups.
func BenchmarkPanosEnrichedPipeline(b *testing.B) {
	benchPanos(b, enrichedSet(b).Get("panos"), panosTraffic(4096))
}

// benchPanos runs lines through p in turn.
func benchPanos(b *testing.B, p *pipeline.Pipeline, lines []string) {
	benchMessages(b, p, "panos", lines)
}

// BenchmarkPanosGrok is the baseline of the panos row in BENCHMARKS.md: the grok
// expression equivalent to the pipeline's header and TRAFFIC columns (panosTrafficGrok)
// on the generated TRAFFIC lines, alone, with sluice's grok and with elastic/go-grok.
func BenchmarkPanosGrok(b *testing.B) {
	expr, defs := panosTrafficGrok(b)
	lines := panosTraffic(4096)
	b.Run("sluice-grok", func(b *testing.B) {
		p, err := grok.Compile(expr, defs)
		if err != nil {
			b.Fatal(err)
		}
		spans := make([]int, 2*len(p.Fields()))
		benchLines(b, lines, func(line string) bool { return p.Match(line, spans) })
	})
	b.Run("elastic-go-grok", func(b *testing.B) {
		g := elasticgrok.New()
		if err := g.AddPatterns(defs); err != nil {
			b.Fatal(err)
		}
		if err := g.Compile(expr, true); err != nil {
			b.Fatal(err)
		}
		benchLines(b, lines, func(line string) bool {
			m, err := g.ParseString(line)
			return err == nil && len(m) > 0
		})
	})
}
