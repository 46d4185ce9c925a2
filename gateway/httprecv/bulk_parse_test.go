package httprecv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-siem/sluice/gateway"
)

// render describes the items of a parse: "op index id doc" for an accepted document,
// "op index id ERR status type" for a refused one ("-" for an empty field).
func render(items []bulkItem) []string {
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	var out []string
	for _, it := range items {
		s := it.op + " " + dash(it.index) + " " + dash(it.id) + " "
		if it.fail != nil {
			s += fmt.Sprintf("ERR %d %s", it.fail.status, it.fail.typ)
		} else {
			s += string(it.source)
		}
		out = append(out, s)
	}
	return out
}

func TestParseBulk(t *testing.T) {
	const (
		bad     = "ERR 400 illegal_argument_exception"
		badDoc  = "ERR 400 document_parsing_exception"
		invalid = "ERR 400 action_request_validation_exception"
	)
	cases := []struct {
		name, body, defaultIndex string
		want                     []string
		reasons                  []string // substrings of the reasons, in order of the refused items
	}{
		{name: "index with the path's index", defaultIndex: "logs-fw-default",
			body: "{\"index\":{}}\n{\"a\":1}\n",
			want: []string{`index logs-fw-default - {"a":1}`}},
		{name: "_index overrides the path", defaultIndex: "d",
			body: "{\"index\":{\"_index\":\"other\"}}\n{\"a\":1}\n{\"index\":{}}\n{\"b\":2}\n",
			want: []string{`index other - {"a":1}`, `index d - {"b":2}`}},
		{name: "create with ids, last line without a line break",
			body: "{\"create\":{\"_index\":\"x\",\"_id\":\"abc\"}}\n{\"a\":1}\n{\"create\":{\"_index\":\"x\",\"_id\":42}}\n{\"b\":2}",
			want: []string{`create x abc {"a":1}`, `create x 42 {"b":2}`}},
		{name: "unknown metadata is ignored (Fluent Bit's _type)",
			body: "{\"create\":{\"_index\":\"x\",\"_type\":\"_doc\",\"pipeline\":\"p\",\"require_alias\":false}}\n{\"a\":1}\n",
			want: []string{`create x - {"a":1}`}},
		{name: "delete is unsupported and has no document line",
			body:    "{\"delete\":{\"_index\":\"x\",\"_id\":\"1\"}}\n{\"index\":{\"_index\":\"x\"}}\n{\"b\":2}\n",
			want:    []string{"delete x 1 " + bad, `index x - {"b":2}`},
			reasons: []string{"line 1: delete is not supported"}},
		{name: "update is unsupported and its body line is skipped",
			body:    "{\"update\":{\"_index\":\"x\",\"_id\":\"1\"}}\n{\"doc\":{\"a\":1}}\n{\"create\":{\"_index\":\"x\"}}\n{\"c\":3}\n",
			want:    []string{"update x 1 " + bad, `create x - {"c":3}`},
			reasons: []string{"line 1: update is not supported"}},
		{name: "missing document at the end",
			body:    "{\"index\":{\"_index\":\"x\"}}\n{\"a\":1}\n{\"index\":{\"_index\":\"x\"}}\n",
			want:    []string{`index x - {"a":1}`, "index x - " + invalid},
			reasons: []string{"line 3: index action without a document line"}},
		{name: "blank lines between items",
			body: "\n\n{\"index\":{\"_index\":\"x\"}}\n{\"a\":1}\n\n \t\n{\"create\":{\"_index\":\"x\"}}\n{\"b\":1}\n\n",
			want: []string{`index x - {"a":1}`, `create x - {"b":1}`}},
		{name: "an empty document line is the document, and refused",
			body:    "{\"index\":{\"_index\":\"x\"}}\n\n{\"index\":{\"_index\":\"x\"}}\n{\"b\":1}\n",
			want:    []string{"index x - " + badDoc, `index x - {"b":1}`},
			reasons: []string{"line 2: the document line is empty"}},
		{name: "CRLF line breaks and a byte order mark",
			body: "\xef\xbb\xbf{\"index\":{\"_index\":\"x\"}}\r\n{\"a\":1}\r\n{\"index\":{\"_index\":\"x\"}}\r\n {\"b\":\"\\r\"} \r\n",
			want: []string{`index x - {"a":1}`, `index x - {"b":"\r"}`}},
		{name: "action line that is not JSON: its document is skipped",
			body:    "nope\n{\"a\":1}\n{\"index\":{\"_index\":\"x\"}}\n{\"b\":1}\n",
			want:    []string{"index - - " + bad, `index x - {"b":1}`},
			reasons: []string{"malformed action line: invalid JSON"}},
		{name: "action line that is not JSON, then an action",
			body: "{\"index\":{\"_index\":\"x\"\n{\"index\":{\"_index\":\"x\"}}\n{\"b\":1}\n",
			want: []string{"index - - " + bad, `index x - {"b":1}`}},
		{name: "action line that is not an object",
			body: "[\"index\"]\n{\"a\":1}\n",
			want: []string{"index - - " + bad}, reasons: []string{"a JSON array, want an object"}},
		{name: "unknown action",
			body:    "{\"upsert\":{\"_index\":\"x\"}}\n{\"a\":1}\n{\"index\":{\"_index\":\"x\"}}\n{\"b\":1}\n",
			want:    []string{"index x - " + bad, `index x - {"b":1}`},
			reasons: []string{"line 1: unknown action [upsert]: send index or create"}},
		{name: "malformed actions",
			body: "{}\n{\"index\":{},\"create\":{}}\n{\"index\":\"x\"}\n{\"index\":{\"_index\":7}}\n{\"a\":1}\n{\"index\":{\"_index\":\"x\",\"_id\":true}}\n{\"a\":1}\n",
			want: []string{"index - - " + bad, "index - - " + bad, "index - - " + bad, "index - - " + bad, "index x - " + bad},
			reasons: []string{"no action", "more than one field", "the value of [index] must be an object",
				"line 4: _index must be a string", "line 6: _id must be a string"}},
		{name: "documents that are not JSON objects",
			body: "{\"index\":{\"_index\":\"x\"}}\n{\"a\":\n{\"index\":{\"_index\":\"x\"}}\n[1,2]\n{\"index\":{\"_index\":\"x\"}}\n\"s\"\n{\"index\":{\"_index\":\"x\"}}\n{\"ok\":true}\n",
			want: []string{"index x - " + badDoc, "index x - " + badDoc, "index x - " + badDoc, `index x - {"ok":true}`},
			reasons: []string{"line 2: failed to parse the document: invalid JSON: unexpected end of JSON input (column 5)",
				"line 4: the document is a JSON array, want an object", "line 6: the document is a JSON string"}},
		{name: "no index anywhere",
			body:    "{\"index\":{}}\n{\"a\":1}\n",
			want:    []string{"index - - " + invalid},
			reasons: []string{"index is missing"}},
		{name: "id and index limits",
			body: fmt.Sprintf("{\"index\":{\"_index\":\"x\",\"_id\":%q}}\n{}\n{\"index\":{\"_index\":%q}}\n{}\n",
				strings.Repeat("i", 513), strings.Repeat("x", 256)),
			want: []string{"index x " + strings.Repeat("i", 513) + " " + invalid, "index " + strings.Repeat("x", 256) + " - ERR 400 invalid_index_name_exception"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			items, err := parseBulk([]byte(tc.body), tc.defaultIndex, 100, testScanner())
			if err != nil {
				t.Fatal(err)
			}
			if got := render(items); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("items:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			var reasons []string
			for _, it := range items {
				if it.fail != nil {
					reasons = append(reasons, it.fail.reason)
				}
			}
			for i, want := range tc.reasons {
				if i >= len(reasons) || !strings.Contains(reasons[i], want) {
					t.Fatalf("reasons %q; want #%d to contain %q", reasons, i, want)
				}
			}
		})
	}
}

func TestParseBulkWholeRequestErrors(t *testing.T) {
	for _, body := range []string{"", "\n\n", " \r\n\t\n", "\xef\xbb\xbf"} {
		if _, err := parseBulk([]byte(body), "x", 10, testScanner()); gateway.KindOf(err) != gateway.KindInvalid || !strings.Contains(err.Error(), "request body is required") {
			t.Errorf("parseBulk(%q) = %v, want an invalid request", body, err)
		}
	}
	body := strings.Repeat("{\"delete\":{\"_index\":\"x\",\"_id\":\"1\"}}\n", 4)
	if items, err := parseBulk([]byte(body), "", 4, testScanner()); err != nil || len(items) != 4 {
		t.Fatalf("4 actions at a limit of 4: %d items, %v", len(items), err)
	}
	if _, err := parseBulk([]byte(body+body), "", 4, testScanner()); gateway.KindOf(err) != gateway.KindTooLarge || !strings.Contains(err.Error(), "more than 4 actions (limits.max_batch_events)") {
		t.Fatalf("8 actions at a limit of 4: %v", err)
	}
}

func TestIndexTypes(t *testing.T) {
	types := newIndexTypes(Bulk{
		IndexTypes: []IndexType{
			{Pattern: "logs-generic-*", Type: ""},
			{Pattern: "fw-*-asa-*", Type: "firewall"},
			{Pattern: "suricata", Type: "ids"},
			{Pattern: "*-waf", Type: "waf"},
			{Pattern: "**", Type: "other"},
		},
		DataStreamTypes: true,
	})
	for index, want := range map[string]string{
		"logs-generic-default":  "",         // mapped to the event's fields, before the data stream rule
		"fw-dc1-asa-2026.11.26": "firewall", // globs in the middle
		"fw--asa-":              "firewall", // '*' matches nothing too
		"fw-asa":                "other",    // the literal parts may not overlap
		"suricata":              "ids",
		"suricata-1":            "other",
		"edge-waf":              "waf",
		"":                      "other",
	} {
		if got := types.typeOf(index); got != want {
			t.Errorf("typeOf(%q) = %q, want %q", index, got, want)
		}
	}
	ds := newIndexTypes(Bulk{DataStreamTypes: true})
	for index, want := range map[string]string{
		"logs-firewall-default":   "firewall",
		"logs-cisco.asa-prod":     "cisco.asa",
		"logs-firewall-":          "",
		"logs--default":           "",
		"logs-fire-wall-default":  "", // three dashes: not the naming scheme
		"metrics-system-default":  "",
		"logs-Firewall-default":   "", // not a valid log type
		"filebeat-8.17.0":         "",
		"logs-firewall-default-x": "",
	} {
		if got := ds.typeOf(index); got != want {
			t.Errorf("data streams: typeOf(%q) = %q, want %q", index, got, want)
		}
	}
	if got := newIndexTypes(Bulk{}).typeOf("logs-firewall-default"); got != "" {
		t.Errorf("data stream rule off: typeOf = %q, want the event's fields", got)
	}
}

// bulkResponse is the decoding shape of a bulk answer, for tests.
type bulkResponse struct {
	Took   int64                                   `json:"took"`
	Errors bool                                    `json:"errors"`
	Items  []map[string]map[string]json.RawMessage `json:"items"`
}

// FuzzParseBulk checks the bulk body parser on any input: it never panics; every
// document it accepts is a valid JSON object found verbatim in the body; the answer
// built from its items is valid JSON with one item per parsed action; and when every
// action line is well formed, there is exactly one item per action, whatever the
// document lines hold.
func FuzzParseBulk(f *testing.F) {
	for _, s := range []string{
		"{\"index\":{\"_index\":\"x\"}}\n{\"a\":1}\n",
		"{\"create\":{}}\r\n{\"a\":\"\\u00e9\"}\r\n{\"delete\":{\"_id\":\"1\"}}\n",
		"{\"update\":{}}\n{\"doc\":{}}\n{\"index\":{}}\n",
		"nope\n{}\n{\"index\":{}}\n[1]\n",
		"\n\n{\"index\":{\"_index\":\"\\ud800\"}}\n\n",
		"{\"index\":{\"_id\":\"\xff\"}}\n{\"\xff\":1}",
		"{\"x\":{}}\n{\"index\":{}}\n",
	} {
		f.Add([]byte(s))
	}
	es := &esAPI{}
	f.Fuzz(func(t *testing.T, body []byte) {
		items, err := parseBulk(body, "d", 1<<20, testScanner())
		blank := len(bytes.TrimSpace(bytes.TrimPrefix(body, bom))) == 0
		if (err != nil) != blank {
			t.Fatalf("parseBulk(%q): err %v for a body blank=%v", body, err, blank)
		}
		lines := 0
		for l := range bytes.Lines(body) {
			if len(bytes.TrimSpace(l)) > 0 {
				lines++
			}
		}
		if len(items) > lines {
			t.Fatalf("%d items from %d non-blank lines", len(items), lines)
		}
		for _, it := range items {
			if it.fail != nil {
				if it.source != nil {
					t.Fatalf("refused item keeps a document: %+v", it)
				}
				continue
			}
			if !json.Valid(it.source) || it.source[0] != '{' || !bytes.Contains(body, it.source) {
				t.Fatalf("accepted %q: not a JSON object of the body", it.source)
			}
		}
		var resp bulkResponse
		out := es.appendBulkResponse(nil, items, 3)
		if err := json.Unmarshal(out, &resp); err != nil || len(resp.Items) != len(items) {
			t.Fatalf("answer %s: %d items, %v; want %d", out, len(resp.Items), err, len(items))
		}

		// The fuzzer's lines as documents behind well-formed actions.
		var framed bytes.Buffer
		var docs [][]byte
		for l := range bytes.SplitSeq(body, []byte{'\n'}) {
			framed.WriteString("{\"create\":{\"_index\":\"logs-x-y\"}}\n")
			framed.Write(l)
			framed.WriteByte('\n')
			docs = append(docs, bytes.TrimSpace(bytes.TrimSuffix(l, []byte{'\r'})))
		}
		items, err = parseBulk(framed.Bytes(), "", 1<<20, testScanner())
		if err != nil || len(items) != len(docs) {
			t.Fatalf("%d actions framed: %d items, %v", len(docs), len(items), err)
		}
		for i, it := range items {
			ok := len(docs[i]) > 0 && docs[i][0] == '{' && json.Valid(docs[i])
			if ok != (it.fail == nil) || (ok && !bytes.Equal(it.source, docs[i])) {
				t.Fatalf("item %d of document %q: %+v", i, docs[i], it)
			}
		}
	})
}
