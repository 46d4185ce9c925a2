package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/internal/jsonx"
	"github.com/sluice-siem/sluice/transform/event"
)

// This file holds the text parsers besides grok: json, csv, kv and dissect.

// stringField reads a string field for a parser: ok=false (and a nil error) when it
// is missing and ignoreMissing is set.
func stringField(e *event.Event, field event.Path, ignoreMissing bool) (string, bool, error) {
	v, ok := e.GetPath(field)
	if !ok {
		if ignoreMissing {
			return "", false, nil
		}
		return "", false, missing(field.String())
	}
	s, ok := v.(string)
	if !ok {
		return "", false, fmt.Errorf("field %s: is a %s, not a string", field, event.Kind(v))
	}
	return s, true, nil
}

// --- json

type jsonOptions struct {
	Field         string `yaml:"field"`
	TargetField   string `yaml:"target_field"`
	AddToRoot     bool   `yaml:"add_to_root"`
	IgnoreMissing bool   `yaml:"ignore_missing"`
}

// jsonProc decodes a JSON string field into target_field (the field itself by
// default), or merges a JSON object into the event's root (add_to_root). Numbers keep
// their exact text, as in shipped events.
type jsonProc struct {
	field, target event.Path
	addToRoot     bool
	ignoreMissing bool
	maxDepth      int // limits.max_depth
}

func newJSON(node *yaml.Node, deps *Deps) (event.Processor, error) {
	var o jsonOptions
	given, errs := decodeOptions(node, &o)
	if err := requireField("field", o.Field, given["field"]); err != nil {
		errs = append(errs, err)
	}
	if o.AddToRoot && o.TargetField != "" {
		errs = append(errs, optErr("add_to_root", given["add_to_root"], "give either add_to_root or target_field"))
	}
	if o.TargetField == "" {
		o.TargetField = o.Field
	}
	return &jsonProc{field: event.ParsePath(o.Field), target: event.ParsePath(o.TargetField), addToRoot: o.AddToRoot,
		ignoreMissing: o.IgnoreMissing, maxDepth: deps.maxDepth()}, errors.Join(errs...)
}

func (p *jsonProc) Process(_ context.Context, e *event.Event) error {
	s, ok, err := stringField(e, p.field, p.ignoreMissing)
	if !ok {
		return err
	}
	// jsonx gives the values encoding/json gives with UseNumber, within the nesting
	// limit, so a field holding deep JSON fails the processor instead of recursing.
	v, err := jsonx.DecodeDepthInto([]byte(s), p.maxDepth, e.NewObject)
	if err != nil {
		return fmt.Errorf("field %s: decode JSON: %w", p.field, err)
	}
	if p.addToRoot {
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("field %s: add_to_root needs a JSON object, not a %s", p.field, event.Kind(v))
		}
		for k, x := range obj {
			e.Fields[k] = x
		}
		return nil
	}
	if err := e.SetPath(p.target, v); err != nil {
		return fmt.Errorf("field %s: %w", p.target, err)
	}
	return nil
}

// --- csv

type csvOptions struct {
	Field         string    `yaml:"field"`
	TargetFields  []string  `yaml:"target_fields"`
	Separator     string    `yaml:"separator"`
	Quote         string    `yaml:"quote"`
	Trim          bool      `yaml:"trim"`
	EmptyValue    yaml.Node `yaml:"empty_value"`
	IgnoreMissing bool      `yaml:"ignore_missing"`
	// Convert maps target fields to a type their columns are converted to.
	Convert        map[string]string `yaml:"convert"`
	ConvertFailure string            `yaml:"convert_failure"`
}

// csvProc splits one CSV line (RFC 4180 quoting: separators inside quotes, doubled
// quotes) into target_fields, in order. Extra columns are ignored; empty columns are
// skipped unless empty_value is set.
//
// convert (as in Logstash's csv filter) maps target fields to integer, long, float,
// double or boolean: the column is stored converted, as the convert processor
// converts, instead of as text that a convert step then finds and replaces (a walk
// from the root and a step per field). A column that does not convert is stored as
// its text, as convert with ignore_failure leaves it, or left out with
// convert_failure: drop; empty_value is not converted.
type csvProc struct {
	field         event.Path
	targets       *event.Targets
	sep, quote    byte
	trim          bool
	emptyValue    any
	hasEmpty      bool
	ignoreMissing bool
	conv          conversions
}

