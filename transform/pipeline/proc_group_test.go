package pipeline

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const groupPipeline = `
processors:
  - set: {field: kind, copy_from: k}
  - group:
      if: 'ctx.kind == "traffic"'
      processors:
        - set: {field: event.category, value: [network]}
        - convert: {field: bytes, type: integer}
        - group:
            if: 'ctx.bytes > 100'
            processors:
              - set: {field: big, value: true}
  - group:
      if: 'ctx.kind == "system"'
      processors:
        - set: {field: event.category, value: [host]}
        - convert: {field: code, type: integer}
      on_failure:
        - set: {field: code_error, value: '{{_ingest.on_failure_message}}'}
  - set: {field: done, value: true}
`

// A group runs its processors only when its if holds, nested groups included; a
// failure inside it is named by the inner processor's path and handled by the group's
// on_failure.
func TestGroup(t *testing.T) {
	p := buildOne(t, groupPipeline, Deps{})
	wantDoc(t, runDoc(t, p, `{"k":"traffic","bytes":"512"}`),
		`{"k":"traffic","kind":"traffic","bytes":512,"event":{"category":["network"]},"big":true,"done":true}`)
	wantDoc(t, runDoc(t, p, `{"k":"traffic","bytes":"64"}`),
		`{"k":"traffic","kind":"traffic","bytes":64,"event":{"category":["network"]},"done":true}`)
	wantDoc(t, runDoc(t, p, `{"k":"other"}`), `{"k":"other","kind":"other","done":true}`)
	e := runDoc(t, p, `{"k":"system","code":"x"}`)
	msg, _ := e.GetString("code_error")
	if !strings.Contains(msg, `"x"`) || hasTag(e, FailureTag) {
		t.Errorf("the group's on_failure did not handle its processor's failure: %v", e.Fields)
	}
	if done, _ := e.Get("done"); done != true {
		t.Errorf("the pipeline stopped after a handled failure: %v", e.Fields)
	}

	// Unhandled, the failure names the processor inside the group.
	e = runDoc(t, p, `{"k":"traffic","bytes":"many"}`)
	msg, _ = e.GetString("error.message")
	if !strings.HasPrefix(msg, "pipeline test: processors[1].group.processors[1] (convert): ") || !hasTag(e, FailureTag) {
		t.Errorf("unhandled failure in a group: %q, %v", msg, e.Fields)
	}
	// Counted for the failing step and for its group (sluice_processor_failures_total).
	if inner, group := p.steps[1].proc.(*groupProc).steps[1].failures.Load(), p.steps[1].failures.Load(); inner != 1 || group != 1 {
		t.Errorf("failures counted: the convert %d, its group %d, want 1 and 1", inner, group)
	}
}

// Coverage and metrics see the processors inside groups, under their paths.
func TestGroupCoverage(t *testing.T) {
	cov := NewCoverage()
	p := buildOne(t, groupPipeline, Deps{Coverage: cov})
	for _, in := range []string{`{"k":"traffic","bytes":"512"}`, `{"k":"other"}`} {
		runDoc(t, p, in)
	}
	got := map[string]int64{}
	for _, pc := range cov.Report().Pipelines {
		for _, proc := range pc.Processors {
			got[proc.Path] = proc.Cases
		}
	}
	for path, want := range map[string]int64{
		"processors[1]":                                         1,
		"processors[1].group.processors[1]":                     1,
		"processors[1].group.processors[2].group.processors[0]": 1,
		"processors[2]":                                         0,
		"processors[2].group.processors[0]":                     0,
		"processors[2].group.on_failure[0]":                     0,
		"processors[3]":                                         2,
	} {
		if c, ok := got[path]; !ok || c != want {
			t.Errorf("coverage of %s: %d (reported %v), want %d", path, c, ok, want)
		}
	}
}

func TestGroupValidation(t *testing.T) {
	for src, want := range map[string]string{
		`processors: [{group: {}}]`:                                         "processors[0].group.processors: a group needs at least one processor",
		`processors: [{group: {processors: []}}]`:                           "processors[0].group.processors: a group needs at least one processor",
		`processors: [{group: {processors: {set: {}}}}]`:                    "processors[0].group.processors: cannot unmarshal",
		`processors: [{group: {processors: [{drop: {}}], field: x}}]`:       "processors[0].group.field: unknown option",
		`processors: [{group: {processors: [{frobnicate: {}}]}}]`:           `processors[0].group.processors[0].frobnicate: unknown processor kind "frobnicate"`,
		`processors: [{group: {if: 'ctx.a ==', processors: [{drop: {}}]}}]`: "processors[0].group.if:",
	} {
		var cfg Config
		if err := yaml.Unmarshal([]byte(src), &cfg); err != nil {
			t.Fatal(err)
		}
		_, err := Build(map[string]Config{"test": cfg}, Deps{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", src, err, want)
		}
	}
	deep := "processors: [{drop: {}}]"
	for range maxGroupDepth + 1 {
		deep = "processors: [{group: {" + deep + "}}]"
	}
	var cfg Config
	if err := yaml.Unmarshal([]byte(deep), &cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := Build(map[string]Config{"test": cfg}, Deps{}); err == nil || !strings.Contains(err.Error(), "groups nest more than") {
		t.Errorf("groups %d deep: %v", maxGroupDepth+1, err)
	}
}
