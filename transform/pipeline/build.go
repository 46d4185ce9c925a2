package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/metric"
	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/internal/jsonx"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/transform/event"
)

// Deps are what processors need from the process that builds them.
type Deps struct {
	// Logger receives processor panics. Nil discards logs.
	Logger *slog.Logger
	// Meter creates the per-pipeline and per-processor metrics. Nil: no metrics.
	Meter metric.Meter
	// Enrich builds the enrichment processors (EnrichmentKinds), which live in
	// transform/enrich, from a processor's options (the common options if,
	// on_failure, ignore_failure, tag and description already taken out). It returns
	// ok=false for a kind it does not know. Nil: enrichment kinds are refused with an
	// error saying enrichment is not available.
	Enrich func(kind string, node *yaml.Node) (p event.Processor, ok bool, err error)
	// MaxDepth bounds the nesting of JSON that processors decode (limits.max_depth).
	// 0 means jsonx.DefaultMaxDepth.
	MaxDepth int
	// Coverage, if set, counts what the events run through the pipelines exercise (see
	// Coverage). It slows them down: it is for tests (sluice test --coverage), never for
	// serving. Nil: the pipelines count nothing more than their metrics.
	Coverage *Coverage
	// Explain, if set, records what each processor does to the events its Run runs
	// (see Explainer): for the console's playground, never for serving.
	Explain *Explainer
}

// maxDepth returns the nesting limit in force.
func (d *Deps) maxDepth() int {
	if d == nil || d.MaxDepth <= 0 {
		return jsonx.DefaultMaxDepth
	}
	return d.MaxDepth
}

// constructor builds a processor of one kind from its options (a mapping node, the
// common options taken out). Its errors name the option they are about (optionError).
type constructor func(node *yaml.Node, deps *Deps) (event.Processor, error)

// processorKinds is the table of processor kinds built into this package.
func processorKinds() map[string]constructor {
	return map[string]constructor{
		"append":    newAppend,
		"cef":       newCEF,
		"convert":   newConvert,
		"csv":       newCSV,
		"date":      newDate,
		"dissect":   newDissect,
		"drop":      newDrop,
		"grok":      newGrok,
		"json":      newJSON,
		"kv":        newKV,
		"lowercase": newLowercase,
		"remove":    newRemove,
		"rename":    newRename,
		"set":       newSet,
		"syslog":    newSyslog,
		"translate": newTranslate,
		"uppercase": newUppercase,

		"community_id": newCommunityID,
		"dot_expander": newDotExpander,
	}
}

// EnrichmentKinds are the processor kinds that Deps.Enrich builds.
func EnrichmentKinds() []string {
	return []string{"cidr_lookup", "geoip", "lookup", "threat_intel"}
}

// Kinds returns every processor kind name, sorted.
func Kinds() []string {
	var kinds []string
	for k := range processorKinds() {
		kinds = append(kinds, k)
	}
	kinds = append(kinds, EnrichmentKinds()...)
	kinds = append(kinds, groupKind)
	slices.Sort(kinds)
	return kinds
}

// Set is the compiled pipelines, by log type. It is safe for concurrent use.
type Set struct {
	pipelines map[string]*Pipeline
}

// Pipeline returns the pipeline of a log type as an event.Processor, or nil (an
// untyped nil) if the type has none.
func (s *Set) Pipeline(logType string) event.Processor {
	if p, ok := s.pipelines[logType]; ok {
		return p
	}
	return nil
}

// Get returns the pipeline of a log type, or nil.
func (s *Set) Get(logType string) *Pipeline { return s.pipelines[logType] }

