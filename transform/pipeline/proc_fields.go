package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/transform/event"
)

// This file holds the processors that move and shape fields: set, rename, remove,
// convert, lowercase, uppercase, append, drop.

// requireField checks a required field-path option.
func requireField(option, value string, node *yaml.Node) error {
	if strings.TrimSpace(value) == "" {
		return optErr(option, node, "required")
	}
	if strings.HasPrefix(value, ".") || strings.HasSuffix(value, ".") || strings.Contains(value, "..") {
		return optErr(option, node, "%q is not a field path", value)
	}
	return nil
}

// missing is the error of a field that is not there.
func missing(field string) error { return fmt.Errorf("field %s: not found", field) }

// --- set

type setOptions struct {
	Field            string    `yaml:"field"`
	Value            yaml.Node `yaml:"value"`
	CopyFrom         string    `yaml:"copy_from"`
	Expr             string    `yaml:"expr"`
	Override         *bool     `yaml:"override"`
	IgnoreEmptyValue bool      `yaml:"ignore_empty_value"`
}

// setProc sets a field to a constant, a template, a copy of another field, or the
// value of an expression.
type setProc struct {
	field       event.Path
	value       any // constant; copied per event when composite
	tpl         *template
	copyFrom    *event.Path
	expr        *program
	override    bool
	ignoreEmpty bool
}

func newSet(node *yaml.Node, _ *Deps) (event.Processor, error) {
	var o setOptions
	given, errs := decodeOptions(node, &o)
	if err := requireField("field", o.Field, given["field"]); err != nil {
		errs = append(errs, err)
	}
	p := &setProc{field: event.ParsePath(o.Field), override: o.Override == nil || *o.Override, ignoreEmpty: o.IgnoreEmptyValue}
	n := 0
	for _, k := range []string{"value", "copy_from", "expr"} {
		if given[k] != nil {
			n++
		}
	}
	if n != 1 {
		errs = append(errs, optErr("value", node, "give exactly one of value, copy_from and expr"))
	}
	switch {
	case given["value"] != nil:
		v, err := yamlValue(&o.Value)
		if err != nil {
			errs = append(errs, optErr("value", given["value"], "%v", err))
		}
		if s, ok := v.(string); ok {
			t, err := parseTemplate(s)
			if err != nil {
				errs = append(errs, optErr("value", given["value"], "%v", err))
			} else if !t.static() {
				p.tpl = &t
			}
		}
		p.value = v
	case given["copy_from"] != nil:
		if err := requireField("copy_from", o.CopyFrom, given["copy_from"]); err != nil {
			errs = append(errs, err)
		}
		path := event.ParsePath(o.CopyFrom)
		p.copyFrom = &path
	case given["expr"] != nil:
		prog, err := compileExpr(o.Expr)
		if err != nil {
			errs = append(errs, optErr("expr", given["expr"], "%s", oneLine(err)))
		}
		p.expr = prog
	}
	return p, errors.Join(errs...)
}

func (p *setProc) Process(_ context.Context, e *event.Event) error {
	if !p.override {
		if _, ok := e.GetPath(p.field); ok {
			return nil
		}
	}
	var v any
	switch {
	case p.tpl != nil:
		v = p.tpl.renderValue(e)
	case p.copyFrom != nil:
		src, ok := e.GetPath(*p.copyFrom)
		if !ok {
			if p.ignoreEmpty {
				return nil
			}
			return missing(p.copyFrom.String())
		}
		v = deepCopy(src)
	case p.expr != nil:
		out, err := p.expr.eval(e)
		if err != nil {
			return fmt.Errorf("field %s: expr: %w", p.field, err)
		}
		if v, err = jsonShaped(out); err != nil {
			return fmt.Errorf("field %s: expr: %w", p.field, err)
		}
	default:
		v = deepCopy(p.value)
	}
	if p.ignoreEmpty && (v == nil || v == "") {
		return nil
	}
	if err := e.SetPath(p.field, v); err != nil {
		return fmt.Errorf("field %s: %w", p.field, err)
	}
	return nil
}

