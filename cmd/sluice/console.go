package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/config"
	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/internal/background"
	"github.com/sluice-siem/sluice/internal/console"
	"github.com/sluice-siem/sluice/transform"
	"github.com/sluice-siem/sluice/transform/event"
	"github.com/sluice-siem/sluice/transform/pipeline"
)

// uiConsole is the console of a process (ui.enabled, on the HTTP port): its data,
// which the gateway and the transformer report to, the Flow sampler, listed as a
// component, and the handler mounted under /ui.
type uiConsole struct {
	*console.Tap // Watching and Sample, as the gateway and the transformer ask them
	failures     *console.Failures
	flow         *console.Flow
	work         background.Work
	// enrich builds enrichment processors for the playground (set with the
	// transformer; nil in the gateway role, which runs no pipelines).
	enrich func(kind string, node *yaml.Node) (event.Processor, bool, error)
	// handler is the console's handler, once made.
	handler *console.Handler
}

// closeStreams ends the console's tap streams when the shutdown begins, so that the
// HTTP server's drain does not wait on them.
func (c *uiConsole) closeStreams() {
	if c != nil && c.handler != nil {
		c.handler.CloseStreams()
	}
}

// Start samples the metrics for the Flow view until Shutdown.
func (c *uiConsole) Start(ctx context.Context) error {
	return c.work.Start(ctx, c.flow.Run, nil)
}

// Shutdown stops the sampling.
func (c *uiConsole) Shutdown(ctx context.Context) error { return c.work.Stop(ctx) }

// Failed records a failure: with the tap, what the transformer reports to.
func (c *uiConsole) Failed(f console.Failure) { c.failures.Record(f) }

var (
	_ gateway.Watcher   = (*uiConsole)(nil)
	_ transform.Watcher = (*uiConsole)(nil)
)

// buildConsole makes the console's data and lists its sampler, when ui.enabled and the
// role serves HTTP; a.ui stays nil otherwise.
func (a *app) buildConsole() error {
	cfg := a.cfg.UI
	if !cfg.Enabled {
		return nil
	}
	if a.cfg.HTTP.Addr == "" {
		a.log.Info("no console: ui.enabled, but http.addr is empty and the console is served on the HTTP port")
		return nil
	}
	flow, err := console.NewFlow(a.registry, cfg.SampleInterval, cfg.Window)
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	a.ui = &uiConsole{Tap: console.NewTap(0), failures: console.NewFailures(cfg.KeepFailures), flow: flow}
	a.parts.add("console", a.ui)
	return nil
}

// consoleHandler returns the console's handler (nil without a console). gw, when not
// nil, is the gateway whose API keys open it (without ui.admin_key_sha256).
func (a *app) consoleHandler(gw *gateway.Gateway) (http.Handler, error) {
	if a.ui == nil {
		return nil, nil
	}
	opts := console.Options{Role: string(a.role), Version: versionString(), Tap: a.ui.Tap, Failures: a.ui.failures, Flow: a.ui.flow,
		TapRate: a.cfg.UI.TapRate, Logger: a.log.With("component", "console")}
	switch a.role { // the points this role's data path has
	case config.RoleGateway:
		opts.Points = []string{console.PointReceived}
	case config.RoleTransform:
		opts.Points = []string{console.PointTransformed, console.PointIndexed}
	}
	switch {
	case a.cfg.UI.AdminKeySHA256 != "":
		want, _ := hex.DecodeString(a.cfg.UI.AdminKeySHA256) // validated
		opts.Authorize = func(r *http.Request) error { return checkAdminKey(r.Header.Get("Authorization"), want) }
	case gw != nil && gw.AuthEnabled():
		opts.Authorize = func(r *http.Request) error {
			_, err := gw.Authenticate(r.Header.Get("Authorization"))
			return err
		}
	default:
		a.log.Warn("the console at /ui is open to anyone who reaches the HTTP port: set ui.admin_key_sha256 or gateway.auth.keys", "role", a.role)
	}
	if a.ui.enrich != nil {
		opts.Playground = &playground{cfg: a.cfg, enrich: a.ui.enrich}
	}
	h, err := console.New(opts)
	if err != nil {
		return nil, err
	}
	a.ui.handler = h
	a.log.Info("console", "url", consoleURL(a.cfg.HTTP.Addr, a.cfg.HTTP.TLS.Enabled()))
	return h, nil
}

// consoleURL is where the console of an HTTP address is, for the start-up log.
func consoleURL(addr string, tls bool) string {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	if strings.HasPrefix(addr, ":") || strings.HasPrefix(addr, "0.0.0.0:") {
		addr = "localhost:" + addr[strings.LastIndexByte(addr, ':')+1:]
	}
	return scheme + "://" + addr + console.Path
}

// checkAdminKey checks an Authorization header against the admin key's SHA-256.
func checkAdminKey(authorization string, want []byte) error {
	key, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok {
		key, ok = strings.CutPrefix(authorization, "ApiKey ")
	}
	if !ok || key == "" {
		return errors.New("missing key: send Authorization: Bearer <ui admin key>")
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(key)))
	if subtle.ConstantTimeCompare(got[:], want) != 1 {
		return errors.New("wrong key for the console (ui.admin_key_sha256)")
	}
	return nil
}

// playground runs the console's pasted lines through pipelines built anew for each
// request with an Explainer, from the process's own configuration and lookups.
type playground struct {
	cfg    config.Config
	enrich func(kind string, node *yaml.Node) (event.Processor, bool, error)
}