// conversions are a parser's convert option: the type each target's text is stored
// as, and what becomes of text that does not convert.
type conversions struct {
	// types holds, by target, the type its text is converted to ("": kept as text);
	// nil when nothing is converted.
	types []string
	// drop leaves text that does not convert out (convert_failure: drop); else it is
	// stored as text (keep, the default).
	drop bool
}

// newConversions reads the convert option (target field -> type, each one of
// targets) and convert_failure (keep or drop). what names the targets in errors.
func newConversions(convert map[string]string, failure string, targets []string, what string, given map[string]*yaml.Node) (conversions, []error) {
	var c conversions
	var errs []error
	switch failure {
	case "", "keep":
	case "drop":
		c.drop = true
	default:
		errs = append(errs, optErr("convert_failure", given["convert_failure"], "want keep or drop, not %q", failure))
	}
	if len(convert) == 0 {
		if given["convert_failure"] != nil {
			errs = append(errs, optErr("convert_failure", given["convert_failure"], "applies to convert, which is not set"))
		}
		return c, errs
	}
	c.types = make([]string, len(targets))
	for _, field := range slices.Sorted(maps.Keys(convert)) { // errors in a stable order
		if !slices.Contains(targets, field) {
			errs = append(errs, optErr("convert", given["convert"], "%q is not one of %s", field, what))
			continue
		}
		typ, err := conversion(convert[field], textTypes)
		if err != nil {
			errs = append(errs, optErr("convert", given["convert"], "%s: %v", field, err))
			continue
		}
		for j, f := range targets { // a field named twice is converted in each of its places
			if f == field {
				c.types[j] = typ
			}
		}
	}
	return c, errs
}

// value returns what target i stores for text s: s converted to its type, or s itself
// when it has none; ok is false when s does not convert and convert_failure is drop.
func (c *conversions) value(i int, s string) (v any, ok bool) {
	if c.types == nil || c.types[i] == "" {
		return s, true
	}
	if v, ok := convertText(s, c.types[i]); ok {
		return v, true
	}
	return s, !c.drop
}

func newCSV(node *yaml.Node, _ *Deps) (event.Processor, error) {
	var o csvOptions
	given, errs := decodeOptions(node, &o)
	if err := requireField("field", o.Field, given["field"]); err != nil {
		errs = append(errs, err)
	}
	p := &csvProc{field: event.ParsePath(o.Field), sep: ',', quote: '"', trim: o.Trim, ignoreMissing: o.IgnoreMissing}
	if len(o.TargetFields) == 0 {
		errs = append(errs, optErr("target_fields", node, "required"))
	}
	var targets []event.Path
	for i, f := range o.TargetFields {
		if err := requireField(fmt.Sprintf("target_fields[%d]", i), f, given["target_fields"]); err != nil {
			errs = append(errs, err)
		}
		targets = append(targets, event.ParsePath(f))
	}
	p.targets = event.NewTargets(targets)
	conv, convErrs := newConversions(o.Convert, o.ConvertFailure, o.TargetFields, "target_fields", given)
	p.conv, errs = conv, append(errs, convErrs...)
	for _, c := range []struct {
		name, v string
		dst     *byte
	}{{"separator", o.Separator, &p.sep}, {"quote", o.Quote, &p.quote}} {
		if given[c.name] == nil {
			continue
		}
		if len(c.v) != 1 {
			errs = append(errs, optErr(c.name, given[c.name], "want one ASCII character, not %q", c.v))
			continue
		}
		*c.dst = c.v[0]
	}
	if p.sep == p.quote {
		errs = append(errs, optErr("quote", given["quote"], "must differ from the separator"))
	}
	if given["empty_value"] != nil {
		v, err := yamlValue(&o.EmptyValue)
		if err != nil {
			errs = append(errs, optErr("empty_value", given["empty_value"], "%v", err))
		}
		p.emptyValue, p.hasEmpty = v, true
	}
	return p, errors.Join(errs...)
}

