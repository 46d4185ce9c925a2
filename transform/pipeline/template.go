package pipeline

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/sluice-siem/sluice/transform/event"
)

// template is a string with field references, compiled once: "{{source.ip}}" or
// "{{{source.ip}}}" (the mustache forms ES ingest uses) stand for the field's value; a
// missing field renders empty. There is no other logic: no sections, no escaping.
type template struct {
	parts []tplPart
}

type tplPart struct {
	lit   string
	field event.Path
	ref   bool
}

// parseTemplate compiles s.
func parseTemplate(s string) (template, error) {
	var t template
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			if s != "" {
				t.parts = append(t.parts, tplPart{lit: s})
			}
			return t, nil
		}
		if i > 0 {
			t.parts = append(t.parts, tplPart{lit: s[:i]})
		}
		s = s[i+2:]
		closing := "}}"
		if strings.HasPrefix(s, "{") {
			s, closing = s[1:], "}}}"
		}
		j := strings.Index(s, closing)
		if j < 0 {
			return template{}, fmt.Errorf("template: %s without closing %s", "{{"+truncate(s, 30), closing)
		}
		name := strings.TrimSpace(s[:j])
		if name == "" || strings.ContainsAny(name, "{} ") {
			return template{}, fmt.Errorf("template: %q is not a field name", name)
		}
		t.parts = append(t.parts, tplPart{field: event.ParsePath(name), ref: true})
		s = s[j+len(closing):]
	}
}

// static reports whether the template has no field references.
func (t template) static() bool {
	for _, p := range t.parts {
		if p.ref {
			return false
		}
	}
	return true
}

// render returns the template's text for e.
func (t template) render(e *event.Event) string {
	switch len(t.parts) {
	case 0:
		return ""
	case 1:
		if !t.parts[0].ref {
			return t.parts[0].lit
		}
		v, _ := e.GetPath(t.parts[0].field)
		return valueString(v)
	}
	var b strings.Builder
	for _, p := range t.parts {
		if !p.ref {
			b.WriteString(p.lit)
			continue
		}
		v, _ := e.GetPath(p.field)
		b.WriteString(valueString(v))
	}
	return b.String()
}

// renderValue is render as a value to store: a template that is one reference to a
// string field gives that field's value as it is boxed already, so storing it
// allocates nothing.
func (t template) renderValue(e *event.Event) any {
	if len(t.parts) == 1 && t.parts[0].ref {
		if v, _ := e.GetPath(t.parts[0].field); v != nil {
			if _, ok := v.(string); ok {
				return v
			}
		}
	}
	return t.render(e)
}

// valueString renders a field value as text: strings as they are, numbers as
// written, objects and arrays as JSON, null and missing as empty.
func valueString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return string(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case int:
		return strconv.Itoa(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(b)
	}
}
