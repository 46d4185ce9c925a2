package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/config"
	"github.com/sluice-siem/sluice/internal/console"
	"github.com/sluice-siem/sluice/transform/enrich"
	"github.com/sluice-siem/sluice/transform/event"
	"github.com/sluice-siem/sluice/transform/pipeline"
)

// newPlayground returns the playground of sluice dev's default configuration: the
// sample pipelines with their lookups.
func newPlayground(t *testing.T) (*playground, config.Config) {
	t.Helper()
	cfg := config.Default(config.RoleDev)
	res, err := enrich.NewResources(context.Background(), lookupsConfig(cfg), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(res.Close)
	return &playground{cfg: cfg, enrich: res.Processor}, cfg
}

// TestPlaygroundTestCase: the test case file the playground offers is one `sluice
// test` passes: each line's document, as the serving pipeline makes it.
func TestPlaygroundTestCase(t *testing.T) {
	pg, cfg := newPlayground(t)
	res, err := pg.Run(context.Background(), console.PlaygroundRequest{Pipeline: "firewall", Lines: []string{
		iptablesLine,
		strings.Replace(iptablesLine, "PROTO=TCP SPT=51234 DPT=22", "PROTO=UDP SPT=5353 DPT=53", 1),
		"not a firewall line",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Results) != 3 || res.FileName != "firewall.test.yaml" {
		t.Fatalf("%d results, file %q", len(res.Results), res.FileName)
	}
	first := res.Results[0]
	if first.Failure != "" || first.Document == nil || len(first.Steps) < 5 || first.Steps[0].Grok == nil || first.Steps[0].Grok.Pattern != 0 {
		t.Fatalf("first line: %+v", first)
	}
	if bad := res.Results[2]; !strings.Contains(bad.Failure, "no grok pattern matched") || bad.Steps[0].Error == "" {
		t.Errorf("the unparseable line: failure %q, first step %+v", bad.Failure, bad.Steps[0])
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, res.FileName), []byte(res.TestCase), 0o644); err != nil {
		t.Fatal(err)
	}
	tf, err := pipeline.LoadTestFile(os.DirFS(dir), res.FileName, res.FileName)
	if err != nil {
		t.Fatalf("the test case file does not load: %v\n%s", err, res.TestCase)
	}
	set, err := buildPipelines(cfg, pipeline.Deps{Enrich: pg.enrich})
	if err != nil {
		t.Fatal(err)
	}
	if len(tf.Cases) != 3 {
		t.Fatalf("%d cases", len(tf.Cases))
	}
	for _, c := range tf.Cases {
		diff, err := c.Run(context.Background(), set.Get(tf.Pipeline), tf.Received)
		if err != nil || diff != "" {
			t.Errorf("case %s: %v\n%s", c.Name, err, diff)
		}
	}
}

// TestPlaygroundYAML: the YAML the playground lists for a pipeline builds the same
// pipeline, edited YAML runs instead of the loaded pipeline, and what is wrong with a
// request is said.
func TestPlaygroundYAML(t *testing.T) {
	pg, _ := newPlayground(t)
	var fw console.PipelineInfo
	for _, p := range pg.Pipelines() {
		if p.Name == "firewall" {
			fw = p
		}
	}
	if fw.YAML == "" || fw.Description == "" {
		t.Fatalf("no firewall pipeline listed: %+v", pg.Pipelines())
	}
	loaded, err := pg.Run(context.Background(), console.PlaygroundRequest{Pipeline: "firewall", Lines: []string{iptablesLine}})
	if err != nil {
		t.Fatal(err)
	}
	fromYAML, err := pg.Run(context.Background(), console.PlaygroundRequest{Pipeline: "firewall", YAML: fw.YAML, Lines: []string{iptablesLine}})
	if err != nil {
		t.Fatal(err)
	}
	if d := pipeline.Diff(loaded.Results[0].Document, fromYAML.Results[0].Document); d != "" {
		t.Errorf("the listed YAML makes another document:\n%s", d)
	}

	edited := "processors:\n  - set: {field: event.kind, value: edited}\n  - drop: {if: 'ctx.message == \"drop me\"'}\n"
	res, err := pg.Run(context.Background(), console.PlaygroundRequest{Pipeline: "mine", YAML: edited, Lines: []string{"keep me", "drop me"}})
	if err != nil {
		t.Fatal(err)
	}
	if kind, _ := (&event.Event{Fields: res.Results[0].Document}).Get("event.kind"); kind != "edited" || !res.Results[1].Dropped || res.Results[1].Document != nil {
		t.Errorf("edited pipeline: %+v", res.Results)
	}
	if !strings.Contains(res.TestCase, "expect_dropped: true") || res.FileName != "mine.test.yaml" {
		t.Errorf("test case of a dropped line:\n%s", res.TestCase)
	}

	for _, c := range []struct {
		req  console.PlaygroundRequest
		want string
	}{
		{console.PlaygroundRequest{Pipeline: "nope", Lines: []string{"x"}}, `no pipeline "nope": give its yaml, or one of cisco_asa, firewall`},
		{console.PlaygroundRequest{Pipeline: "x", YAML: "processors: [{grok: {field: message}}]", Lines: []string{"x"}}, "patterns"},
		{console.PlaygroundRequest{Pipeline: "x", YAML: "processors: [}", Lines: []string{"x"}}, "yaml"},
		{console.PlaygroundRequest{Pipeline: "Not A Type", YAML: "processors: [{set: {field: a, value: b}}]", Lines: []string{"x"}}, "not a log type name"},
	} {
		if _, err := pg.Run(context.Background(), c.req); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error with %q", c.req, err, c.want)
		}
	}
}

// TestShutdownEndsTapStreams: a tap stream open when sluice dev stops ends at the
// start of the shutdown, and the stop is clean (the HTTP server's drain would wait for
// it until the shutdown deadline otherwise).
func TestShutdownEndsTapStreams(t *testing.T) {
	cfg := devConfig(t)
	cfg.Shutdown.Timeout = time.Minute
	a, stop := startDev(t, cfg)
	resp, err := http.Get("http://" + a.httpLn.Addr().String() + "/ui/api/tap?point=indexed")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("tap: %d", resp.StatusCode)
	}
	ended := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(resp.Body)
		ended <- err
	}()
	if err := stop(); err != nil {
		t.Fatalf("stop with a tap stream open: %v", err)
	}
	if err := <-ended; err != nil {
		t.Errorf("the tap stream ended with %v, want its end", err)
	}
}
