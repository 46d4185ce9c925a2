package samples

import (
	"io/fs"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/internal/cputime"
)

// firewallLine is the first sample line: a TCP SYN dropped by an iptables LOG rule.
const firewallLine = `<4>Nov 26 07:00:01 fw01 kernel: [12345.678901] FW-DROP: IN=eth0 OUT= MAC=00:16:3e:4a:5b:6c:00:1a:2b:3c:4d:5e:08:00 SRC=203.0.113.7 DST=10.1.2.3 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=54321 DF PROTO=TCP SPT=51234 DPT=22 WINDOW=29200 RES=0x00 SYN URGP=0`

// BenchmarkFirewallPipeline runs the firewall sample pipeline on one core's worth of
// events; events/s is the per-core rate with -cpu 1. Like the transformer, it recycles
// each event's objects once done with the event.
func BenchmarkFirewallPipeline(b *testing.B) {
	benchMessages(b, build(b).Get("firewall"), "firewall", []string{firewallLine})
}

// reportCPURate reports events per second of process CPU time (every thread, the
// garbage collector's included) since start, a cpuTime reading: unlike events/s, it
// does not count time spent waiting for a CPU on a busy machine.
func reportCPURate(b *testing.B, start time.Duration, events int) {
	if used := cputime.Self() - start; start > 0 && used > 0 {
		b.ReportMetric(float64(events)/used.Seconds(), "events/cpu-s")
	}
}

// BenchmarkSampleBuild compiles each sample pipeline, and reports the heap one
// compiled pipeline keeps (retained-KiB, after a collection): what a transformer
// holds for each sample it loads, whether or not its log type ever arrives.
func BenchmarkSampleBuild(b *testing.B) {
	names, err := fs.Glob(FS(), "*.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for _, file := range names {
		name := strings.TrimSuffix(file, ".yaml")
		if strings.HasSuffix(name, ".test") {
			continue
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				samplePipeline(b, name)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			p := samplePipeline(b, name)
			runtime.GC()
			runtime.ReadMemStats(&after)
			runtime.KeepAlive(p)
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/1024, "retained-KiB")
		})
	}
}