// Pipelines lists the process's pipelines, each with its YAML.
func (p *playground) Pipelines() []console.PipelineInfo {
	cfgs, _ := pipelineConfigs(p.cfg) // the process started with them: they load
	out := make([]console.PipelineInfo, 0, len(cfgs))
	for name, c := range cfgs {
		out = append(out, console.PipelineInfo{Name: name, Description: c.Description, YAML: pipelineYAML(c)})
	}
	slices.SortFunc(out, func(a, b console.PipelineInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// pipelineYAML writes a pipeline's definition back as YAML.
func pipelineYAML(c pipeline.Config) string {
	doc := struct {
		Description  string      `yaml:"description,omitempty"`
		KeepOriginal bool        `yaml:"keep_original,omitempty"`
		Processors   []yaml.Node `yaml:"processors"`
		OnFailure    []yaml.Node `yaml:"on_failure,omitempty"`
	}{c.Description, c.KeepOriginal, c.Processors, c.OnFailure}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return "# cannot show this pipeline: " + err.Error() + "\n"
	}
	return string(out)
}

// Run runs the lines of req.
func (p *playground) Run(ctx context.Context, req console.PlaygroundRequest) (*console.PlaygroundResult, error) {
	var pcfg pipeline.Config
	if req.YAML != "" {
		c, err := pipeline.ParseConfig([]byte(req.YAML), "yaml")
		if err != nil {
			return nil, err
		}
		pcfg = c
	} else {
		cfgs, err := pipelineConfigs(p.cfg)
		if err != nil {
			return nil, err
		}
		c, ok := cfgs[req.Pipeline]
		if !ok {
			return nil, fmt.Errorf("no pipeline %q: give its yaml, or one of %s", req.Pipeline, strings.Join(slices.Sorted(maps.Keys(cfgs)), ", "))
		}
		pcfg = c
	}
	x := pipeline.NewExplainer()
	pl, err := pipeline.New(req.Pipeline, pcfg, &pipeline.Deps{Enrich: p.enrich, MaxDepth: p.cfg.Limits.MaxDepth, Explain: x})
	if err != nil {
		return nil, err
	}
	received := time.Now().UTC().Truncate(time.Second)
	res := &console.PlaygroundResult{Pipeline: req.Pipeline, FileName: req.Pipeline + ".test.yaml", Results: make([]console.LineResult, 0, len(req.Lines))}
	for _, line := range req.Lines {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e := &event.Event{Type: req.Pipeline, Received: received, Fields: map[string]any{"message": line}}
		start := time.Now()
		runs := x.Run(ctx, pl, e)
		lr := console.LineResult{Input: line, Nanos: time.Since(start).Nanoseconds(), Dropped: e.Dropped, Steps: make([]console.StepResult, 0, len(runs))}
		if !e.Dropped {
			lr.Document = e.Fields
		}
		if e.Failure != nil {
			lr.Failure = e.Failure.Error()
		}
		for _, r := range runs {
			lr.Steps = append(lr.Steps, stepResult(r))
		}
		res.Results = append(res.Results, lr)
	}
	tc, err := testCaseFile(req.Pipeline, received, res.Results)
	if err != nil {
		return nil, err
	}
	res.TestCase = tc
	return res, nil
}

// stepResult is the console's form of an explained step.
func stepResult(r pipeline.StepRun) console.StepResult {
	s := console.StepResult{Processor: r.Processor, Kind: r.Kind, Tag: r.Tag, Depth: r.Depth, Skipped: r.Skipped, Nanos: r.Duration.Nanoseconds()}
	if r.Err != nil {
		s.Error = r.Err.Error()
	}
	if g := r.Grok; g != nil {
		ge := &console.GrokExplain{Pattern: g.Pattern, Expression: g.Expression, Parts: []console.GrokPart{}}
		for _, part := range g.Parts {
			ge.Parts = append(ge.Parts, console.GrokPart{Name: part.Name, Field: part.Field, Text: g.Subject[part.Start:part.End], Start: part.Start, End: part.End, Depth: part.Depth})
		}
		s.Grok = ge
	}
	return s
}

// testCaseFile writes the results as a NAME.test.yaml file: a case per line, each
// expecting the document shown (or the drop).
func testCaseFile(name string, received time.Time, results []console.LineResult) (string, error) {
	type testCase struct {
		Name          string `yaml:"name"`
		Input         string `yaml:"input"`
		Expect        any    `yaml:"expect,omitempty"`
		ExpectDropped bool   `yaml:"expect_dropped,omitempty"`
	}
	file := struct {
		Pipeline string     `yaml:"pipeline"`
		Received string     `yaml:"received"`
		Cases    []testCase `yaml:"cases"`
	}{Pipeline: name, Received: received.Format(time.RFC3339)}
	for i, r := range results {
		c := testCase{Name: fmt.Sprintf("playground line %d", i+1), Input: r.Input, ExpectDropped: r.Dropped}
		if !r.Dropped {
			doc, err := plainValues(r.Document)
			if err != nil {
				return "", fmt.Errorf("line %d: %w", i+1, err)
			}
			c.Expect = doc
		}
		file.Cases = append(file.Cases, c)
	}
	out, err := yaml.Marshal(file)
	if err != nil {
		return "", fmt.Errorf("write the test case: %w", err)
	}
	return "# Made by the sluice console's playground: check each expect before keeping it\n# (sluice test runs this file beside " + name + ".yaml).\n" + string(out), nil
}

// plainValues is a document as JSON decodes it, numbers as int64 or float64, so that
// YAML writes each value with the type the document has.
func plainValues(doc map[string]any) (any, error) {
	data, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var conv func(any) any
	conv = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				x[k] = conv(e)
			}
		case []any:
			for i, e := range x {
				x[i] = conv(e)
			}
		case json.Number:
			if i, err := x.Int64(); err == nil {
				return i
			}
			f, _ := x.Float64()
			return f
		}
		return v
	}
	return conv(v), nil
}
