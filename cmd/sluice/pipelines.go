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
// (sample_pipelines), then the files of pipelines_dir, then pipelines:, each replacing
// the ones before it for the log types it has. Every problem is reported.
func pipelineConfigs(cfg config.Config) (map[string]pipeline.Config, error) {
	out := map[string]pipeline.Config{}
	var errs []error
	if cfg.SamplePipelines {
		s, err := samples.Pipelines()
		errs = append(errs, err)
		maps.Copy(out, s)
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

// buildPipelines compiles the pipelines of a configuration with deps, reporting every
// problem of every pipeline at once. deps.Enrich builds the enrichment processors
// (geoip, cidr_lookup, lookup, threat_intel) from the lookups: section.
func buildPipelines(cfg config.Config, deps pipeline.Deps) (*pipeline.Set, error) {
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
