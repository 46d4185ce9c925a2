package main

import (
	"context"
	"errors"
	"maps"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/config"
	"github.com/sluice-siem/sluice/transform/enrich"
	"github.com/sluice-siem/sluice/transform/event"
	"github.com/sluice-siem/sluice/transform/pipeline"
	"github.com/sluice-siem/sluice/transform/pipeline/samples"
)

// pipelineConfigs gathers the pipelines of a configuration, by log type: the samples
// (sample_pipelines; the enriched firewall sample in place of the plain one when its
// lookups exist, see enrichedSamples), then the files of pipelines_dir, then
// pipelines:, each replacing the ones before it for the log types it has. Every
// problem is reported.
func pipelineConfigs(cfg config.Config) (map[string]pipeline.Config, error) {
	out := map[string]pipeline.Config{}
	var errs []error
	if cfg.SamplePipelines {
		s, err := samples.Pipelines()
		errs = append(errs, err)
		maps.Copy(out, s)
		if enrichedSamples(cfg) {
			enriched, err := samples.Enriched()
			errs = append(errs, err)
			maps.Copy(out, enriched)
		}
	}
	if cfg.PipelinesDir != "" {
		d, err := pipeline.LoadDir(cfg.PipelinesDir)
		errs = append(errs, err)
		maps.Copy(out, d)
	}
	for name, p := range cfg.Pipelines {
		p.Origin = "pipelines." + name
		out[name] = p
	}
	return out, errors.Join(errs...)
}

// lookupsConfig returns the lookups: section of cfg and, when the sample pipelines and
// sample lookups are on (the dev default), the sample lookups the enriched samples use
// (samples.LookupsConfig: GeoIP City and ASN databases of made-up data for
// documentation networks, a zones table, a threat-intel set, all embedded in the
// binary) under the names the configuration does not use itself, so that a
// configuration's own city database, say, serves the samples too.
func lookupsConfig(cfg config.Config) enrich.ResourcesConfig {
	out := cfg.Lookups
	if !cfg.SamplePipelines || !cfg.SampleLookups {
		return out
	}
	sample := samples.LookupsConfig()
	out.MMDB = withMissing(out.MMDB, sample.MMDB)
	out.CIDRTables = withMissing(out.CIDRTables, sample.CIDRTables)
	out.ThreatIntel = withMissing(out.ThreatIntel, sample.ThreatIntel)
	out.Embedded = sample.Embedded
	return out
}

// enrichedSamples reports whether the enriched samples replace the plain ones of their
// log types: with the sample pipelines on and every lookup they use present (always
// with sample_lookups; in a production configuration once it names its own databases
// and tables). pipelineConfigs and `sluice test` both ask it.
func enrichedSamples(cfg config.Config) bool {
	if !cfg.SamplePipelines {
		return false
	}
	lookups := lookupsConfig(cfg)
	_, city := lookups.MMDB[samples.LookupCity]
	_, asn := lookups.MMDB[samples.LookupASN]
	_, zones := lookups.CIDRTables[samples.LookupZones]
	_, feeds := lookups.ThreatIntel[samples.LookupThreats]
	return city && asn && zones && feeds
}

// withMissing returns a copy of m with the entries of add whose keys m lacks.
func withMissing[V any](m, add map[string]V) map[string]V {
	out := maps.Clone(m)
	if out == nil {
		out = map[string]V{}
	}
	for k, v := range add {
		if _, ok := out[k]; !ok {
			out[k] = v
		}
	}
	return out
}

// buildPipelines compiles the pipelines of a configuration with deps, reporting every
// problem of every pipeline at once. deps.Enrich builds the enrichment processors
// (geoip, cidr_lookup, lookup, threat_intel) from the lookups: section.
func buildPipelines(cfg config.Config, deps pipeline.Deps) (*pipeline.Set, error) {
	deps.MaxDepth = cfg.Limits.MaxDepth
	cfgs, loadErr := pipelineConfigs(cfg)
	set, err := pipeline.Build(cfgs, deps)
	if err := errors.Join(loadErr, err); err != nil {
		return nil, err
	}
	return set, nil
}

// checkPipelines compiles the pipelines of a role's configuration without running
// anything: what `sluice validate` and the start of a serving role report. The
// gateway runs no pipelines.
func checkPipelines(cfg config.Config, role config.Role) error {
	if role == config.RoleGateway {
		return nil
	}
	cfg.Lookups = lookupsConfig(cfg)
	_, err := buildPipelines(cfg, pipeline.Deps{
		// Enrichment options are checked against the lookups: section without loading
		// files or connecting to servers.
		Enrich: func(kind string, node *yaml.Node) (event.Processor, bool, error) {
			ok, err := enrich.CheckProcessor(kind, node, cfg.Lookups)
			if !ok || err != nil {
				return nil, ok, err
			}
			return checkedProcessor{}, true, nil
		},
	})
	return err
}

// checkedProcessor stands in for an enrichment processor whose options were checked
// but that was not built; it is never run.
type checkedProcessor struct{}

func (checkedProcessor) Process(context.Context, *event.Event) error { return nil }
