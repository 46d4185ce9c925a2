package samples

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/sluice-siem/sluice/transform/enrich"
	"github.com/sluice-siem/sluice/transform/event"
	"github.com/sluice-siem/sluice/transform/pipeline"
)

// writeMMDB writes a small MaxMind database of the documentation networks the sample
// lines use (reserved networks, which real databases do not hold).
func writeMMDB(t testing.TB, path, dbType string, records map[string]mmdbtype.Map) {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, RecordSize: 28, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, rec := range records {
		_, network, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(network, rec); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// enrichedFirewall builds enriched/firewall.yaml with lookups like enriched/lookups.yaml.example,
// the databases made here.
func enrichedFirewall(t testing.TB) *pipeline.Pipeline {
	t.Helper()
	dir := t.TempDir()
	names := func(en string) mmdbtype.Map { return mmdbtype.Map{"en": mmdbtype.String(en)} }
	city := filepath.Join(dir, "city.mmdb")
	writeMMDB(t, city, "GeoLite2-City", map[string]mmdbtype.Map{
		"203.0.113.0/24": {
			"continent": mmdbtype.Map{"code": mmdbtype.String("EU"), "names": names("Europe")},
			"country":   mmdbtype.Map{"iso_code": mmdbtype.String("NL"), "names": names("Netherlands")},
			"city":      mmdbtype.Map{"names": names("Amsterdam")},
			"location":  mmdbtype.Map{"latitude": mmdbtype.Float64(52.37), "longitude": mmdbtype.Float64(4.89), "time_zone": mmdbtype.String("Europe/Amsterdam")},
		},
		"198.51.100.0/24": {
			"continent": mmdbtype.Map{"code": mmdbtype.String("NA"), "names": names("North America")},
			"country":   mmdbtype.Map{"iso_code": mmdbtype.String("US"), "names": names("United States")},
		},
	})
	asn := filepath.Join(dir, "asn.mmdb")
	writeMMDB(t, asn, "GeoLite2-ASN", map[string]mmdbtype.Map{
		"203.0.113.0/24":  {"autonomous_system_number": mmdbtype.Uint32(64500), "autonomous_system_organization": mmdbtype.String("Example Transit")},
		"198.51.100.0/24": {"autonomous_system_number": mmdbtype.Uint32(64501), "autonomous_system_organization": mmdbtype.String("Example Hosting")},
	})
	cfg := enrich.DefaultResourcesConfig()
	cfg.MMDB = map[string]string{"city": city, "asn": asn}
	cfg.CIDRTables = map[string]string{"zones": filepath.Join("enriched", "zones.csv")}
	cfg.ThreatIntel = map[string]enrich.IndicatorSetConfig{"feeds": {Files: []string{filepath.Join("enriched", "threat-intel.txt")}, Provider: "example-feed"}}
	res, err := enrich.NewResources(context.Background(), cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(res.Close)
	cfgs, err := pipeline.LoadDir("enriched")
	if err != nil {
		t.Fatal(err)
	}
	set, err := pipeline.Build(cfgs, pipeline.Deps{Enrich: res.Processor})
	if err != nil {
		t.Fatal(err)
	}
	return set.Get("firewall")
}

// TestEnrichedFirewall: the enriched sample adds geo, AS, zone and threat fields.
func TestEnrichedFirewall(t *testing.T) {
	p := enrichedFirewall(t)
	e := &event.Event{Type: "firewall", Received: received, Fields: map[string]any{"message": firewallLine}}
	if err := p.Process(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]any{
		"source.geo.country_iso_code": "NL", "source.geo.city_name": "Amsterdam", "source.as.number": int64(64500),
		"destination.network.zone": "dmz", "destination.asset.owner": "web-team",
		"threat.indicator.ip": "203.0.113.7", "event.action": "deny",
	} {
		got, _ := e.Get(path)
		if n, ok := got.(uint32); ok {
			got = int64(n)
		}
		if got != want {
			t.Errorf("%s = %#v (%T), want %#v; event %v", path, got, got, want, e.Fields)
		}
	}
	if _, ok := e.Get("destination.geo"); ok {
		t.Error("a private address got geo fields")
	}
}

// BenchmarkFirewallEnrichedPipeline is the benchmark pipeline: the firewall
// sample with geoip on source and destination, cidr_lookup and threat_intel.
func BenchmarkFirewallEnrichedPipeline(b *testing.B) {
	p := enrichedFirewall(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		e := event.Event{Type: "firewall", Received: received, Fields: map[string]any{"message": firewallLine}}
		_ = p.Process(ctx, &e)
		if _, failed := e.Fields["error"]; failed {
			b.Fatal(e.Fields["error"])
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