// jsonShaped turns an expression's result into a field value, JSON-shaped as
// event.Event.Fields must be, copying objects and arrays: integers of every Go type
// become int64 (durations their nanoseconds; an unsigned one beyond int64 a float64),
// floats float64, times RFC 3339 text, arrays and maps of any element type []any and
// map[string]any. NaN, infinities and values JSON has no form for are an error.
func jsonShaped(v any) (any, error) {
	switch v := v.(type) {
	case nil, string, bool, int64, json.Number:
		return v, nil
	case int:
		return int64(v), nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%v is not a JSON number", v)
		}
		return v, nil
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano), nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if u := rv.Uint(); u <= math.MaxInt64 {
			return int64(u), nil
		}
		return float64(rv.Uint()), nil
	case reflect.Float32, reflect.Float64:
		return jsonShaped(rv.Float())
	case reflect.String:
		return rv.String(), nil
	case reflect.Bool:
		return rv.Bool(), nil
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil, nil
		}
		return jsonShaped(rv.Elem().Interface())
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return nil, nil
		}
		out := make([]any, rv.Len())
		for i := range out {
			x, err := jsonShaped(rv.Index(i).Interface())
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = x
		}
		return out, nil
	case reflect.Map:
		// String keys, or keys of an interface type that all hold strings (expr's
		// fromPairs builds a map[any]any).
		keyKind := rv.Type().Key().Kind()
		if keyKind != reflect.String && keyKind != reflect.Interface {
			break
		}
		out := make(map[string]any, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			k := it.Key()
			if keyKind == reflect.Interface {
				if k = k.Elem(); !k.IsValid() || k.Kind() != reflect.String {
					return nil, fmt.Errorf("a map key %v is not a string", it.Key().Interface())
				}
			}
			x, err := jsonShaped(it.Value().Interface())
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k.String(), err)
			}
			out[k.String()] = x
		}
		return out, nil
	}
	return nil, fmt.Errorf("a %T is not a JSON value", v)
}

// --- rename

type renameOptions struct {
	Field         string    `yaml:"field"`
	TargetField   string    `yaml:"target_field"`
	Fields        yaml.Node `yaml:"fields"`
	IgnoreMissing bool      `yaml:"ignore_missing"`
	Override      bool      `yaml:"override"`
}

type renamePair struct{ from, to event.Path }

// renameProc moves fields. With fields (a mapping from -> to, in order) it renames
// many at once; a missing one is skipped only with ignore_missing.
type renameProc struct {
	pairs []renamePair
	// paths holds each pair's from and to (2i and 2i+1), so that a rename of many
	// fields looks their parent objects up once per event.
	paths         *event.Targets
	ignoreMissing bool
	override      bool
}

func newRename(node *yaml.Node, _ *Deps) (event.Processor, error) {
	var o renameOptions
	given, errs := decodeOptions(node, &o)
	p := &renameProc{ignoreMissing: o.IgnoreMissing, override: o.Override}
	if given["fields"] != nil {
		if given["field"] != nil || given["target_field"] != nil {
			errs = append(errs, optErr("fields", given["fields"], "give either fields or field and target_field"))
		}
		if o.Fields.Kind != yaml.MappingNode || len(o.Fields.Content) == 0 {
			errs = append(errs, optErr("fields", given["fields"], "want a mapping of field -> new name"))
		}
		for i := 0; i+1 < len(o.Fields.Content); i += 2 {
			from, to := o.Fields.Content[i].Value, o.Fields.Content[i+1].Value
			for _, f := range []string{from, to} {
				if err := requireField("fields", f, o.Fields.Content[i]); err != nil {
					errs = append(errs, err)
				}
			}
			p.pairs = append(p.pairs, renamePair{event.ParsePath(from), event.ParsePath(to)})
		}
	} else {
		for _, opt := range []struct{ name, v string }{{"field", o.Field}, {"target_field", o.TargetField}} {
			if err := requireField(opt.name, opt.v, given[opt.name]); err != nil {
				errs = append(errs, err)
			}
		}
		p.pairs = []renamePair{{event.ParsePath(o.Field), event.ParsePath(o.TargetField)}}
	}
	var paths []event.Path
	for _, r := range p.pairs {
		paths = append(paths, r.from, r.to)
	}
	p.paths = event.NewTargets(paths)
	return p, errors.Join(errs...)
}

