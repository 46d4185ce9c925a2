package enrich

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/transform/event"
)

// The benchmarks reuse one event and remove what the processor added after each call,
// so that ns/op and allocs/op are the processor's own.

// BenchmarkGeoIP is one geoip processor on one event, with the OpenTelemetry SDK
// counting its lookups as in a running transformer.
//
//	go test -run '^$' -bench GeoIP -cpu 1 ./transform/enrich/
func BenchmarkGeoIP(b *testing.B) {
	res, _ := geoResources(b, newTestMeter(b), false)
	p, err := NewGeoIP(GeoIPConfig{Field: "source.ip", CityDB: "city", ASNDB: "asn"}, res)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, ip string }{{"city+asn", "81.2.69.142"}, {"private", "10.1.2.3"}, {"absent", "8.8.8.8"}} {
		b.Run(c.name, func(b *testing.B) {
			src := map[string]any{"ip": c.ip}
			e := eventOf(map[string]any{"source": src})
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := p.Process(ctx, e); err != nil {
					b.Fatal(err)
				}
				delete(src, "geo")
				delete(src, "as")
			}
		})
	}
}

// cidrBenchTable writes a CSV table of n rows: random /16 to /28 IPv4 ranges (many
// nested) and some IPv6 /48s, with two fields each, and returns addresses to look up,
// most of them inside some range.
func cidrBenchTable(b *testing.B, n int) (string, []string) {
	r := rand.New(rand.NewPCG(1, 2))
	var sb strings.Builder
	sb.WriteString("cidr,network.zone,asset.owner\n")
	seen := map[netip.Prefix]bool{}
	var addrs []string
	for len(seen) < n {
		var p netip.Prefix
		if len(seen)%10 == 9 {
			var a [16]byte
			a[0], a[1], a[2], a[3], a[4], a[5] = 0x20, 0x01, 0x0d, 0xb8, byte(r.IntN(256)), byte(r.IntN(256))
			p = netip.PrefixFrom(netip.AddrFrom16(a), 48).Masked()
		} else {
			a := netip.AddrFrom4([4]byte{10, byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
			p = netip.PrefixFrom(a, 16+r.IntN(13)).Masked()
		}
		if seen[p] {
			continue
		}
		seen[p] = true
		fmt.Fprintf(&sb, "%s,zone-%d,team-%d\n", p, len(seen)%50, len(seen)%300)
		if len(addrs) < 4096 {
			addrs = append(addrs, p.Addr().Next().String())
		}
	}
	for i := range 512 { // some misses
		addrs[i*7] = fmt.Sprintf("172.16.%d.%d", i/256, i%256)
	}
	return writeFile(b, b.TempDir(), "bench.csv", []byte(sb.String())), addrs
}

func BenchmarkCIDRLookup(b *testing.B) {
	path, addrs := cidrBenchTable(b, 10000)
	cfg := DefaultResourcesConfig()
	cfg.CIDRTables = map[string]string{"t": path}
	res := newTestResources(b, cfg, nil, false)
	p, err := NewCIDRLookup(CIDRConfig{Field: "source.ip", Table: "t"}, res)
	if err != nil {
		b.Fatal(err)
	}
	src := map[string]any{}
	e := eventOf(map[string]any{"source": src})
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		src["ip"] = addrs[i%len(addrs)]
		i++
		if err := p.Process(ctx, e); err != nil {
			b.Fatal(err)
		}
		delete(src, "network")
		delete(src, "asset")
	}
}

// threatBenchSet writes a 100,000-indicator set: 60% IPs, 10% CIDRs, 20% domains,
// 10% hashes.
func threatBenchSet(b *testing.B) string {
	r := rand.New(rand.NewPCG(3, 4))
	var sb strings.Builder
	for i := range 100000 {
		switch {
		case i%10 < 6:
			fmt.Fprintf(&sb, "%d.%d.%d.%d\n", 1+r.IntN(223), r.IntN(256), r.IntN(256), r.IntN(256))
		case i%10 == 6:
			fmt.Fprintf(&sb, "%d.%d.%d.0/24\n", 1+r.IntN(223), r.IntN(256), r.IntN(256))
		case i%10 < 9:
			fmt.Fprintf(&sb, "bad%d.example%d.com\n", i, r.IntN(1000))
		default:
			fmt.Fprintf(&sb, "%064x\n", r.Uint64())
		}
	}
	sb.WriteString("198.51.100.7\nevil.example\n")
	return writeFile(b, b.TempDir(), "set.txt", []byte(sb.String()))
}

func BenchmarkThreatIntel(b *testing.B) {
	cfg := DefaultResourcesConfig()
	cfg.ThreatIntel = map[string]IndicatorSetConfig{"s": {Files: []string{threatBenchSet(b)}}}
	res := newTestResources(b, cfg, nil, false)
	p, err := NewThreatIntel(ThreatIntelConfig{Fields: []string{"source.ip", "destination.ip", "dns.question.name"}, Set: "s"}, res)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, src, dst, domain string }{
		{"no match", "192.0.2.10", "192.0.2.11", "www.example.org"},
		{"match", "198.51.100.7", "192.0.2.11", "a.b.evil.example"},
	} {
		b.Run(c.name, func(b *testing.B) {
			fields := map[string]any{"source": map[string]any{"ip": c.src}, "destination": map[string]any{"ip": c.dst},
				"dns": map[string]any{"question": map[string]any{"name": c.domain}}}
			e := eventOf(fields)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := p.Process(ctx, e); err != nil {
					b.Fatal(err)
				}
				delete(fields, "threat")
				delete(fields, "tags")
			}
		})
	}
}

