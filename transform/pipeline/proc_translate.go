package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/transform/event"
)

type translateOptions struct {
	Field         string    `yaml:"field"`
	TargetField   string    `yaml:"target_field"`
	Dictionary    yaml.Node `yaml:"dictionary"`
	Fallback      yaml.Node `yaml:"fallback"`
	Override      *bool     `yaml:"override"`
	IgnoreMissing bool      `yaml:"ignore_missing"`
}

// translateProc sets fields from a static table keyed by the value of a field, as
// Logstash's translate filter does and the parameter tables of Elastic's integration
// scripts do (a message ID to its event.action, event.type and event.outcome; a
// severity number to its name): one map lookup in place of a chain of conditional
// sets.
//
// The key is the field's value as text: a string as it is, a boolean as true or false,
// a number in decimal without an exponent (6, 1.5, 1000000000000000000000). dictionary maps keys to what they set: with
// target_field, any value, written there; without, an object of field paths and the
// values to set them to ({event.action: flow-creation, event.type: [connection,
// start]}). A key the dictionary does not have sets fallback if given, else nothing;
// a missing field fails unless ignore_missing. Existing fields are replaced unless
// override is false. Values are copied for each event. YAML aliases let entries
// share a value (&name on the first, *name on the others).
type translateProc struct {
	field         event.Path
	table         map[string][]assignment
	fallback      []assignment
	override      bool
	ignoreMissing bool
}

// assignment is one field a dictionary entry sets.
type assignment struct {
	path      event.Path
	value     any
	composite bool // an object or array: copied per event
}

func newTranslate(node *yaml.Node, _ *Deps) (event.Processor, error) {
	var o translateOptions
	given, errs := decodeOptions(node, &o)
	if err := requireField("field", o.Field, given["field"]); err != nil {
		errs = append(errs, err)
	}
	var target *event.Path
	if given["target_field"] != nil {
		if err := requireField("target_field", o.TargetField, given["target_field"]); err != nil {
			errs = append(errs, err)
		}
		t := event.ParsePath(o.TargetField)
		target = &t
	}
	p := &translateProc{field: event.ParsePath(o.Field), override: o.Override == nil || *o.Override,
		ignoreMissing: o.IgnoreMissing, table: map[string][]assignment{}}
	// entry turns a dictionary value into its assignments.
	entry := func(option string, n *yaml.Node) ([]assignment, error) {
		v, err := yamlValue(n)
		if err != nil {
			return nil, optErr(option, n, "%v", err)
		}
		if target != nil {
			return []assignment{newAssignment(*target, v)}, nil
		}
		fields, ok := v.(map[string]any)
		if !ok || len(fields) == 0 {
			return nil, optErr(option, n, "want an object of field paths and values (or give target_field)")
		}
		var out []assignment
		// Sorted, so that errors and the order of assignments do not depend on map order.
		for _, name := range slices.Sorted(maps.Keys(fields)) {
			if err := requireField(option, name, n); err != nil {
				return nil, err
			}
			out = append(out, newAssignment(event.ParsePath(name), fields[name]))
		}
		return out, nil
	}
	switch d := given["dictionary"]; {
	case d == nil:
		errs = append(errs, optErr("dictionary", node, "required: a mapping of keys to what they set"))
	case d.Kind != yaml.MappingNode || len(d.Content) == 0:
		errs = append(errs, optErr("dictionary", d, "want a mapping of keys to what they set"))
	default:
		for i := 0; i+1 < len(d.Content); i += 2 {
			k := d.Content[i]
			if k.Kind != yaml.ScalarNode {
				errs = append(errs, optErr("dictionary", k, "a key must be a string, number or boolean"))
				continue
			}
			if _, dup := p.table[k.Value]; dup {
				errs = append(errs, optErr("dictionary", k, "key %q given twice", k.Value))
				continue
			}
			a, err := entry("dictionary."+k.Value, d.Content[i+1])
			if err != nil {
				errs = append(errs, err)
				continue
			}
			p.table[k.Value] = a
		}
	}
	if f := given["fallback"]; f != nil {
		a, err := entry("fallback", f)
		if err != nil {
			errs = append(errs, err)
		}
		p.fallback = a
	}
	return p, errors.Join(errs...)
}

func newAssignment(path event.Path, v any) assignment {
	switch v.(type) {
	case map[string]any, []any:
		return assignment{path: path, value: v, composite: true}
	}
	return assignment{path: path, value: v}
}

// translateKey is the text of a key value, or ok=false for a value that has none (an
// object, an array, null).
func translateKey(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case int64:
		return strconv.FormatInt(v, 10), true
	case int:
		return strconv.Itoa(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

func (p *translateProc) Process(_ context.Context, e *event.Event) error {
	v, ok := e.GetPath(p.field)
	if !ok {
		if p.ignoreMissing {
			return nil
		}
		return missing(p.field.String())
	}
	key, ok := translateKey(v)
	if !ok {
		return fmt.Errorf("field %s: is a %s, not a string, number or boolean", p.field, event.Kind(v))
	}
	set, found := p.table[key]
	if !found {
		set = p.fallback
	}
	for _, a := range set {
		if !p.override {
			if _, exists := e.GetPath(a.path); exists {
				continue
			}
		}
		val := a.value
		if a.composite {
			val = deepCopy(val)
		}
		if err := e.SetPath(a.path, val); err != nil {
			return fmt.Errorf("field %s: set %s: %w", p.field, a.path, err)
		}
	}
	return nil
}