func (p *csvProc) Process(_ context.Context, e *event.Event) error {
	s, ok, err := stringField(e, p.field, p.ignoreMissing)
	if !ok {
		return err
	}
	w := p.targets.Writer(e)
	col := 0
	for i := 0; col < p.targets.Len(); col++ {
		var val string
		if p.trim {
			for i < len(s) && (s[i] == ' ' || s[i] == '\t') && s[i] != p.sep {
				i++
			}
		}
		if i < len(s) && s[i] == p.quote {
			// Quoted: up to the closing quote; doubled quotes stand for one.
			var b strings.Builder
			j := i + 1
			for {
				k := strings.IndexByte(s[j:], p.quote)
				if k < 0 {
					return fmt.Errorf("field %s: column %d: unterminated quote", p.field, col+1)
				}
				b.WriteString(s[j : j+k])
				j += k + 1
				if j < len(s) && s[j] == p.quote {
					b.WriteByte(p.quote)
					j++
					continue
				}
				break
			}
			val = b.String()
			if p.trim {
				for j < len(s) && (s[j] == ' ' || s[j] == '\t') && s[j] != p.sep {
					j++
				}
			}
			if j < len(s) && s[j] != p.sep {
				return fmt.Errorf("field %s: column %d: text after the closing quote", p.field, col+1)
			}
			i = j
		} else {
			k := strings.IndexByte(s[i:], p.sep)
			if k < 0 {
				k = len(s) - i
			}
			val = s[i : i+k]
			i += k
		}
		if p.trim {
			val = strings.TrimSpace(val)
		}
		if val != "" {
			if v, ok := p.conv.value(col, val); ok {
				if err := w.Set(col, v); err != nil {
					return fmt.Errorf("field %s: %w", p.targets.Path(col), err)
				}
			}
		} else if p.hasEmpty {
			if err := w.Set(col, deepCopy(p.emptyValue)); err != nil {
				return fmt.Errorf("field %s: %w", p.targets.Path(col), err)
			}
		}
		if i >= len(s) {
			break
		}
		i++ // the separator
	}
	return nil
}

// --- kv

type kvOptions struct {
	Field         string    `yaml:"field"`
	FieldSplit    string    `yaml:"field_split"`
	ValueSplit    string    `yaml:"value_split"`
	TargetField   string    `yaml:"target_field"`
	Prefix        string    `yaml:"prefix"`
	IncludeKeys   []string  `yaml:"include_keys"`
	ExcludeKeys   []string  `yaml:"exclude_keys"`
	TrimKey       string    `yaml:"trim_key"`
	TrimValue     string    `yaml:"trim_value"`
	StripBrackets bool      `yaml:"strip_brackets"`
	IgnoreMissing bool      `yaml:"ignore_missing"`
	Quotes        *bool     `yaml:"quotes"`
	Fields        yaml.Node `yaml:"fields"`
	// Convert maps fields' targets to a type their values are converted to.
	Convert        map[string]string `yaml:"convert"`
	ConvertFailure string            `yaml:"convert_failure"`
}

// kvProc splits key=value pairs. field_split and value_split are plain strings
// (default " " and "="), not regular expressions as in ES. A value that starts with a
// quote (" or ') runs to the closing quote, separators included (quotes: false turns
// that off). Tokens without value_split (iptables' SYN, DF) are skipped, as in
// Logstash. A key seen twice gets an array of its values. Keys become fields under
// target_field (the root by default), prefixed by prefix; the keys fields maps go to
// their own fields instead (paths from the root, no prefix), as if moved there by a
// rename but without the second step: fields: {srcip: source.ip}. convert and
// convert_failure convert the values of those fields as csv's options of those names
// do (convert: {source.port: long}), without a convert step per field.
type kvProc struct {
	field                  event.Path
	fieldSplit, valueSplit string
	target                 string
	prefix                 string
	include, exclude       map[string]bool
	trimKey, trimValue     string
	stripBrackets          bool
	quotes                 bool
	ignoreMissing          bool
	// mapped gives the keys of fields their index in targets. shadow holds the keys
	// that, written under target, would replace an object a mapped field goes into
	// (srcip: source.ip and a key "source" with the root as target): after writing
	// one, the writer looks its objects up again.
	mapped  map[string]int
	targets *event.Targets
	shadow  map[string]bool
	conv    conversions
}

