package main

import (
	"strings"
	"testing"

	"github.com/sluice-siem/sluice/config"
	"github.com/sluice-siem/sluice/transform/enrich"
	"github.com/sluice-siem/sluice/transform/pipeline/samples"
)

// lookupsConfig adds the embedded sample lookups under the names the configuration
// leaves free, never changes the configuration's maps, and adds nothing when the
// sample pipelines are off.
func TestLookupsConfigAddsSampleLookups(t *testing.T) {
	cfg := config.Default(config.RoleDev)
	cfg.Lookups.MMDB = map[string]string{samples.LookupCity: "/data/GeoIP2-City.mmdb", "extra": "/data/extra.mmdb"}

	got := lookupsConfig(cfg)
	if got.MMDB[samples.LookupCity] != "/data/GeoIP2-City.mmdb" || got.MMDB["extra"] != "/data/extra.mmdb" {
		t.Errorf("the configuration's own databases were replaced: %v", got.MMDB)
	}
	want := samples.LookupsConfig()
	if got.MMDB[samples.LookupASN] != want.MMDB[samples.LookupASN] ||
		got.CIDRTables[samples.LookupZones] != want.CIDRTables[samples.LookupZones] ||
		len(got.ThreatIntel[samples.LookupThreats].Files) != 1 || got.Embedded == nil {
		t.Fatalf("sample lookups missing: %+v", got)
	}
	if len(cfg.Lookups.MMDB) != 2 || len(cfg.Lookups.CIDRTables) != 0 {
		t.Errorf("the configuration's maps changed: %+v", cfg.Lookups)
	}
	// The result opens: every sample file is in the binary.
	res, err := enrich.NewResources(t.Context(), lookupsConfig(config.Default(config.RoleDev)), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Close()

	cfg.SamplePipelines = false
	got = lookupsConfig(cfg)
	if len(got.MMDB) != 2 || len(got.CIDRTables) != 0 || len(got.ThreatIntel) != 0 || got.Embedded != nil {
		t.Errorf("sample lookups added with the samples off: %+v", got)
	}
}

// The sample lookup data is for trying sluice: only the dev role adds it by default.
// A transform task with the sample pipelines gets the plain firewall sample (no sample
// zones labelling its real addresses) until its own configuration names every lookup
// the enriched sample uses.
func TestSampleLookupsOnlyWhereAskedFor(t *testing.T) {
	enrichedFirewall := func(cfg config.Config) bool {
		t.Helper()
		cfgs, err := pipelineConfigs(cfg)
		if err != nil {
			t.Fatal(err)
		}
		fw, ok := cfgs["firewall"]
		if !ok {
			t.Fatal("no firewall pipeline")
		}
		return fw.Origin != "" && strings.Contains(fw.Origin, samples.EnrichedOrigin)
	}
	if !enrichedFirewall(config.Default(config.RoleDev)) {
		t.Error("sluice dev: the firewall sample is not the enriched one")
	}
	tr := config.Default(config.RoleTransform)
	tr.SamplePipelines = true
	if tr.SampleLookups {
		t.Fatal("sample_lookups is on by default in the transform role")
	}
	if got := lookupsConfig(tr); len(got.MMDB)+len(got.CIDRTables)+len(got.ThreatIntel) != 0 || got.Embedded != nil {
		t.Errorf("transform role: sample lookups added: %+v", got)
	}
	if enrichedFirewall(tr) {
		t.Error("transform role without lookups: the firewall sample is the enriched one")
	}
	tr.Lookups.MMDB = map[string]string{samples.LookupCity: "/data/city.mmdb", samples.LookupASN: "/data/asn.mmdb"}
	tr.Lookups.CIDRTables = map[string]string{samples.LookupZones: "/data/zones.csv"}
	if enrichedFirewall(tr) {
		t.Error("transform role with three of the four lookups: the firewall sample is the enriched one")
	}
	tr.Lookups.ThreatIntel = map[string]enrich.IndicatorSetConfig{samples.LookupThreats: {Files: []string{"/data/feed.txt"}}}
	if !enrichedFirewall(tr) {
		t.Error("transform role with its own city, asn, zones and feeds: the firewall sample is not the enriched one")
	}
}