// Names returns the log types that have pipelines, sorted.
func (s *Set) Names() []string {
	var names []string
	for n := range s.pipelines {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Build compiles the pipelines of each log type, reporting every problem of every
// pipeline at once, each with its path. With deps.Meter set, it also registers the
// pipelines' metrics.
func Build(cfgs map[string]Config, deps Deps) (*Set, error) {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	set := &Set{pipelines: map[string]*Pipeline{}}
	var errs []error
	names := make([]string, 0, len(cfgs))
	for n := range cfgs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		p, err := New(name, cfgs[name], &deps)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		set.pipelines[name] = p
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if deps.Meter != nil {
		if err := registerMetrics(deps.Meter, set); err != nil {
			return nil, err
		}
	}
	return set, nil
}

// New compiles one pipeline, named by its log type.
func New(name string, cfg Config, deps *Deps) (*Pipeline, error) {
	origin := cfg.Origin
	if origin == "" {
		origin = "pipelines." + name
	}
	var errs []error
	if !stream.ValidType(name) {
		errs = append(errs, fmt.Errorf("%s: %q is not a log type name (lowercase letters, digits, '_', '-', '.')", origin, name))
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Pipeline{name: name, description: cfg.Description, keepOriginal: cfg.KeepOriginal, log: log}
	b := builder{deps: deps, origin: origin, kinds: processorKinds(), p: p}
	p.steps = b.steps(cfg.Processors, "processors")
	p.onFailure = b.steps(cfg.OnFailure, "on_failure")
	if len(cfg.Processors) == 0 {
		errs = append(errs, fmt.Errorf("%s.processors: a pipeline needs at least one processor", origin))
	}
	errs = append(errs, b.errs...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if deps.Coverage != nil {
		deps.Coverage.add(p)
	}
	return p, nil
}

// builder compiles processor lists, collecting every problem.
type builder struct {
	deps   *Deps
	origin string
	kinds  map[string]constructor
	errs   []error
	p      *Pipeline // the pipeline the steps are for (groups run with it)
	depth  int       // how deep in groups the builder is
}

func (b *builder) problem(path string, line int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if line > 0 {
		msg += fmt.Sprintf(" (line %d)", line)
	}
	b.errs = append(b.errs, fmt.Errorf("%s.%s: %s", b.origin, path, msg))
}

// commonOptions are the options every processor takes, besides its own.
const commonOptions = "if, on_failure, ignore_failure, tag, description"

func (b *builder) steps(nodes []yaml.Node, list string) []*step {
	var steps []*step
	for i := range nodes {
		path := fmt.Sprintf("%s[%d]", list, i)
		if s := b.step(&nodes[i], path); s != nil {
			steps = append(steps, s)
		}
	}
	linkDispatches(steps)
	return steps
}

func (b *builder) step(node *yaml.Node, path string) *step {
	if node.Kind != yaml.MappingNode || len(node.Content) != 2 {
		b.problem(path, node.Line, "want an object with one key, the processor kind (one of %s)", strings.Join(Kinds(), ", "))
		return nil
	}
	kind, opts := node.Content[0].Value, node.Content[1]
	path += "." + kind
	if opts.Kind == yaml.ScalarNode && opts.Tag == "!!null" {
		opts = &yaml.Node{Kind: yaml.MappingNode, Line: opts.Line}
	}
	if opts.Kind != yaml.MappingNode {
		b.problem(path, opts.Line, "want an object of options")
		return nil
	}
	s := &step{path: strings.TrimSuffix(path, "."+kind), kind: kind}
	own := &yaml.Node{Kind: yaml.MappingNode, Line: opts.Line, Column: opts.Column}
	for i := 0; i+1 < len(opts.Content); i += 2 {
		key, val := opts.Content[i], opts.Content[i+1]
		switch key.Value {
		case "if":
			var src string
			if err := val.Decode(&src); err != nil || strings.TrimSpace(src) == "" {
				b.problem(path+".if", val.Line, "want a condition (an expr-lang expression)")
				continue
			}
			cond, err := compileCond(src)
			if err != nil {
				b.problem(path+".if", val.Line, "%s", oneLine(err))
				continue
			}
			s.cond = cond
		case "on_failure":
			var handlers []yaml.Node
			if err := val.Decode(&handlers); err != nil {
				b.problem(path+".on_failure", val.Line, "want a list of processors")
				continue
			}
			if len(handlers) == 0 {
				b.problem(path+".on_failure", val.Line, "an empty list handles nothing: remove it, or use ignore_failure")
			}
			s.onFailure = b.steps(handlers, path+".on_failure")
		case "ignore_failure":
			if err := val.Decode(&s.ignoreFailure); err != nil {
				b.problem(path+".ignore_failure", val.Line, "want true or false")
			}
		case "tag":
			if err := val.Decode(&s.tag); err != nil {
				b.problem(path+".tag", val.Line, "want a string")
			}
		case "description":
		default:
			own.Content = append(own.Content, key, val)
		}
	}
	s.proc = b.construct(kind, own, path)
	if s.proc == nil {
		return nil
	}
	if b.deps.Coverage != nil {
		b.deps.Coverage.cover(s, own)
	}
	if b.deps.Explain != nil {
		b.deps.Explain.explain(s)
	}
	return s
}

// construct builds the processor of a kind from its own options.
func (b *builder) construct(kind string, opts *yaml.Node, path string) event.Processor {
	var proc event.Processor
	var err error
	if kind == groupKind {
		proc, err = b.group(opts, path)
	} else if c, ok := b.kinds[kind]; ok {
		proc, err = c(opts, b.deps)
	} else {
		found := false
		if b.deps.Enrich != nil {
			proc, found, err = b.deps.Enrich(kind, opts)
		}
		if !found && err == nil {
			if slices.Contains(EnrichmentKinds(), kind) {
				b.problem(path, opts.Line, "enrichment is not available in this process (transform/enrich is not wired in)")
			} else {
				b.problem(path, opts.Line, "unknown processor kind %q (one of %s)", kind, strings.Join(Kinds(), ", "))
			}
			return nil
		}
	}
	if err != nil {
		for _, e := range leafErrors(err) {
			var oe *optionError
			if errors.As(e, &oe) {
				b.problem(path+"."+oe.option, oe.line, "%s", oe.msg)
			} else {
				b.problem(path, opts.Line, "%s", oneLine(e))
			}
		}
		return nil
	}
	return proc
}

// leafErrors flattens joined errors.
func leafErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leafErrors(e)...)
		}
		return out
	}
	return []error{err}
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// optionError is a problem with one option of a processor.
type optionError struct {
	option string
	line   int
	msg    string
}

func (e *optionError) Error() string { return e.option + ": " + e.msg }

// optErr makes an optionError; node (may be nil) gives the line.
func optErr(option string, node *yaml.Node, format string, args ...any) error {
	line := 0
	if node != nil {
		line = node.Line
	}
	return &optionError{option: option, line: line, msg: fmt.Sprintf(format, args...)}
}

// decodeOptions decodes a processor's options (a mapping node) into the struct v
// points to, option by option, so that each problem names its option: unknown
// options, wrong types. It returns the node of each option given, by name.
func decodeOptions(node *yaml.Node, v any) (map[string]*yaml.Node, []error) {
	rv := reflect.ValueOf(v).Elem()
	rt := rv.Type()
	index := map[string]int{}
	var names []string
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		index[name] = i
		names = append(names, name)
	}
	given := map[string]*yaml.Node{}
	var errs []error
	for i := 0; i+1 < len(node.Content); i += 2 {
		key, val := node.Content[i].Value, node.Content[i+1]
		fi, ok := index[key]
		if !ok {
			errs = append(errs, optErr(key, val, "unknown option (options: %s, and %s)", strings.Join(names, ", "), commonOptions))
			continue
		}
		if _, dup := given[key]; dup {
			errs = append(errs, optErr(key, val, "given twice"))
			continue
		}
		given[key] = val
		if err := val.Decode(rv.Field(fi).Addr().Interface()); err != nil {
			errs = append(errs, optErr(key, val, "%s", yamlError(err)))
		}
	}
	return given, errs
}