func (p *renameProc) Process(_ context.Context, e *event.Event) error {
	w := p.paths.Writer(e)
	for i, r := range p.pairs {
		// Take the value, then store it where nothing is. The rare failures put the
		// value back where it came from.
		v, ok := w.Take(2 * i)
		if !ok {
			if p.ignoreMissing {
				continue
			}
			return missing(r.from.String())
		}
		var exists bool
		var err error
		if p.override {
			err = w.Set(2*i+1, v)
		} else {
			exists, err = w.SetNew(2*i+1, v)
		}
		if exists || err != nil {
			_ = e.SetPath(r.from, v) // put it back: it came from there
			if exists {
				return fmt.Errorf("field %s: target %s exists (set override: true to replace it)", r.from, r.to)
			}
			return fmt.Errorf("field %s: rename to %s: %w", r.from, r.to, err)
		}
	}
	return nil
}

// --- remove

type removeOptions struct {
	Field         stringList `yaml:"field"`
	Keep          stringList `yaml:"keep"`
	IgnoreMissing bool       `yaml:"ignore_missing"`
}

// removeProc removes fields, or every top-level field but the ones to keep.
type removeProc struct {
	fields        []event.Path
	keep          map[string]bool
	ignoreMissing bool
}

func newRemove(node *yaml.Node, _ *Deps) (event.Processor, error) {
	var o removeOptions
	given, errs := decodeOptions(node, &o)
	p := &removeProc{ignoreMissing: o.IgnoreMissing}
	if (len(o.Field) == 0) == (len(o.Keep) == 0) {
		errs = append(errs, optErr("field", node, "give either field or keep"))
	}
	for _, f := range o.Field {
		if err := requireField("field", f, given["field"]); err != nil {
			errs = append(errs, err)
		}
		p.fields = append(p.fields, event.ParsePath(f))
	}
	if len(o.Keep) > 0 {
		p.keep = map[string]bool{}
		for _, f := range o.Keep {
			if strings.Contains(f, ".") {
				errs = append(errs, optErr("keep", given["keep"], "%q: keep takes top-level fields", f))
			}
			p.keep[f] = true
		}
	}
	return p, errors.Join(errs...)
}

func (p *removeProc) Process(_ context.Context, e *event.Event) error {
	if p.keep != nil {
		for k := range e.Fields {
			if !p.keep[k] {
				delete(e.Fields, k)
			}
		}
		return nil
	}
	for _, f := range p.fields {
		if !e.DeletePath(f) && !p.ignoreMissing {
			return missing(f.String())
		}
	}
	return nil
}

// --- convert

type convertOptions struct {
	Field         string `yaml:"field"`
	TargetField   string `yaml:"target_field"`
	Type          string `yaml:"type"`
	IgnoreMissing bool   `yaml:"ignore_missing"`
}

// convertProc converts a field (each element of an array) to a type. Besides the
// types of ES ingest's convert, mac writes a MAC address (any notation net.ParseMAC
// reads: 00:16:3e:4a:5b:6c, 00-16-3E-4A-5B-6C, 0016.3e4a.5b6c) as ECS suggests
// (RFC 7042): uppercase hexadecimal octets separated by hyphens, 00-16-3E-4A-5B-6C.
type convertProc struct {
	field, target event.Path
	inPlace       bool // target is field: the value is replaced where it was found
	typ           string
	ignoreMissing bool
}

// convertTypes are the types the convert processor converts to; the first five,
// textTypes, are those of text (convertText), which csv's convert takes too.
var convertTypes = []string{"integer", "long", "float", "double", "boolean", "ip", "mac", "string", "auto"}

var textTypes = convertTypes[:5]

// conversion returns the name of a conversion type among allowed, the short names
// int and bool (as Elasticsearch's convert takes them) as integer and boolean, or an
// error that names the choices.
func conversion(typ string, allowed []string) (string, error) {
	switch typ {
	case "int":
		typ = "integer"
	case "bool":
		typ = "boolean"
	}
	if !slices.Contains(allowed, typ) {
		return "", fmt.Errorf("want %s or %s, not %q", strings.Join(allowed[:len(allowed)-1], ", "), allowed[len(allowed)-1], typ)
	}
	return typ, nil
}

