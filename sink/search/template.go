package search

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// TemplateName is the name of the index template New installs.
func (s *Sink) TemplateName() string {
	if s.cfg.Layout == LayoutDaily {
		return s.cfg.IndexPrefix
	}
	return "sluice-logs-" + s.cfg.Namespace
}

// template is the index template of the configured layout: the index patterns sluice
// writes to, a data stream for the data_stream layout, and the mappings of the ECS
// fields whose type dynamic mapping would guess wrong (addresses, ports, geo points).
// Other strings become keywords. Under ILM the settings name the policy (and daily
// indices take their ILM age from the date in their name).
func (s *Sink) template() map[string]any {
	obj := func(props map[string]any) map[string]any { return map[string]any{"properties": props} }
	typ := func(t string) map[string]any { return map[string]any{"type": t} }
	endpoint := obj(map[string]any{
		"ip":   typ("ip"),
		"port": typ("long"),
		"geo":  obj(map[string]any{"location": typ("geo_point")}),
	})
	mappings := map[string]any{
		"dynamic_templates": []any{map[string]any{"strings": map[string]any{
			"match_mapping_type": "string",
			"mapping":            map[string]any{"type": "keyword", "ignore_above": 1024},
		}}},
		"properties": map[string]any{
			"@timestamp":  typ("date"),
			"message":     typ("text"),
			"source":      endpoint,
			"destination": endpoint,
			"client":      endpoint,
			"server":      endpoint,
			"host":        obj(map[string]any{"name": typ("keyword"), "ip": typ("ip")}),
			"event": obj(map[string]any{
				"dataset": typ("keyword"), "action": typ("keyword"), "category": typ("keyword"),
				"outcome": typ("keyword"), "severity": typ("long"),
			}),
			"network": obj(map[string]any{"transport": typ("keyword"), "bytes": typ("long")}),
		},
	}
	body := map[string]any{"mappings": mappings}
	if s.lifecycle == lifecycleILM {
		// Nested and with string values, the form the engine answers with, so that
		// the template compares equal when read back.
		ilm := map[string]any{"name": s.PolicyName()}
		if s.cfg.Layout == LayoutDaily {
			ilm["parse_origination_date"] = "true"
		}
		body["settings"] = map[string]any{"index": map[string]any{"lifecycle": ilm}}
	}
	t := map[string]any{
		"priority": 200,
		"template": body,
		"_meta":    map[string]any{"managed_by": "sluice"},
	}
	if s.cfg.Layout == LayoutDaily {
		t["index_patterns"] = []string{s.cfg.IndexPrefix + "-*"}
	} else {
		t["index_patterns"] = []string{"logs-*-" + s.cfg.Namespace}
		t["data_stream"] = map[string]any{}
	}
	return t
}

// installTemplate reads the index template and writes it only when it differs from
// template (a value changed or missing; what the engine adds, such as the data stream's
// timestamp field, does not count), so starting again writes nothing.
func (s *Sink) installTemplate(ctx context.Context) error {
	name := s.TemplateName()
	path := "/_index_template/" + name
	want := normalize(s.template())
	status, answer, err := s.eng.Do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return fmt.Errorf("read index template %s: %w", name, err)
	}
	switch status {
	case http.StatusOK:
		var current struct {
			IndexTemplates []struct {
				Name          string `json:"name"`
				IndexTemplate any    `json:"index_template"`
			} `json:"index_templates"`
		}
		if err := json.Unmarshal(answer, &current); err != nil {
			return fmt.Errorf("read index template %s: decode answer: %w", name, err)
		}
		for _, t := range current.IndexTemplates {
			if t.Name == name && subset(want, t.IndexTemplate) {
				return nil
			}
		}
	case http.StatusNotFound:
	default:
		return fmt.Errorf("read index template %s: status %d: %s", name, status, truncate(string(answer), 300))
	}
	if err := s.put(ctx, path, want, "install index template "+name); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "index template written", "template", name)
	return nil
}
