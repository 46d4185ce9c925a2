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
// Other strings become keywords.
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
	t := map[string]any{
		"priority": 200,
		"template": map[string]any{"mappings": mappings},
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

// installTemplate writes the index template; writing the same template again changes
// nothing.
func (s *Sink) installTemplate(ctx context.Context) error {
	body, err := json.Marshal(s.template())
	if err != nil {
		return fmt.Errorf("encode index template: %w", err)
	}
	status, answer, err := s.eng.Do(ctx, http.MethodPut, "/_index_template/"+s.TemplateName(), body)
	if err != nil {
		return fmt.Errorf("install index template %s: %w", s.TemplateName(), err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("install index template %s: status %d: %s", s.TemplateName(), status, truncate(string(answer), 300))
	}
	return nil
}
