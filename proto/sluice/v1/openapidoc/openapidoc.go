// Package openapidoc builds the OpenAPI 3.1 document of sluice's HTTP API, served at
// /openapi.json and /openapi.yaml: a hand-written base document (every path, answer,
// security scheme and example; proto/sluice/v1/openapi.base.yaml) into which Build
// merges the schemas protoc-gen-openapiv2 derives from ingest.proto (Swagger 2.0
// definitions, converted to OpenAPI 3.1 JSON Schema). YAML renders a JSON document as
// YAML, for the generator and for the HTTP receiver alike, so that both give the same
// bytes. It is the code generator's library (scripts/gen.sh), no step of the data path.
package openapidoc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Build returns the OpenAPI 3.1 document, as indented JSON ending in a newline, made
// of base (the hand-written document, YAML) and swagger (protoc-gen-openapiv2's Swagger
// 2.0 output for the proto, JSON).
//
// The proto's definitions become components.schemas of the same names, their
// "#/definitions/" references pointing into components. A schema of the same name in
// base is an overlay: it is merged over the generated one (mappings merge key by key,
// anything else in base replaces the generated value), so that base adds what the proto
// cannot say (required members, patterns, examples) while descriptions stay in the
// proto. Only schemas that the document references are kept. Every operation of the
// swagger document must be in base under the same path, method and operationId; its
// summary and description come from the proto unless base gives them.
//
// The result depends only on the inputs: keys keep the order of base, then of the
// generated schemas.
func Build(base, swagger []byte) ([]byte, error) {
	doc, err := parseYAML(base)
	if err != nil {
		return nil, fmt.Errorf("parse base document: %w", err)
	}
	sw, err := parseYAML(swagger)
	if err != nil {
		return nil, fmt.Errorf("parse swagger document: %w", err)
	}
	if v := get(sw, "swagger"); v == nil || v.Value != "2.0" {
		return nil, errors.New("swagger document: want swagger: \"2.0\"")
	}
	if v := get(doc, "openapi"); v == nil || !strings.HasPrefix(v.Value, "3.1.") {
		return nil, errors.New("base document: want openapi: 3.1.x")
	}
	if err := mergeOperations(doc, sw); err != nil {
		return nil, err
	}
	if err := mergeSchemas(doc, sw); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := writeJSON(&out, doc, 0); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	if !json.Valid(out.Bytes()) {
		return nil, errors.New("built document is not valid JSON")
	}
	return out.Bytes(), nil
}

// YAML renders a JSON document as YAML with the same keys in the same order: block
// style, two-space indentation, multi-line strings as literal blocks.
func YAML(jsonDoc []byte) ([]byte, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(jsonDoc, &n); err != nil {
		return nil, fmt.Errorf("read JSON document: %w", err)
	}
	plain(&n)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, fmt.Errorf("write YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("write YAML: %w", err)
	}
	return buf.Bytes(), nil
}

// plain drops the flow and quoting styles JSON input has, so that the encoder picks
// YAML's usual ones (quoting only strings that would read as another type).
func plain(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		plain(c)
	}
}

func parseYAML(b []byte) (*yaml.Node, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		return nil, err
	}
	if n.Kind != yaml.DocumentNode || len(n.Content) != 1 || n.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("want a mapping at the top")
	}
	return n.Content[0], nil
}

// get returns the value of key in mapping m, or nil.
func get(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// set sets key in mapping m to v, in place or appended.
func set(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, str(key), v)
}

