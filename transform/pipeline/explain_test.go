package pipeline

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sluice-siem/sluice/transform/event"
)

const explainedYAML = `
processors:
  - grok:
      tag: head
      field: message
      patterns: ['^%{WORD:_tmp.kind} %{GREEDYDATA:_tmp.rest}$']
  - group:
      if: 'ctx._tmp.kind == "conn"'
      processors:
        - kv: {field: _tmp.rest, field_split: ' ', value_split: '=', target_field: conn}
        - set: {field: event.kind, value: event}
  - group:
      if: 'ctx._tmp.kind == "alert"'
      processors:
        - set: {field: event.kind, value: alert}
  - convert: {field: conn.port, type: integer, tag: port, ignore_missing: true}
  - remove: {field: _tmp}
`

// TestExplainer: each processor's run in the order they started (a group before its
// steps), skipped conditions, depth in groups, grok's match explained, and the
// failing processor's error, while the event comes out as without the Explainer.
func TestExplainer(t *testing.T) {
	x := NewExplainer()
	p := buildOne(t, explainedYAML, Deps{Explain: x})
	plain := buildOne(t, explainedYAML, Deps{})

	e := &event.Event{Type: "test", Received: received, Fields: map[string]any{"message": "conn port=443 proto=tcp"}}
	runs := x.Run(context.Background(), p, e)
	var path []string
	for _, r := range runs {
		path = append(path, r.Processor)
	}
	want := []string{"processors[0]", "processors[1]", "processors[1].group.processors[0]", "processors[1].group.processors[1]", "processors[2]", "processors[3]", "processors[4]"}
	if strings.Join(path, " ") != strings.Join(want, " ") {
		t.Fatalf("runs %v, want %v", path, want)
	}
	if runs[2].Depth != 1 || runs[1].Depth != 0 || runs[1].Kind != "group" || runs[2].Kind != "kv" {
		t.Errorf("depth and kind: %+v %+v", runs[1], runs[2])
	}
	if !runs[4].Skipped || runs[1].Skipped {
		t.Errorf("skipped: alert group %v, conn group %v", runs[4].Skipped, runs[1].Skipped)
	}
	g := runs[0].Grok
	if g == nil || g.Pattern != 0 || g.Subject != "conn port=443 proto=tcp" || len(g.Parts) < 2 {
		t.Fatalf("grok run %+v", g)
	}
	if g.Parts[0].Name != "WORD" || g.Parts[0].Field != "_tmp.kind" || g.Subject[g.Parts[0].Start:g.Parts[0].End] != "conn" {
		t.Errorf("first part %+v", g.Parts[0])
	}
	if runs[0].Tag != "head" || runs[0].Duration <= 0 {
		t.Errorf("grok run %+v", runs[0])
	}

	ref := &event.Event{Type: "test", Received: received, Fields: map[string]any{"message": "conn port=443 proto=tcp"}}
	_ = plain.Process(context.Background(), ref)
	if d := Diff(ref.Fields, e.Fields); d != "" {
		t.Errorf("the explained pipeline made another document:\n%s", d)
	}

	// A failure: the failing processor's error, and nothing run after it.
	e = &event.Event{Type: "test", Received: received, Fields: map[string]any{"message": "conn port=https"}}
	runs = x.Run(context.Background(), p, e)
	last := runs[len(runs)-1]
	if last.Processor != "processors[3]" || last.Err == nil || !strings.Contains(last.Err.Error(), "https") {
		t.Fatalf("last run %+v", last)
	}
	var f *Failure
	if !errors.As(e.Failure, &f) || f.Processor != "processors[3]" || f.Step() != "processors[3] convert port" {
		t.Errorf("the event's failure %v", e.Failure)
	}
}

// TestFailureOnEvent: a pipeline that fails sets the event's Failure (the console
// reads it); one that succeeds leaves it nil.
func TestFailureOnEvent(t *testing.T) {
	p := buildOne(t, explainedYAML, Deps{})
	ok := &event.Event{Type: "test", Fields: map[string]any{"message": "alert x"}}
	_ = p.Process(context.Background(), ok)
	if ok.Failure != nil {
		t.Errorf("failure %v on an event that parsed", ok.Failure)
	}
	bad := &event.Event{Type: "test", Fields: map[string]any{"message": "-"}}
	_ = p.Process(context.Background(), bad)
	var f *Failure
	if !errors.As(bad.Failure, &f) || f.Step() != "processors[0] grok head" {
		t.Errorf("failure %v", bad.Failure)
	}
}