func newKV(node *yaml.Node, _ *Deps) (event.Processor, error) {
	var o kvOptions
	given, errs := decodeOptions(node, &o)
	if err := requireField("field", o.Field, given["field"]); err != nil {
		errs = append(errs, err)
	}
	if given["field_split"] == nil {
		o.FieldSplit = " "
	}
	if given["value_split"] == nil {
		o.ValueSplit = "="
	}
	for _, c := range []struct{ name, v string }{{"field_split", o.FieldSplit}, {"value_split", o.ValueSplit}} {
		if c.v == "" {
			errs = append(errs, optErr(c.name, given[c.name], "must not be empty"))
		}
	}
	if o.FieldSplit == o.ValueSplit {
		errs = append(errs, optErr("value_split", given["value_split"], "must differ from field_split"))
	}
	if o.TargetField != "" {
		if err := requireField("target_field", o.TargetField, given["target_field"]); err != nil {
			errs = append(errs, err)
		}
	}
	set := func(keys []string) map[string]bool {
		if len(keys) == 0 {
			return nil
		}
		m := map[string]bool{}
		for _, k := range keys {
			m[k] = true
		}
		return m
	}
	p := &kvProc{
		field: event.ParsePath(o.Field), fieldSplit: o.FieldSplit, valueSplit: o.ValueSplit,
		target: o.TargetField, prefix: o.Prefix, include: set(o.IncludeKeys), exclude: set(o.ExcludeKeys),
		trimKey: o.TrimKey, trimValue: o.TrimValue, stripBrackets: o.StripBrackets,
		quotes: o.Quotes == nil || *o.Quotes, ignoreMissing: o.IgnoreMissing,
	}
	if f := given["fields"]; f != nil {
		if f.Kind != yaml.MappingNode || len(f.Content) == 0 {
			errs = append(errs, optErr("fields", f, "want a map of keys to the fields they go to, such as {srcip: source.ip}"))
		} else {
			p.mapped = map[string]int{}
			var paths []event.Path
			for i := 0; i+1 < len(f.Content); i += 2 {
				key, to := f.Content[i].Value, f.Content[i+1].Value
				if err := requireField("fields", to, f.Content[i+1]); err != nil {
					errs = append(errs, err)
					continue
				}
				if _, dup := p.mapped[key]; dup || key == "" {
					errs = append(errs, optErr("fields", f.Content[i], "key %q: empty or given twice", key))
					continue
				}
				p.mapped[key] = len(paths)
				paths = append(paths, event.ParsePath(to))
				under := to
				if p.target != "" {
					var ok bool
					if under, ok = strings.CutPrefix(to, p.target+"."); !ok {
						continue
					}
				}
				if first, _, nested := strings.Cut(under, "."); nested {
					if p.shadow == nil {
						p.shadow = map[string]bool{}
					}
					p.shadow[strings.TrimPrefix(first, p.prefix)] = true
				}
			}
			p.targets = event.NewTargets(paths)
		}
	}
	var mappedTo []string // fields' targets, by their index in targets
	if p.targets != nil {
		for i := range p.targets.Len() {
			mappedTo = append(mappedTo, p.targets.Path(i).String())
		}
	}
	conv, convErrs := newConversions(o.Convert, o.ConvertFailure, mappedTo, "fields' targets", given)
	p.conv, errs = conv, append(errs, convErrs...)
	return p, errors.Join(errs...)
}

// maxKVHint caps the room a kv target object is made with.
const maxKVHint = 256

func (p *kvProc) Process(_ context.Context, e *event.Event) error {
	s, ok, err := stringField(e, p.field, p.ignoreMissing)
	if !ok {
		return err
	}
	var obj map[string]any
	if p.target == "" {
		obj = e.Fields
	} else {
		v, exists := e.Get(p.target)
		switch m := v.(type) {
		case map[string]any:
			obj = m
		default:
			if exists {
				return fmt.Errorf("field %s: target %s is a %s, not an object", p.field, p.target, event.Kind(v))
			}
			// Room for the pairs the text holds, so the object does not grow pair by
			// pair, up to maxKVHint.
			obj = e.NewObject(min(strings.Count(s, p.fieldSplit)+1, maxKVHint))
			if err := e.Set(p.target, obj); err != nil {
				return fmt.Errorf("field %s: %w", p.target, err)
			}
		}
	}
	var w event.Writer
	if p.targets != nil {
		w = p.targets.Writer(e)
	}
	for len(s) > 0 {
		if strings.HasPrefix(s, p.fieldSplit) {
			s = s[len(p.fieldSplit):]
			continue
		}
		end := strings.Index(s, p.fieldSplit)
		if end < 0 {
			end = len(s)
		}
		k := strings.Index(s[:end], p.valueSplit)
		if k < 0 {
			s = s[end:] // a token without a value
			continue
		}
		key := s[:k]
		rest := s[k+len(p.valueSplit):]
		var val string
		if q := firstByte(rest); p.quotes && (q == '"' || q == '\'') {
			if c := strings.IndexByte(rest[1:], q); c >= 0 {
				val = rest[1 : 1+c]
				s = rest[c+2:]
			} else {
				val, s = cutAt(rest, p.fieldSplit)
			}
		} else {
			val, s = cutAt(rest, p.fieldSplit)
		}
		if p.trimKey != "" {
			key = strings.Trim(key, p.trimKey)
		}
		if p.trimValue != "" {
			val = strings.Trim(val, p.trimValue)
		}
		if p.stripBrackets {
			val = stripBrackets(val)
		}
		if key == "" || p.include != nil && !p.include[key] || p.exclude[key] {
			continue
		}
		if i, ok := p.mapped[key]; ok {
			v, keep := p.conv.value(i, val)
			if !keep {
				continue
			}
			if err := w.Add(i, v); err != nil {
				return fmt.Errorf("field %s: key %s: %w", p.field, key, err)
			}
			continue
		}
		shadows := p.shadow[key]
		if p.prefix != "" {
			key = p.prefix + key
		}
		addValue(obj, key, val)
		if shadows {
			w = p.targets.Writer(e)
		}
	}
	return nil
}

