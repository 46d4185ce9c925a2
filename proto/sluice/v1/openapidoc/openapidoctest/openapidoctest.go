// Package openapidoctest checks requests and answers against the OpenAPI document in
// tests: it walks the document's request examples and validates values against the
// document's schemas (JSON Schema 2020-12, github.com/santhosh-tekuri/jsonschema), so
// that tests against a real receiver prove the document tells the truth.
package openapidoctest

import (
	"bytes"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// docURL is where the document is registered with the schema compiler; it is never
// fetched.
const docURL = "https://sluice.invalid/openapi.json"

// Doc is an OpenAPI 3.1 document ready to validate values against its schemas. It is
// safe for concurrent use.
type Doc struct {
	root  any
	mu    sync.Mutex
	c     *jsonschema.Compiler
	byPtr map[string]*jsonschema.Schema
}

// New reads a JSON OpenAPI document.
func New(doc []byte) (*Doc, error) {
	root, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("read document: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(docURL, root); err != nil {
		return nil, fmt.Errorf("add document: %w", err)
	}
	return &Doc{root: root, c: c, byPtr: map[string]*jsonschema.Schema{}}, nil
}

// Pointer returns the JSON pointer of a path of members, escaped.
func Pointer(tokens ...string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// Get returns the value at a JSON pointer of the document, or nil.
func (d *Doc) Get(ptr string) any {
	v := d.root
	if ptr == "" {
		return v
	}
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch x := v.(type) {
		case map[string]any:
			v = x[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// deref follows a Reference Object ({"$ref": "#/..."}) at ptr to the pointer of what it
// names.
func (d *Doc) deref(ptr string) string {
	for range 10 {
		m, ok := d.Get(ptr).(map[string]any)
		if !ok {
			return ptr
		}
		ref, ok := m["$ref"].(string)
		if !ok || !strings.HasPrefix(ref, "#/") {
			return ptr
		}
		ptr = ref[1:]
	}
	return ptr
}

// Validate validates v (decoded with jsonschema.UnmarshalJSON, or made of the same
// types: json.Number for numbers) against the schema at a JSON pointer of the document.
func (d *Doc) Validate(schemaPtr string, v any) error {
	d.mu.Lock()
	sch, ok := d.byPtr[schemaPtr]
	if !ok {
		var err error
		if sch, err = d.c.Compile(docURL + "#" + schemaPtr); err != nil {
			d.mu.Unlock()
			return fmt.Errorf("compile schema %s: %w", schemaPtr, err)
		}
		d.byPtr[schemaPtr] = sch
	}
	d.mu.Unlock()
	return sch.Validate(v)
}

// CheckResponse checks an answer against what the document says of the operation:
// the status is documented (or a default answer is), the Content-Type is one the
// answer may have, a JSON body matches its schema, and documented headers that have a
// schema match it when present.
func (d *Doc) CheckResponse(method, pathTemplate string, status int, header http.Header, body []byte) error {
	opPtr := Pointer("paths", pathTemplate, strings.ToLower(method))
	if d.Get(opPtr) == nil {
		return fmt.Errorf("%s %s is not in the document", method, pathTemplate)
	}
	respPtr := opPtr + Pointer("responses", strconv.Itoa(status))
	if d.Get(respPtr) == nil {
		respPtr = opPtr + Pointer("responses", "default")
		if d.Get(respPtr) == nil {
			return fmt.Errorf("%s %s: status %d is not documented", method, pathTemplate, status)
		}
	}
	respPtr = d.deref(respPtr)
	if hs, ok := d.Get(respPtr + "/headers").(map[string]any); ok {
		for _, name := range sortedKeys(hs) {
			val := header.Get(name)
			if val == "" {
				continue
			}
			hp := d.deref(respPtr + Pointer("headers", name))
			if d.Get(hp+"/schema") == nil {
				continue
			}
			var v any = val
			if t, _ := d.Get(hp + "/schema/type").(string); t == "integer" {
				n, err := strconv.Atoi(val)
				if err != nil {
					return fmt.Errorf("%s %s %d: header %s %q is not an integer", method, pathTemplate, status, name, val)
				}
				v = n
			}
			if err := d.Validate(hp+"/schema", v); err != nil {
				return fmt.Errorf("%s %s %d: header %s %q: %v", method, pathTemplate, status, name, val, err)
			}
		}
	}
	content, _ := d.Get(respPtr + "/content").(map[string]any)
	if len(content) == 0 {
		return nil // no body documented (HEAD, or an answer without content)
	}
	mt, _, err := mime.ParseMediaType(header.Get("Content-Type"))
	if err != nil {
		return fmt.Errorf("%s %s %d: Content-Type %q: %v", method, pathTemplate, status, header.Get("Content-Type"), err)
	}
	if _, ok := content[mt]; !ok {
		return fmt.Errorf("%s %s %d: Content-Type %s, the document says %v", method, pathTemplate, status, mt, sortedKeys(content))
	}
	if mt != "application/json" || method == http.MethodHead {
		return nil
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s %s %d: body is not JSON: %v: %s", method, pathTemplate, status, err, body)
	}
	if err := d.Validate(respPtr+Pointer("content", mt, "schema"), v); err != nil {
		return fmt.Errorf("%s %s %d: body %s: %v", method, pathTemplate, status, body, err)
	}
	return nil
}

// Example is one request example of the document.
type Example struct {
	Method    string
	Path      string // the path template, such as /{index}/_bulk
	MediaType string
	Name      string
	// Value is the example's value, numbers as json.Number.
	Value any
	// Ptr is the example's JSON pointer.
	Ptr string
	// SchemaPtr is the JSON pointer of the media type's schema.
	SchemaPtr string
}

// RequestExamples returns every example of a request body in the document, in a
// stable order.
func (d *Doc) RequestExamples() []Example {
	var out []Example
	paths, _ := d.Get("/paths").(map[string]any)
	for _, path := range sortedKeys(paths) {
		item, _ := paths[path].(map[string]any)
		for _, method := range sortedKeys(item) {
			if _, ok := item[method].(map[string]any); !ok || method == "parameters" {
				continue
			}
			rbPtr := d.deref(Pointer("paths", path, method, "requestBody"))
			content, _ := d.Get(rbPtr + "/content").(map[string]any)
			for _, mt := range sortedKeys(content) {
				mtPtr := rbPtr + Pointer("content", mt)
				if ex := d.Get(mtPtr + "/example"); ex != nil {
					out = append(out, Example{strings.ToUpper(method), path, mt, "example", ex, mtPtr + "/example", mtPtr + "/schema"})
				}
				exs, _ := d.Get(mtPtr + "/examples").(map[string]any)
				for _, name := range sortedKeys(exs) {
					exPtr := d.deref(mtPtr + Pointer("examples", name))
					out = append(out, Example{strings.ToUpper(method), path, mt, name, d.Get(exPtr + "/value"), exPtr + "/value", mtPtr + "/schema"})
				}
			}
		}
	}
	return out
}

// PathExample returns the path template with each path parameter replaced by its
// example, or an error naming a parameter without one.
func (d *Doc) PathExample(method, path string) (string, error) {
	var params []any
	for _, p := range []string{Pointer("paths", path, "parameters"), Pointer("paths", path, strings.ToLower(method), "parameters")} {
		ps, _ := d.Get(p).([]any)
		for i := range ps {
			params = append(params, d.Get(d.deref(p+"/"+strconv.Itoa(i))))
		}
	}
	out := path
	for _, p := range params {
		m, _ := p.(map[string]any)
		if m["in"] != "path" {
			continue
		}
		ex, ok := m["example"].(string)
		if !ok {
			return "", fmt.Errorf("%s %s: path parameter %v has no example", method, path, m["name"])
		}
		out = strings.ReplaceAll(out, "{"+m["name"].(string)+"}", ex)
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