func newConvert(node *yaml.Node, _ *Deps) (event.Processor, error) {
	var o convertOptions
	given, errs := decodeOptions(node, &o)
	if err := requireField("field", o.Field, given["field"]); err != nil {
		errs = append(errs, err)
	}
	if o.TargetField == "" {
		o.TargetField = o.Field
	}
	typ, err := conversion(o.Type, convertTypes)
	if err != nil {
		errs = append(errs, optErr("type", given["type"], "%v", err))
	}
	o.Type = typ
	return &convertProc{field: event.ParsePath(o.Field), target: event.ParsePath(o.TargetField), inPlace: o.TargetField == o.Field,
		typ: o.Type, ignoreMissing: o.IgnoreMissing}, errors.Join(errs...)
}

func (p *convertProc) Process(_ context.Context, e *event.Event) error {
	v, obj, key, ok := e.Lookup(p.field)
	if !ok {
		if p.ignoreMissing {
			return nil
		}
		return missing(p.field.String())
	}
	var out any
	var err error
	if list, isList := v.([]any); isList {
		converted := make([]any, len(list))
		for i, x := range list {
			if converted[i], err = convertValue(x, p.typ); err != nil {
				break
			}
		}
		out = converted
	} else {
		out, err = convertValue(v, p.typ)
	}
	if err != nil {
		return fmt.Errorf("field %s: %w", p.field, err)
	}
	return setFound(e, p.target, p.inPlace, obj, key, out)
}

// setFound stores v at target: where Lookup found the value it replaces when the
// processor writes in place, else by walking target.
func setFound(e *event.Event, target event.Path, inPlace bool, obj map[string]any, key string, v any) error {
	if inPlace {
		obj[key] = v
		return nil
	}
	if err := e.SetPath(target, v); err != nil {
		return fmt.Errorf("field %s: %w", target, err)
	}
	return nil
}

// convertText converts text to typ (integer, long, float, double or boolean) as
// convertValue converts a string; ok is false when it does not. It takes the text as
// a string, so that a caller holding one (csv) boxes only the result.
func convertText(s, typ string) (v any, ok bool) {
	switch typ {
	case "integer", "long":
		if i, err := strconv.ParseInt(strings.TrimSpace(s), 0, 64); err == nil {
			return i, true
		}
	case "float", "double":
		if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f, true
		}
	case "boolean":
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return nil, false
}

// convertValue converts one value. Numbers convert between kinds only without loss.
func convertValue(v any, typ string) (any, error) {
	s, isText := textOf(v)
	switch typ {
	case "string":
		if _, composite := v.(map[string]any); composite || v == nil {
			return nil, fmt.Errorf("cannot convert a %s to a string", event.Kind(v))
		}
		return valueString(v), nil
	case "integer", "long":
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
				return int64(x), nil
			}
			return nil, fmt.Errorf("cannot convert %v to an integer without loss", x)
		}
		if isText {
			if i, ok := convertText(s, typ); ok {
				return i, nil
			}
		}
		return nil, fmt.Errorf("cannot convert %s to an integer", describe(v))
	case "float", "double":
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		}
		if isText {
			if f, ok := convertText(s, typ); ok {
				return f, nil
			}
		}
		return nil, fmt.Errorf("cannot convert %s to a float", describe(v))
	case "boolean":
		if b, ok := v.(bool); ok {
			return b, nil
		}
		if isText {
			if b, ok := convertText(s, typ); ok {
				return b, nil
			}
		}
		return nil, fmt.Errorf("cannot convert %s to a boolean", describe(v))
	case "ip":
		if str, ok := v.(string); ok {
			if a, err := netip.ParseAddr(strings.TrimSpace(str)); err == nil {
				return a.String(), nil
			}
		}
		return nil, fmt.Errorf("%s is not an IP address", describe(v))
	case "mac":
		if str, ok := v.(string); ok {
			if hw, err := net.ParseMAC(strings.TrimSpace(str)); err == nil {
				return macString(hw), nil
			}
		}
		return nil, fmt.Errorf("%s is not a MAC address", describe(v))
	case "auto":
		str, ok := v.(string)
		if !ok {
			return v, nil
		}
		if i, err := strconv.ParseInt(str, 10, 64); err == nil {
			return i, nil
		}
		if f, err := strconv.ParseFloat(str, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f, nil
		}
		switch strings.ToLower(str) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return str, nil
	}
	return nil, fmt.Errorf("unknown type %s", typ)
}