func str(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

// mergeOperations checks that base documents every operation of the REST mapping and
// gives it the proto's summary and description.
func mergeOperations(doc, sw *yaml.Node) error {
	paths := get(sw, "paths")
	if paths == nil {
		return nil
	}
	for i := 0; i+1 < len(paths.Content); i += 2 {
		path, item := paths.Content[i].Value, paths.Content[i+1]
		for j := 0; j+1 < len(item.Content); j += 2 {
			method, op := item.Content[j].Value, item.Content[j+1]
			id := get(op, "operationId")
			if id == nil {
				return fmt.Errorf("swagger document: %s %s has no operationId", method, path)
			}
			baseOp := get(get(get(doc, "paths"), path), method)
			if baseOp == nil {
				return fmt.Errorf("base document lacks %s %s (%s), which the REST mapping serves", strings.ToUpper(method), path, id.Value)
			}
			if got := get(baseOp, "operationId"); got == nil || got.Value != id.Value {
				return fmt.Errorf("base document: %s %s: want operationId %s", strings.ToUpper(method), path, id.Value)
			}
			for _, k := range []string{"summary", "description"} {
				if v := get(op, k); v != nil && get(baseOp, k) == nil {
					set(baseOp, k, str(v.Value))
				}
			}
		}
	}
	return nil
}

const (
	swaggerRefPrefix = "#/definitions/"
	schemaRefPrefix  = "#/components/schemas/"
)

// mergeSchemas converts the swagger definitions, overlays base's schemas of the same
// names, and keeps those the document references.
func mergeSchemas(doc, sw *yaml.Node) error {
	components := get(doc, "components")
	if components == nil {
		components = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		set(doc, "components", components)
	}
	schemas := get(components, "schemas")
	if schemas == nil {
		schemas = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		set(components, "schemas", schemas)
	}
	merged := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	generated := map[string]bool{}
	if defs := get(sw, "definitions"); defs != nil {
		for i := 0; i+1 < len(defs.Content); i += 2 {
			name, def := defs.Content[i].Value, defs.Content[i+1]
			if err := convertSchema(def); err != nil {
				return fmt.Errorf("definition %s: %w", name, err)
			}
			if overlay := get(schemas, name); overlay != nil {
				def = mergeNode(def, overlay)
			}
			set(merged, name, def)
			generated[name] = true
		}
	}
	for i := 0; i+1 < len(schemas.Content); i += 2 {
		if name := schemas.Content[i].Value; !generated[name] {
			set(merged, name, schemas.Content[i+1])
		}
	}
	// Keep what the document reaches from outside components.schemas, and what that
	// reaches in turn.
	reached := map[string]bool{}
	var queue []string
	visit := func(n *yaml.Node) error {
		return refs(n, func(ref string) error {
			name, ok := strings.CutPrefix(ref, schemaRefPrefix)
			if !ok {
				return nil
			}
			if get(merged, name) == nil {
				return fmt.Errorf("reference %s names no schema", ref)
			}
			if !reached[name] {
				reached[name] = true
				queue = append(queue, name)
			}
			return nil
		})
	}
	set(components, "schemas", &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"})
	if err := visit(doc); err != nil {
		return err
	}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if err := visit(get(merged, name)); err != nil {
			return fmt.Errorf("schema %s: %w", name, err)
		}
	}
	kept := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := 0; i+1 < len(merged.Content); i += 2 {
		if reached[merged.Content[i].Value] {
			kept.Content = append(kept.Content, merged.Content[i], merged.Content[i+1])
		}
	}
	set(components, "schemas", kept)
	return nil
}

// convertSchema turns a Swagger 2.0 schema into OpenAPI 3.1 JSON Schema, in place:
// references point into components.schemas, and a "type" beside a "$ref" (which
// protoc-gen-openapiv2 writes for message fields) goes, since the referenced schema
// says it.
func convertSchema(n *yaml.Node) error {
	switch n.Kind {
	case yaml.MappingNode:
		if ref := get(n, "$ref"); ref != nil {
			name, ok := strings.CutPrefix(ref.Value, swaggerRefPrefix)
			if !ok {
				return fmt.Errorf("unexpected reference %q", ref.Value)
			}
			ref.Value = schemaRefPrefix + name
			ref.Style = 0
			kept := n.Content[:0]
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value != "type" {
					kept = append(kept, n.Content[i], n.Content[i+1])
				}
			}
			n.Content = kept
		}
		for i := 1; i < len(n.Content); i += 2 {
			if err := convertSchema(n.Content[i]); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			if err := convertSchema(c); err != nil {
				return err
			}
		}
	}
	return nil
}

// mergeNode returns overlay merged over base: mappings key by key (base's keys first,
// in their order), anything else overlay itself.
func mergeNode(base, overlay *yaml.Node) *yaml.Node {
	if base.Kind != yaml.MappingNode || overlay.Kind != yaml.MappingNode {
		return overlay
	}
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: slices.Clone(base.Content)}
	for i := 0; i+1 < len(overlay.Content); i += 2 {
		k, v := overlay.Content[i].Value, overlay.Content[i+1]
		if b := get(out, k); b != nil {
			v = mergeNode(b, v)
		}
		set(out, k, v)
	}
	return out
}

// refs calls f with every "$ref" value under n.
func refs(n *yaml.Node, f func(string) error) error {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "$ref" && n.Content[i+1].Kind == yaml.ScalarNode {
				if err := f(n.Content[i+1].Value); err != nil {
					return err
				}
			}
		}
	}
	for _, c := range n.Content {
		if err := refs(c, f); err != nil {
			return err
		}
	}
	return nil
}

var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// writeJSON writes n as JSON indented by two spaces, keys in their order. YAML
// timestamps (an unquoted date in the base document) are written as strings; a scalar
// that JSON cannot hold (.inf, 0x10) is an error.
func writeJSON(w *bytes.Buffer, n *yaml.Node, depth int) error {
	indent := func(d int) {
		w.WriteByte('\n')
		w.WriteString(strings.Repeat("  ", d))
	}
	switch n.Kind {
	case yaml.AliasNode:
		return writeJSON(w, n.Alias, depth)
	case yaml.MappingNode:
		if len(n.Content) == 0 {
			w.WriteString("{}")
			return nil
		}
		w.WriteByte('{')
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: a mapping key must be a scalar", k.Line)
			}
			if seen[k.Value] {
				return fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
			}
			seen[k.Value] = true
			if i > 0 {
				w.WriteByte(',')
			}
			indent(depth + 1)
			writeString(w, k.Value)
			w.WriteString(": ")
			if err := writeJSON(w, n.Content[i+1], depth+1); err != nil {
				return err
			}
		}
		indent(depth)
		w.WriteByte('}')
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			w.WriteString("[]")
			return nil
		}
		w.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				w.WriteByte(',')
			}
			indent(depth + 1)
			if err := writeJSON(w, c, depth+1); err != nil {
				return err
			}
		}
		indent(depth)
		w.WriteByte(']')
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str", "!!timestamp", "!!binary":
			writeString(w, n.Value)
		case "!!null":
			w.WriteString("null")
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				return fmt.Errorf("line %d: %w", n.Line, err)
			}
			fmt.Fprint(w, b)
		case "!!int", "!!float":
			if !jsonNumber.MatchString(n.Value) {
				return fmt.Errorf("line %d: %q is no JSON number: quote it if it is a string", n.Line, n.Value)
			}
			w.WriteString(n.Value)
		default:
			return fmt.Errorf("line %d: unsupported tag %s", n.Line, n.Tag)
		}
	default:
		return fmt.Errorf("line %d: unsupported YAML node", n.Line)
	}
	return nil
}

func writeString(w *bytes.Buffer, s string) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)       // a string always encodes
	w.Truncate(w.Len() - 1) // Encode's newline
}
