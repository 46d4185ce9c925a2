package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"strings"

	"github.com/sluice-siem/sluice/config"
	"github.com/sluice-siem/sluice/transform/enrich"
	"github.com/sluice-siem/sluice/transform/pipeline"
	"github.com/sluice-siem/sluice/transform/pipeline/samples"
)

// pipelineTest is `sluice test [-c FILE] [-v] [--coverage] [--coverage-json FILE]
// [--coverage-min PERCENT] [PIPELINE_DIR...]`: it runs the pipeline
// test cases (NAME.test.yaml beside NAME.yaml, see pipeline.TestFile) of the given
// directories, of the configuration's pipelines_dir and, when the configuration loads
// them (or nothing else is given), of the sample pipelines. Pipelines come from the
// same places, the directories last; enrichment processors run with the
// configuration's lookups: section and, with the samples, the sample lookups (the
// enriched samples and their cases replace the plain ones of the same log type). It
// prints one line per test file, a diff per failed case, and exits 1 if any case fails
// or anything cannot be loaded.
//
// With any of the coverage flags it builds the pipelines with a pipeline.Coverage and
// then prints the share of processors and grok patterns the cases exercised; with
// --coverage a table per pipeline too (what no case exercised is marked NOT
// EXERCISED), with --coverage-json the report as JSON to a file ("-": stdout). Coverage
// changes the exit status only with --coverage-min: 1 when the share is below it.
func pipelineTest(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) (string, bool)) int {
	flags := flag.NewFlagSet("sluice test", flag.ContinueOnError)
	flags.SetOutput(stderr)
	configPath := flags.String("c", "", "configuration `file` whose pipelines (pipelines, pipelines_dir, sample_pipelines) are tested too")
	flags.StringVar(configPath, "config", "", "same as -c")
	verbose := flags.Bool("v", false, "list every case")
	coverText := flags.Bool("coverage", false, "print which processors and grok patterns the cases exercised, a table per pipeline")
	coverJSON := flags.String("coverage-json", "", "write the coverage report as JSON to `file` (-: stdout)")
	coverMin := flags.Float64("coverage-min", 0, "exit 1 if the cases exercise less than `percent` of the processors and grok patterns")
	flags.Usage = func() {
		fmt.Fprintln(stderr, "usage: sluice test [-c FILE] [-v] [--coverage] [--coverage-json FILE] [--coverage-min PERCENT] [PIPELINE_DIR...]\n\nWith neither -c nor directories, tests the sample pipelines.")
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if *coverMin < 0 || *coverMin > 100 {
		fmt.Fprintf(stderr, "sluice test: --coverage-min %v: want a percentage from 0 to 100\n", *coverMin)
		return 2
	}
	var cov *pipeline.Coverage
	if *coverText || *coverJSON != "" || *coverMin > 0 {
		cov = pipeline.NewCoverage()
	}
	dirs := flags.Args()

	cfg := config.Default(config.RoleTransform)
	if *configPath != "" {
		var err error
		if cfg, err = config.Load(config.RoleTransform, *configPath, env); err != nil {
			printProblems(stderr, *configPath, err)
			return 1
		}
	} else if len(dirs) == 0 {
		// The samples as shipped, with their sample lookups.
		cfg.SamplePipelines, cfg.SampleLookups = true, true
	}

	// The pipelines, and where test files are.
	type source struct {
		fsys   fs.FS
		origin string
		skip   map[string]bool // test files of a pipeline a later source replaces
	}
	var sources []source
	if cfg.SamplePipelines {
		plain := source{samples.FS(), samples.Origin, nil}
		if !enrichedSamples(cfg) {
			sources = append(sources, plain)
		} else {
			// The enriched samples replace the plain ones of their log types, test
			// cases too.
			names, err := pipeline.TestFiles(samples.EnrichedFS())
			if err != nil {
				fmt.Fprintf(stderr, "sluice test: %s: %v\n", samples.EnrichedOrigin, err)
				return 1
			}
			plain.skip = map[string]bool{}
			for _, n := range names {
				plain.skip[n] = true
			}
			sources = append(sources, plain, source{samples.EnrichedFS(), samples.EnrichedOrigin, nil})
		}
	}
	if cfg.PipelinesDir != "" {
		sources = append(sources, source{os.DirFS(cfg.PipelinesDir), cfg.PipelinesDir, nil})
	}
	cfgs, loadErr := pipelineConfigs(cfg)
	errs := []error{loadErr}
	for _, dir := range dirs {
		st, err := os.Stat(dir)
		if err == nil && !st.IsDir() {
			err = errors.New("not a directory")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", dir, err))
			continue
		}
		d, err := pipeline.LoadDir(dir)
		errs = append(errs, err)
		maps.Copy(cfgs, d)
		sources = append(sources, source{os.DirFS(dir), dir, nil})
	}
	// Enrichment processors run with the configuration's lookups (and the samples').
	res, err := enrich.NewResources(ctx, lookupsConfig(cfg), nil, nil)
	if err != nil {
		printProblems(stderr, "sluice test: lookups", err)
		return 1
	}
	defer res.Close()
	set, err := pipeline.Build(cfgs, pipeline.Deps{Enrich: res.Processor, MaxDepth: cfg.Limits.MaxDepth, Coverage: cov})
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		printProblems(stderr, "sluice test: pipelines", err)
		return 1
	}

	files, cases, failed := 0, 0, 0
	for _, src := range sources {
		names, err := pipeline.TestFiles(src.fsys)
		if err != nil {
			fmt.Fprintf(stderr, "sluice test: %s: %v\n", src.origin, err)
			return 1
		}
		for _, name := range names {
			if src.skip[name] {
				continue
			}
			origin := path.Join(src.origin, name)
			files++
			tf, err := pipeline.LoadTestFile(src.fsys, name, origin)
			if err != nil {
				fmt.Fprintf(stdout, "FAIL  %s\n      %v\n", origin, err)
				failed++
				continue
			}
			p := set.Get(tf.Pipeline)
			if p == nil {
				fmt.Fprintf(stdout, "FAIL  %s\n      no pipeline %q (pipelines: %s)\n", origin, tf.Pipeline, strings.Join(set.Names(), ", "))
				failed++
				continue
			}
			var report strings.Builder
			bad := 0
			for _, c := range tf.Cases {
				cases++
				diff, err := c.Run(ctx, p, tf.Received)
				switch {
				case err != nil:
					fmt.Fprintf(&report, "  --- %s: %v\n", c.Name, err)
					bad++
				case diff != "":
					fmt.Fprintf(&report, "  --- %s: (- expected, + got)\n", c.Name)
					for _, line := range strings.Split(strings.TrimRight(diff, "\n"), "\n") {
						fmt.Fprintf(&report, "      %s\n", line)
					}
					bad++
				case *verbose:
					fmt.Fprintf(&report, "  ok  %s\n", c.Name)
				}
			}
			status := "ok  "
			if bad > 0 {
				status = "FAIL"
				failed += bad
			}
			fmt.Fprintf(stdout, "%s  %s (pipeline %s): %d cases, %d failed\n%s", status, origin, tf.Pipeline, len(tf.Cases), bad, report.String())
		}
	}
	if files == 0 {
		fmt.Fprintln(stderr, "sluice test: no test files (NAME.test.yaml) found")
		return 1
	}
	fmt.Fprintf(stdout, "%d files, %d cases, %d failed\n", files, cases, failed)
	code := 0
	if failed > 0 {
		code = 1
	}
	if cov != nil {
		if c := reportCoverage(cov.Report(), *coverText, *coverJSON, *coverMin, stdout, stderr); c != 0 {
			code = c
		}
	}
	return code
}

// reportCoverage prints the coverage report after the results: its totals line, or
// with text the tables; writes it as JSON to jsonPath if set; and returns 1 if the
// report cannot be written or its share is below minPercent (0: no minimum).
func reportCoverage(r *pipeline.CoverageReport, text bool, jsonPath string, minPercent float64, stdout, stderr io.Writer) int {
	fmt.Fprintln(stdout)
	if text {
		if err := r.WriteText(stdout); err != nil {
			fmt.Fprintf(stderr, "sluice test: coverage: %v\n", err)
			return 1
		}
	} else {
		fmt.Fprintf(stdout, "coverage: %s\n", r.Summary())
	}
	code := 0
	if jsonPath != "" {
		data, err := json.MarshalIndent(r, "", "  ")
		if err == nil {
			data = append(data, '\n')
			if jsonPath == "-" {
				_, err = stdout.Write(data)
			} else {
				err = os.WriteFile(jsonPath, data, 0o644)
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "sluice test: write coverage report: %v\n", err)
			code = 1
		}
	}
	if minPercent > 0 && r.Percent < minPercent {
		fmt.Fprintf(stdout, "FAIL  coverage %.1f%% is below --coverage-min %v%%\n", r.Percent, minPercent)
		code = 1
	}
	return code
}