// macString writes a MAC address as ECS suggests: two uppercase hexadecimal digits per
// octet, separated by hyphens.
func macString(hw net.HardwareAddr) string {
	const digits = "0123456789ABCDEF"
	var buf [60]byte // net.ParseMAC reads at most 20 octets
	b := buf[:0]
	for i, o := range hw {
		if i > 0 {
			b = append(b, '-')
		}
		b = append(b, digits[o>>4], digits[o&0x0f])
	}
	return string(b)
}

// textOf returns the text of a string or a number as decoded from JSON.
func textOf(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return string(v), true
	}
	return "", false
}

// describe names a value in an error, shortened.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(truncate(v, 64))
	case json.Number:
		return string(v)
	case map[string]any, []any, nil:
		return "a " + event.Kind(v)
	}
	return fmt.Sprint(v)
}

// --- lowercase, uppercase

type caseOptions struct {
	Field         string `yaml:"field"`
	TargetField   string `yaml:"target_field"`
	IgnoreMissing bool   `yaml:"ignore_missing"`
}

// caseProc changes the case of a string field (or of each string of an array).
type caseProc struct {
	field, target event.Path
	inPlace       bool // target is field
	ignoreMissing bool
	fn            func(string) string
}

func newLowercase(node *yaml.Node, _ *Deps) (event.Processor, error) {
	return newCase(node, strings.ToLower)
}

func newUppercase(node *yaml.Node, _ *Deps) (event.Processor, error) {
	return newCase(node, strings.ToUpper)
}

func newCase(node *yaml.Node, fn func(string) string) (event.Processor, error) {
	var o caseOptions
	given, errs := decodeOptions(node, &o)
	if err := requireField("field", o.Field, given["field"]); err != nil {
		errs = append(errs, err)
	}
	if o.TargetField == "" {
		o.TargetField = o.Field
	}
	return &caseProc{field: event.ParsePath(o.Field), target: event.ParsePath(o.TargetField), inPlace: o.TargetField == o.Field,
		ignoreMissing: o.IgnoreMissing, fn: fn}, errors.Join(errs...)
}

func (p *caseProc) Process(_ context.Context, e *event.Event) error {
	v, obj, key, ok := e.Lookup(p.field)
	if !ok {
		if p.ignoreMissing {
			return nil
		}
		return missing(p.field.String())
	}
	var out any
	switch x := v.(type) {
	case string:
		if y := p.fn(x); y != x {
			out = y
		} else {
			out = v // unchanged: keep the boxed value rather than box it again
		}
	case []any:
		list := make([]any, len(x))
		for i, el := range x {
			s, ok := el.(string)
			if !ok {
				return fmt.Errorf("field %s: element %d is a %s, not a string", p.field, i, event.Kind(el))
			}
			list[i] = p.fn(s)
		}
		out = list
	default:
		return fmt.Errorf("field %s: is a %s, not a string", p.field, event.Kind(v))
	}
	return setFound(e, p.target, p.inPlace, obj, key, out)
}

// --- append

type appendOptions struct {
	Field           string     `yaml:"field"`
	Value           yaml.Node  `yaml:"value"`
	CopyFrom        stringList `yaml:"copy_from"`
	AllowDuplicates *bool      `yaml:"allow_duplicates"`
}

// appendProc appends values to an array field (tags), making it an array if it is a
// single value or creating it. The values are constants and templates (value), or the
// values of other fields (copy_from: each one present and not null, the elements of
// an array field each), so that one step gathers related.ip from a flow's four
// addresses instead of four steps, each with its own `if` and template:
//
//	append: {field: related.ip, copy_from: [source.ip, destination.ip], allow_duplicates: false}
type appendProc struct {
	field           event.Path
	values          []any       // constants
	templates       []*template // per value: non-nil for a string with field references
	copyFrom        []event.Path
	allowDuplicates bool
}