// yamlError shortens a yaml.v3 decoding error to its message.
func yamlError(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n")
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.Join(strings.Fields(msg), " ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		// The line is added to every problem anyway.
		if _, after, found := strings.Cut(rest, ": "); found {
			msg = after
		}
	}
	return msg
}

// stringList is an option that takes one string or a list of strings.
type stringList []string

// UnmarshalYAML accepts a scalar or a sequence of scalars.
func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = stringList{n.Value}
		return nil
	}
	var list []string
	if err := n.Decode(&list); err != nil {
		return err
	}
	*l = list
	return nil
}

// maxAliasValues bounds the values that aliases expand to in one yamlValue, so that
// a few lines of aliases of aliases (a "billion laughs") cannot make a huge value.
const maxAliasValues = 10000

// yamlValue converts a YAML node to a JSON-shaped value: int64, float64, bool, nil,
// string, []any, map[string]any. Aliases are expanded; one that refers to a value
// containing it (&a [*a]) is an error, as are aliases that expand to more than
// maxAliasValues values.
func yamlValue(n *yaml.Node) (any, error) {
	c := yamlConverter{expanding: map[*yaml.Node]bool{}}
	return c.value(n)
}

// yamlConverter is the state of one yamlValue.
type yamlConverter struct {
	expanding map[*yaml.Node]bool // the anchored nodes whose aliases are being expanded
	aliased   int                 // values made inside aliases so far
}

func (c *yamlConverter) value(n *yaml.Node) (any, error) {
	if len(c.expanding) > 0 {
		c.aliased++
		if c.aliased > maxAliasValues {
			return nil, fmt.Errorf("aliases expand to more than %d values (line %d)", maxAliasValues, n.Line)
		}
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil || c.expanding[n.Alias] {
			return nil, fmt.Errorf("alias *%s at line %d refers to a value that contains it", n.Value, n.Line)
		}
		c.expanding[n.Alias] = true
		v, err := c.value(n.Alias)
		delete(c.expanding, n.Alias)
		return v, err
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			err := n.Decode(&b)
			return b, err
		case "!!int":
			if i, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
				return i, nil
			}
			var i int64
			err := n.Decode(&i)
			return i, err
		case "!!float":
			var f float64
			err := n.Decode(&f)
			return f, err
		default:
			return n.Value, nil
		}
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, el := range n.Content {
			v, err := c.value(el)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, err := c.value(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			out[n.Content[i].Value] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported YAML node at line %d", n.Line)
}

// deepCopy copies the objects and arrays of a JSON-shaped value, so that each event
// gets its own.
func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = deepCopy(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = deepCopy(x)
		}
		return out
	default:
		return v
	}
}