func BenchmarkLoadThreatIntel100k(b *testing.B) {
	cfg := IndicatorSetConfig{Files: []string{threatBenchSet(b)}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := loadIndicatorSet(nil, cfg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupCacheHit measures the lookup processor answering from its cache (the
// backend is a fake that is never asked), alone and from all CPUs at once.
func BenchmarkLookupCacheHit(b *testing.B) {
	m, err := newMetrics(nil)
	if err != nil {
		b.Fatal(err)
	}
	be := &fakeBackend{calls: map[string]int{}, data: map[string][]leaf{}}
	for i := range 1000 {
		be.data[fmt.Sprintf("user%d", i)] = []leaf{{path: []string{"department"}, value: "soc"}, {path: []string{"manager", "name"}, value: "bob"}}
	}
	src, err := newSource("users", "fake", be, time.Second, DefaultResourcesConfig().Cache, m, time.Now)
	if err != nil {
		b.Fatal(err)
	}
	res := &Resources{metrics: m, sources: map[string]*source{"users": src}}
	p, err := NewLookup(LookupConfig{Field: "user.name", Source: "users"}, res)
	if err != nil {
		b.Fatal(err)
	}
	for i := range 1000 { // warm the cache
		e := eventOf(map[string]any{"user": map[string]any{"name": fmt.Sprintf("user%d", i)}})
		if err := p.Process(context.Background(), e); err != nil {
			b.Fatal(err)
		}
	}
	run := func(pb interface{ Next() bool }) {
		user := map[string]any{"name": "user7"}
		e := eventOf(map[string]any{"user": user})
		for pb.Next() {
			if err := p.Process(context.Background(), e); err != nil {
				b.Error(err)
				return
			}
			delete(user, "department")
			delete(user, "manager")
		}
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		run(loopNext{b})
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) { run(pb) })
	})
	if be.callsOf("user7") != 1 {
		b.Errorf("the backend was asked %d times for a cached key", be.callsOf("user7"))
	}
}

// loopNext adapts b.Loop to the Next of testing.PB.
type loopNext struct{ b *testing.B }

func (l loopNext) Next() bool { return l.b.Loop() }

var _ event.Processor = (*lookupProc)(nil)