func newAppend(node *yaml.Node, _ *Deps) (event.Processor, error) {
	var o appendOptions
	given, errs := decodeOptions(node, &o)
	if err := requireField("field", o.Field, given["field"]); err != nil {
		errs = append(errs, err)
	}
	p := &appendProc{field: event.ParsePath(o.Field), allowDuplicates: o.AllowDuplicates == nil || *o.AllowDuplicates}
	switch {
	case given["value"] != nil && given["copy_from"] != nil:
		errs = append(errs, optErr("copy_from", given["copy_from"], "give value or copy_from, not both"))
	case given["copy_from"] != nil:
		if len(o.CopyFrom) == 0 {
			errs = append(errs, optErr("copy_from", given["copy_from"], "name at least one field"))
		}
		for _, f := range o.CopyFrom {
			if err := requireField("copy_from", f, given["copy_from"]); err != nil {
				errs = append(errs, err)
				continue
			}
			p.copyFrom = append(p.copyFrom, event.ParsePath(f))
		}
	case given["value"] == nil:
		errs = append(errs, optErr("value", node, "required (or copy_from)"))
	default:
		v, err := yamlValue(&o.Value)
		if err != nil {
			errs = append(errs, optErr("value", given["value"], "%v", err))
		}
		list, ok := v.([]any)
		if !ok {
			list = []any{v}
		}
		for _, x := range list {
			var tpl *template
			if s, ok := x.(string); ok {
				t, err := parseTemplate(s)
				if err != nil {
					errs = append(errs, optErr("value", given["value"], "%v", err))
				} else if !t.static() {
					tpl = &t
				}
			}
			p.values = append(p.values, x)
			p.templates = append(p.templates, tpl)
		}
	}
	return p, errors.Join(errs...)
}

func (p *appendProc) Process(_ context.Context, e *event.Event) error {
	var list []any
	switch cur := mustGet(e, p.field).(type) {
	case nil:
	case []any:
		list = cur
	default:
		list = []any{cur}
	}
	if p.copyFrom != nil {
		return p.appendCopies(e, list)
	}
	if list == nil {
		list = make([]any, 0, len(p.values))
	}
	for i, v := range p.values {
		if p.templates[i] != nil {
			v = p.templates[i].renderValue(e)
		} else {
			v = deepCopy(v)
		}
		list = p.add(list, v)
	}
	return p.set(e, list)
}

// appendCopies appends the values of the copy_from fields to list (the field's
// values); the field is left as it was (missing, a single value, its list) when none
// of them is there.
func (p *appendProc) appendCopies(e *event.Event, list []any) error {
	n := len(list)
	for _, from := range p.copyFrom {
		switch v := mustGet(e, from).(type) {
		case nil:
		case []any:
			for _, x := range v {
				if x != nil {
					list = p.add(list, deepCopy(x))
				}
			}
		default:
			list = p.add(list, deepCopy(v))
		}
	}
	if len(list) == n {
		return nil
	}
	return p.set(e, list)
}

// add appends v to list unless duplicates are refused and list holds it.
func (p *appendProc) add(list []any, v any) []any {
	if !p.allowDuplicates && containsValue(list, v) {
		return list
	}
	return append(list, v)
}

func (p *appendProc) set(e *event.Event, list []any) error {
	if err := e.SetPath(p.field, list); err != nil {
		return fmt.Errorf("field %s: %w", p.field, err)
	}
	return nil
}

func mustGet(e *event.Event, p event.Path) any {
	v, _ := e.GetPath(p)
	return v
}

func containsValue(list []any, v any) bool {
	for _, x := range list {
		switch x.(type) {
		case map[string]any, []any:
			continue
		}
		if x == v {
			return true
		}
	}
	return false
}

// --- drop

// dropProc drops the event: it is acknowledged and not written. Use it with if.
type dropProc struct{}

func newDrop(node *yaml.Node, _ *Deps) (event.Processor, error) {
	var o struct{}
	_, errs := decodeOptions(node, &o)
	return dropProc{}, errors.Join(errs...)
}

func (dropProc) Process(_ context.Context, e *event.Event) error {
	e.Dropped = true
	return nil
}
