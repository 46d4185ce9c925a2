package samples

import (
	"context"
	"testing"

	"github.com/sluice-siem/sluice/transform/enrich"
	"github.com/sluice-siem/sluice/transform/event"
	"github.com/sluice-siem/sluice/transform/pipeline"
)

// enrichedFirewall builds the enriched firewall sample with the sample lookups, as
// sluice loads it when sample_pipelines is on.
func enrichedFirewall(t testing.TB) *pipeline.Pipeline {
	t.Helper()
	return enrichedSet(t).Get("firewall")
}

// enrichedSet builds the enriched samples (Enriched) with the sample lookups
// (LookupsConfig).
func enrichedSet(t testing.TB) *pipeline.Set {
	t.Helper()
	cfg := enrich.DefaultResourcesConfig()
	lookups := LookupsConfig()
	cfg.MMDB, cfg.CIDRTables, cfg.ThreatIntel, cfg.Embedded = lookups.MMDB, lookups.CIDRTables, lookups.ThreatIntel, lookups.Embedded
	res, err := enrich.NewResources(context.Background(), cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(res.Close)
	cfgs, err := Enriched()
	if err != nil {
		t.Fatal(err)
	}
	set, err := pipeline.Build(cfgs, pipeline.Deps{Enrich: res.Processor})
	if err != nil {
		t.Fatal(err)
	}
	return set
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
		"threat.indicator.ip": "203.0.113.7", "event.action": "drop",
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
// sample with geoip on source and destination, cidr_lookup and threat_intel. Like the
// transformer, it puts each event's document in a recycled object and recycles the
// event's objects once done with the event (the decoding is left to
// BenchmarkFirewallEnrichedHandle).
func BenchmarkFirewallEnrichedPipeline(b *testing.B) {
	benchMessages(b, enrichedFirewall(b), "firewall", []string{firewallLine})
}
