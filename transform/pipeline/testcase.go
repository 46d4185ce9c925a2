package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/transform/event"
)

// TestFile is a file of pipeline test cases (NAME.test.yaml beside NAME.yaml), run by
// `sluice test`: like unit tests of a configuration, each case is an input and the
// document the pipeline must make of it.
//
//	pipeline: firewall                 # default: the file's NAME
//	received: 2026-11-26T07:00:05Z     # when the gateway received the events (year-less dates)
//	cases:
//	  - name: ssh scan dropped
//	    input: '<4>Nov 26 07:00:01 fw01 kernel: ...'   # the event {"message": input}
//	    expect:                        # the whole document after the pipeline
//	      source: {ip: 203.0.113.7, port: 51234}
//	      ...
//	  - name: keepalives are dropped
//	    event: {message: keepalive, host: {name: fw01}}   # a whole event instead
//	    expect_dropped: true
//
// expect is the event as the pipeline leaves it, before the transformer adds the
// defaults every document gets where missing (@timestamp, event.dataset). Numbers
// compare by value (22 equals 22.0 from JSON), strings and numbers never equal.
type TestFile struct {
	Pipeline string     `yaml:"pipeline"`
	Received time.Time  `yaml:"received"`
	Cases    []TestCase `yaml:"cases"`
}

// TestCase is one case of a TestFile.
type TestCase struct {
	Name          string    `yaml:"name"`
	Input         *string   `yaml:"input"`
	Event         yaml.Node `yaml:"event"`
	Expect        yaml.Node `yaml:"expect"`
	ExpectDropped bool      `yaml:"expect_dropped"`
}

// LoadTestFile reads a test case file from fsys; origin names it in errors.
func LoadTestFile(fsys fs.FS, name, origin string) (*TestFile, error) {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", origin, err)
	}
	var tf TestFile
	if err := decodeStrict(data, &tf); err != nil {
		return nil, fmt.Errorf("%s: %s", origin, yamlError(err))
	}
	if tf.Pipeline == "" {
		tf.Pipeline = strings.TrimSuffix(strings.TrimSuffix(name, ".yml"), ".yaml")
		tf.Pipeline = strings.TrimSuffix(tf.Pipeline, ".test")
	}
	if tf.Received.IsZero() {
		tf.Received = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	for i, c := range tf.Cases {
		where := fmt.Sprintf("%s: cases[%d]", origin, i)
		if c.Name == "" {
			return nil, fmt.Errorf("%s: name: required", where)
		}
		if (c.Input == nil) == (c.Event.Kind == 0) {
			return nil, fmt.Errorf("%s (%s): give input or event", where, c.Name)
		}
		if c.Event.Kind != 0 && c.Event.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s (%s): event: want an object", where, c.Name)
		}
		if (c.Expect.Kind == 0) == !c.ExpectDropped {
			return nil, fmt.Errorf("%s (%s): give expect or expect_dropped: true", where, c.Name)
		}
	}
	return &tf, nil
}

// Run runs the case through p and describes how the result differs from the
// expectation ("" when it matches).
func (c *TestCase) Run(ctx context.Context, p *Pipeline, received time.Time) (string, error) {
	fields := map[string]any{}
	if c.Input != nil {
		fields["message"] = *c.Input
	} else {
		v, err := yamlValue(&c.Event)
		if err != nil {
			return "", fmt.Errorf("event: %w", err)
		}
		fields = v.(map[string]any)
	}
	e := &event.Event{Type: p.Name(), Received: received, Fields: fields}
	if err := p.Process(ctx, e); err != nil {
		return "", err
	}
	if c.ExpectDropped {
		if e.Dropped {
			return "", nil
		}
		got, err := normalize(e.Fields)
		if err != nil {
			return "", err
		}
		return "the event was not dropped; the pipeline made:\n" + indent(prettyJSON(got)), nil
	}
	if e.Dropped {
		return "the event was dropped", nil
	}
	wantV, err := yamlValue(&c.Expect)
	if err != nil {
		return "", fmt.Errorf("expect: %w", err)
	}
	want, err := normalize(wantV)
	if err != nil {
		return "", fmt.Errorf("expect: %w", err)
	}
	got, err := normalize(e.Fields)
	if err != nil {
		return "", err
	}
	return Diff(want, got), nil
}

// normalize turns a document into its JSON form with numbers as json.Number, so that
// values made by YAML, by JSON decoding and by processors compare alike.
func normalize(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	return canonicalNumbers(out), nil
}

// canonicalNumbers rewrites numbers so that 22, 22.0 and 2.2e1 are the same text.
func canonicalNumbers(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = canonicalNumbers(x)
		}
	case []any:
		for i, x := range v {
			v[i] = canonicalNumbers(x)
		}
	case json.Number:
		if strings.ContainsAny(string(v), "eE.") {
			if f, err := v.Float64(); err == nil {
				return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
			}
		}
	}
	return v
}

// Diff describes how got differs from want, one line per field (dotted paths; arrays
// compare whole): "- path: want" for what is missing or different, "+ path: got" for
// what is extra or different. It returns "" when they are equal.
func Diff(want, got any) string {
	w, g := map[string]string{}, map[string]string{}
	flatten("", want, w)
	flatten("", got, g)
	keys := slices.Sorted(maps.Keys(w))
	for k := range g {
		if _, ok := w[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		wv, inW := w[k]
		gv, inG := g[k]
		if inW && inG && wv == gv {
			continue
		}
		if inW {
			fmt.Fprintf(&b, "- %s: %s\n", k, wv)
		}
		if inG {
			fmt.Fprintf(&b, "+ %s: %s\n", k, gv)
		}
	}
	return b.String()
}

// flatten maps each leaf of a document (a value that is not a non-empty object) to
// its JSON text.
func flatten(prefix string, v any, out map[string]string) {
	if m, ok := v.(map[string]any); ok && len(m) > 0 {
		for k, x := range m {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, x, out)
		}
		return
	}
	if prefix == "" {
		prefix = "(document)"
	}
	out[prefix] = jsonText(v)
}

// jsonText renders a value as compact JSON, leaving < > & as they are.
func jsonText(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // values decoded from JSON or YAML always encode
	return strings.TrimSuffix(b.String(), "\n")
}

func prettyJSON(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}