func firstByte(s string) byte {
	if s == "" {
		return 0
	}
	return s[0]
}

// cutAt splits s at the first sep: before it, and from it on.
func cutAt(s, sep string) (string, string) {
	i := strings.Index(s, sep)
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}

func stripBrackets(v string) string {
	if len(v) >= 2 {
		switch v[0] {
		case '(', '[', '<', '"', '\'':
			closing := map[byte]byte{'(': ')', '[': ']', '<': '>', '"': '"', '\'': '\''}[v[0]]
			if v[len(v)-1] == closing {
				return v[1 : len(v)-1]
			}
		}
	}
	return v
}

// addValue sets obj[key], making an array when the key is already there.
func addValue(obj map[string]any, key string, val any) {
	switch old := obj[key].(type) {
	case nil:
		obj[key] = val
	case []any:
		obj[key] = append(old, val)
	default:
		obj[key] = []any{old, val}
	}
}

// --- dissect

type dissectOptions struct {
	Field           string `yaml:"field"`
	Pattern         string `yaml:"pattern"`
	AppendSeparator string `yaml:"append_separator"`
	IgnoreMissing   bool   `yaml:"ignore_missing"`
}

// dissectProc splits a string by the delimiters of a pattern, as ES ingest's dissect:
// "%{source.ip} - %{user.name} [%{timestamp}] ..." — each key takes the text up to
// the delimiter that follows it (the last key takes the rest). Key modifiers:
// %{} and %{?name} skip, %{+name} appends (with append_separator; %{+name/2} orders
// the parts), %{*name} and %{&name} make a key from one field and a value from
// another, and a trailing -> skips repeats of the delimiter that follows.
type dissectProc struct {
	field         event.Path
	prefix        string
	keys          []dissectKey
	appendSep     string
	ignoreMissing bool
}

type dissectKey struct {
	name      string
	path      event.Path
	kind      byte // 0 plain, '?' skip, '+' append, '*' reference key, '&' reference value
	order     int  // for '+': /N
	padRight  bool
	delimiter string // the literal after the key; "" for the last key
}

func newDissect(node *yaml.Node, _ *Deps) (event.Processor, error) {
	var o dissectOptions
	given, errs := decodeOptions(node, &o)
	if err := requireField("field", o.Field, given["field"]); err != nil {
		errs = append(errs, err)
	}
	p := &dissectProc{field: event.ParsePath(o.Field), appendSep: o.AppendSeparator, ignoreMissing: o.IgnoreMissing}
	if o.Pattern == "" {
		errs = append(errs, optErr("pattern", node, "required"))
	} else if err := p.compile(o.Pattern); err != nil {
		errs = append(errs, optErr("pattern", given["pattern"], "%v", err))
	}
	return p, errors.Join(errs...)
}

