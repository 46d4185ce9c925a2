// Package samples holds the sample pipelines of the transform step that sluice ships
// and `sluice dev` loads by default (config sample_pipelines): firewall (Linux
// netfilter/iptables over syslog), ids (Suricata EVE JSON), waf (AWS WAF logs), panos
// (Palo Alto Networks PAN-OS syslog), fortigate (FortiGate key=value syslog), cisco_asa
// (Cisco ASA and FTD syslog), zeek (Zeek JSON logs) and vpcflow (AWS VPC Flow Logs),
// each NAME.yaml with its test cases in NAME.test.yaml for `sluice test`. They
// are examples to copy into a pipelines_dir as much as defaults.
//
// The enriched/ directory holds the pipelines with enrichment (GeoIP City and ASN, a
// CIDR table of network zones, a threat-intel set) and the sample lookup data
// it runs with: zones.csv, threat-intel.txt, and two small MaxMind databases,
// sample-city.mmdb and sample-asn.mmdb, that sluice generates itself (go generate, see
// TestSampleMMDB) with made-up data for documentation address ranges only (RFC 5737,
// RFC 3849) and documentation AS numbers (RFC 5398): SAMPLE DATA, not geolocation.
// With sample_pipelines on, sluice loads each enriched sample in place of the plain
// one, with these lookups (Enriched, LookupsConfig).
package samples

//go:generate go test -run ^TestSampleMMDB$ -update .

import (
	"embed"
	"io/fs"

	"github.com/sluice-siem/sluice/transform/enrich"
	"github.com/sluice-siem/sluice/transform/pipeline"
)

// files is the embedded sample directory: a read-only table, never modified.
//
//go:embed *.yaml enriched/*.yaml enriched/zones.csv enriched/threat-intel.txt enriched/*.mmdb
var files embed.FS

// Origin is how the samples are named in error messages and listings.
const Origin = "samples"

// FS returns the sample files: NAME.yaml pipelines and NAME.test.yaml test cases at its
// root, and the enriched samples in enriched/ (see EnrichedFS).
func FS() fs.FS { return files }

// EnrichedOrigin names the enriched samples in error messages and listings.
const EnrichedOrigin = Origin + "/enriched"

// Pipelines returns the sample pipelines' configurations, by log type, without
// enrichment: they need no lookups.
func Pipelines() (map[string]pipeline.Config, error) {
	return pipeline.LoadFS(files, Origin)
}

// EnrichedFS returns the enriched samples: NAME.yaml pipelines that replace the
// samples of the same log type when the sample lookups are loaded, their NAME.test.yaml
// test cases, and the sample lookup data.
func EnrichedFS() fs.FS {
	sub, err := fs.Sub(files, "enriched")
	if err != nil {
		panic(err) // "enriched" is a valid path: fs.Sub cannot fail on it
	}
	return sub
}

// Enriched returns the enriched sample pipelines' configurations, by log type. They
// use the lookups LookupsConfig configures.
func Enriched() (map[string]pipeline.Config, error) {
	return pipeline.LoadFS(EnrichedFS(), EnrichedOrigin)
}

// The names the enriched samples give their lookups, as in
// enriched/lookups.yaml.example; a configuration's own lookups of these names replace
// the samples' (real MaxMind databases, say).
const (
	LookupCity    = "city"
	LookupASN     = "asn"
	LookupZones   = "zones"
	LookupThreats = "feeds"
)

// LookupsConfig returns the lookups of the enriched samples (only mmdb, cidr_tables,
// threat_intel and Embedded are set): files embedded in the binary, named with
// enrich.EmbeddedPrefix, so they need no disk and are never reloaded.
func LookupsConfig() enrich.ResourcesConfig {
	const e = enrich.EmbeddedPrefix
	return enrich.ResourcesConfig{
		MMDB:       map[string]string{LookupCity: e + "sample-city.mmdb", LookupASN: e + "sample-asn.mmdb"},
		CIDRTables: map[string]string{LookupZones: e + "zones.csv"},
		ThreatIntel: map[string]enrich.IndicatorSetConfig{LookupThreats: {
			Files:      []string{e + "threat-intel.txt"},
			Provider:   "sluice-sample-feed",
			Confidence: "Medium",
		}},
		Embedded: EnrichedFS(),
	}
}
