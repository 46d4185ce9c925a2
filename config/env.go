package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/internal/yamlx"
)

// EnvPrefix starts every environment variable that overrides a field.
const EnvPrefix = "SLUICE_"

// decodeYAML decodes data over c, refusing unknown fields. yaml.v3 collects every type
// error and unknown field of a document into one error. A map the file sets replaces
// the default map rather than merging into it (as lists do, and as the environment
// does), so that a file can drop default routes.
func decodeYAML(data []byte, c *Config) error {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	if err := yamlx.UniqueKeys(&doc); err != nil {
		return err
	}
	if len(doc.Content) == 1 {
		clearSetMaps(doc.Content[0], reflect.ValueOf(c).Elem())
	}
	dec = yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// clearSetMaps sets to nil every map field of v that the mapping node n gives a value.
func clearSetMaps(n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode || v.Kind() != reflect.Struct {
		return
	}
	t := v.Type()
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i].Value, n.Content[i+1]
		for j := 0; j < t.NumField(); j++ {
			name, _, _ := strings.Cut(t.Field(j).Tag.Get("yaml"), ",")
			if name != key || !t.Field(j).IsExported() {
				continue
			}
			switch fv := v.Field(j); fv.Kind() {
			case reflect.Map:
				if val.Kind == yaml.MappingNode {
					fv.SetZero()
				}
			case reflect.Struct:
				clearSetMaps(val, fv)
			}
		}
	}
}

// field is one leaf of the configuration tree.
type field struct {
	path string // yaml path, such as gateway.limits.max_body_bytes
	env  string // SLUICE_GATEWAY_LIMITS_MAX_BODY_BYTES
	doc  string
	v    reflect.Value
}

// EnvName returns the environment variable of a field path.
func EnvName(path string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// leaves lists the configurable fields of v (a pointer to a struct): struct fields are
// descended into, anything else (numbers, strings, durations, sizes, lists, maps) is a
// leaf set as a whole.
func leaves(v reflect.Value, prefix string) []field {
	var out []field
	eachField(v.Elem(), prefix, func(path string, sf reflect.StructField, fv reflect.Value) {
		if fv.Kind() == reflect.Struct && !isScalarStruct(fv.Type()) {
			out = append(out, leaves(fv.Addr(), path+".")...)
			return
		}
		out = append(out, field{path: path, env: EnvName(path), doc: sf.Tag.Get("doc"), v: fv})
	})
	return out
}

// eachField calls f with the path (prefix and YAML name), type field and value of each
// field of the struct v that the configuration file can set: exported, with a YAML
// name.
func eachField(v reflect.Value, prefix string, f func(path string, sf reflect.StructField, fv reflect.Value)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !sf.IsExported() {
			continue
		}
		f(prefix+name, sf, v.Field(i))
	}
}

// isScalarStruct reports struct types that configuration treats as one value.
func isScalarStruct(t reflect.Type) bool {
	_, ok := reflect.New(t).Interface().(yaml.Unmarshaler)
	return ok
}

// applyEnv sets every field whose variable is set. A string field takes the value as
// it is; any other field parses it as YAML (so lists and maps are written in flow
// style, e.g. SLUICE_GATEWAY_ROUTING_TYPE_FIELDS='[fields.log_type, event.dataset]').
func applyEnv(c *Config, env func(string) (string, bool)) []error {
	var errs []error
	for _, f := range leaves(reflect.ValueOf(c), "") {
		val, ok := env(f.env)
		if !ok {
			continue
		}
		if f.v.Kind() == reflect.String {
			f.v.SetString(val)
			continue
		}
		if strings.TrimSpace(val) == "" {
			errs = append(errs, fmt.Errorf("%s (for %s): empty value; unset the variable to keep the default", f.env, f.path))
			continue
		}
		fresh := reflect.New(f.v.Type())
		var doc yaml.Node
		err := yaml.Unmarshal([]byte(val), &doc)
		if err == nil {
			err = yamlx.UniqueKeys(&doc)
		}
		if err == nil {
			err = yaml.Unmarshal([]byte(val), fresh.Interface())
		}
		if err != nil {
			// One problem per type error, each naming the variable, as Load does.
			var te *yaml.TypeError
			if errors.As(err, &te) {
				for _, e := range te.Errors {
					errs = append(errs, fmt.Errorf("%s (for %s): %s", f.env, f.path, hintTypeError(e)))
				}
			} else {
				errs = append(errs, fmt.Errorf("%s (for %s): %w", f.env, f.path, err))
			}
			continue
		}
		f.v.Set(fresh.Elem())
	}
	return errs
}

// Document renders c as YAML with each field's meaning and environment variable as
// comments: the reference of every setting, printed by `sluice defaults`.
func Document(c Config) ([]byte, error) {
	var root yaml.Node
	if err := root.Encode(c); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	comment(&root, reflect.TypeOf(c), "")
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return buf.Bytes(), nil
}

// comment walks a mapping node alongside its struct type and attaches the doc tags.
func comment(n *yaml.Node, t reflect.Type, prefix string) {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		comment(n.Content[0], t, prefix)
		return
	}
	if n.Kind != yaml.MappingNode || t.Kind() != reflect.Struct {
		return
	}
	docs := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		docs[name] = sf
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		sf, ok := docs[key.Value]
		if !ok {
			continue
		}
		path := prefix + key.Value
		doc := sf.Tag.Get("doc")
		if sf.Type.Kind() == reflect.Struct && !isScalarStruct(sf.Type) {
			key.HeadComment = doc
			comment(val, sf.Type, path+".")
			continue
		}
		if doc != "" {
			doc += " "
		}
		key.HeadComment = doc + "(" + EnvName(path) + ")"
	}
}