func (p *dissectProc) compile(pattern string) error {
	i := strings.Index(pattern, "%{")
	if i < 0 {
		return errors.New("no %{key} in the pattern")
	}
	p.prefix, pattern = pattern[:i], pattern[i:]
	refs := map[string]int{}
	for pattern != "" {
		if !strings.HasPrefix(pattern, "%{") {
			return fmt.Errorf("unexpected %q", truncate(pattern, 20))
		}
		j := strings.IndexByte(pattern, '}')
		if j < 0 {
			return errors.New("%{ without }")
		}
		spec := pattern[2:j]
		pattern = pattern[j+1:]
		var k dissectKey
		if strings.HasSuffix(spec, "->") {
			k.padRight, spec = true, strings.TrimSuffix(spec, "->")
		}
		if spec != "" && strings.ContainsRune("?+*&", rune(spec[0])) {
			k.kind, spec = spec[0], spec[1:]
		}
		if k.kind == '+' {
			if name, n, ok := strings.Cut(spec, "/"); ok {
				if _, err := fmt.Sscanf(n, "%d", &k.order); err != nil {
					return fmt.Errorf("%%{+%s}: order %q is not a number", spec, n)
				}
				spec = name
			}
		}
		if spec == "" && k.kind == 0 {
			k.kind = '?'
		}
		if spec == "" && k.kind != '?' {
			return errors.New("a key with a modifier needs a name")
		}
		k.name, k.path = spec, event.ParsePath(spec)
		if k.kind == '*' || k.kind == '&' {
			refs[spec] |= map[byte]int{'*': 1, '&': 2}[k.kind]
		}
		next := strings.Index(pattern, "%{")
		if next < 0 {
			next = len(pattern)
		}
		k.delimiter = pattern[:next]
		pattern = pattern[next:]
		if k.delimiter == "" && pattern != "" {
			return fmt.Errorf("%%{%s} and the key after it need a delimiter between them", k.name)
		}
		p.keys = append(p.keys, k)
	}
	for name, both := range refs {
		if both != 3 {
			return fmt.Errorf("reference %s needs both %%{*%s} and %%{&%s}", name, name, name)
		}
	}
	return nil
}

func (p *dissectProc) Process(_ context.Context, e *event.Event) error {
	s, ok, err := stringField(e, p.field, p.ignoreMissing)
	if !ok {
		return err
	}
	if !strings.HasPrefix(s, p.prefix) {
		return fmt.Errorf("field %s: does not start with %q", p.field, p.prefix)
	}
	s = s[len(p.prefix):]
	var buf [16]string
	values := buf[:0]
	for _, k := range p.keys {
		var v string
		if k.delimiter == "" {
			v, s = s, ""
		} else {
			i := strings.Index(s, k.delimiter)
			if i < 0 {
				return fmt.Errorf("field %s: delimiter %q after %%{%s} not found", p.field, k.delimiter, k.name)
			}
			v, s = s[:i], s[i+len(k.delimiter):]
			if k.padRight {
				for strings.HasPrefix(s, k.delimiter) {
					s = s[len(k.delimiter):]
				}
			}
		}
		values = append(values, v)
	}
	return p.assign(e, values)
}

// assign writes the dissected values: appends in their order, references by pairs.
func (p *dissectProc) assign(e *event.Event, values []string) error {
	var appended map[string][]dissectPart
	refKeys, refValues := map[string]string{}, map[string]string{}
	for i, k := range p.keys {
		v := values[i]
		switch k.kind {
		case '?':
		case '+':
			if appended == nil {
				appended = map[string][]dissectPart{}
			}
			appended[k.name] = append(appended[k.name], dissectPart{order: k.order, seq: i, v: v})
		case '*':
			refKeys[k.name] = v
		case '&':
			refValues[k.name] = v
		default:
			if err := e.SetPath(k.path, v); err != nil {
				return fmt.Errorf("field %s: %w", k.name, err)
			}
		}
	}
	for name, parts := range appended {
		// A plain key of the same name comes first, as in ES.
		if cur, ok := e.Get(name); ok {
			if s, isStr := cur.(string); isStr {
				parts = append([]dissectPart{{order: -1, v: s}}, parts...)
			}
		}
		sortParts(parts)
		var b bytes.Buffer
		for i, part := range parts {
			if i > 0 {
				b.WriteString(p.appendSep)
			}
			b.WriteString(part.v)
		}
		if err := e.Set(name, b.String()); err != nil {
			return fmt.Errorf("field %s: %w", name, err)
		}
	}
	for name, key := range refKeys {
		if key == "" {
			continue
		}
		if err := e.Set(key, refValues[name]); err != nil {
			return fmt.Errorf("field %s: %w", key, err)
		}
	}
	return nil
}

type dissectPart struct {
	order, seq int
	v          string
}

// sortParts orders appended parts by their /N order, then as they came (insertion
// sort: there are few).
func sortParts(parts []dissectPart) {
	for i := 1; i < len(parts); i++ {
		for j := i; j > 0 && (parts[j].order < parts[j-1].order || parts[j].order == parts[j-1].order && parts[j].seq < parts[j-1].seq); j-- {
			parts[j], parts[j-1] = parts[j-1], parts[j]
		}
	}
}
