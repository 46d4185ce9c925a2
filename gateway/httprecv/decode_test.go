package httprecv

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/internal/jsonx"
)

func docs(items []item) []string {
	var out []string
	for _, it := range items {
		if it.err != nil {
			out = append(out, "ERR "+it.err.Error())
			continue
		}
		out = append(out, string(it.doc))
	}
	return out
}

func TestDecodeBody(t *testing.T) {
	cases := []struct {
		name, body string
		want       []string
		wantErr    string
	}{
		{"ndjson", "{\"a\":1}\n{\"b\":2}\n", []string{`{"a":1}`, `{"b":2}`}, ""},
		{"ndjson crlf blank lines and bom", "\xef\xbb\xbf{\"a\":1}\r\n\r\n  \n{\"b\":2}", []string{`{"a":1}`, `{"b":2}`}, ""},
		{"ndjson bad line kept apart", "{\"a\":1}\n{nope\n[1]\n\"s\"\n{\"b\":2}\n", []string{
			`{"a":1}`,
			"ERR line 2: invalid JSON: invalid character 'n' looking for beginning of object key string (column 2)",
			"ERR line 3: event is a JSON array, want an object",
			"ERR line 4: event is a JSON string, want an object",
			`{"b":2}`,
		}, ""},
		{"array", `[ {"a":1} , {"b":[1,{"c":"]},"}]} ]`, []string{`{"a":1}`, `{"b":[1,{"c":"]},"}]}`}, ""},
		{"array escapes", `[{"a":"x\"},{"}, {"b":"\\"}]`, []string{`{"a":"x\"},{"}`, `{"b":"\\"}`}, ""},
		{"array non-objects rejected one by one", `[{"a":1}, 2, null, true, "x"]`, []string{
			`{"a":1}`, "ERR event is a JSON number, want an object", "ERR event is a JSON null, want an object",
			"ERR event is a JSON boolean, want an object", "ERR event is a JSON string, want an object",
		}, ""},
		{"empty array", `[]`, nil, "empty JSON array"},
		{"pretty single object", "{\n  \"a\": 1,\n  \"b\": {\"c\": 2}\n}\n", []string{"{\n  \"a\": 1,\n  \"b\": {\"c\": 2}\n}"}, ""},
		{"broken array", "[{\"a\":1},\n{\"b\":}]", nil, "invalid JSON array: invalid character '}' looking for beginning of value (line 2, column 6)"},
		{"empty", " \n ", nil, "empty body"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			items, err := decodeBody([]byte(c.body), testScanner())
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := docs(items)
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Fatalf("got\n%q\nwant\n%q", got, c.want)
			}
		})
	}
}

func TestDecodeNDJSONLineNumbers(t *testing.T) {
	items, err := decodeBody([]byte("\n{\"a\":1}\n\n{bad\n{\"c\":3}"), testScanner())
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	for _, it := range items {
		lines = append(lines, it.line)
	}
	if want := []int{2, 4, 5}; !equalInts(lines, want) {
		t.Fatalf("lines = %v, want %v", lines, want)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzDecodeBody checks the decoder's contract on arbitrary bodies: it never panics,
// every document it accepts is one valid JSON object found verbatim in the body, and
// an NDJSON body of valid objects decodes to exactly those objects.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{
		"{\"a\":1}\n{\"b\":2}\n", `[{"a":1},{"b":[1,2,{"c":"]"}]}]`, "{bad\n{}", `["x",{}]`, "\xef\xbb\xbf{}",
		"{\n\"a\":1\n}", `[{"a":"\\\"]"}]`, "[", "]", "{}{}", `[{}]x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		items, err := decodeBody(body, testScanner())
		if err != nil {
			return
		}
		for _, it := range items {
			if it.err != nil {
				continue
			}
			if !json.Valid(it.doc) || len(it.doc) == 0 || it.doc[0] != '{' {
				t.Fatalf("accepted %q, not a JSON object", it.doc)
			}
			if !bytes.Contains(body, it.doc) {
				t.Fatalf("accepted %q, not in the body", it.doc)
			}
		}
		// Re-encode the accepted objects as clean NDJSON: they must come back as they are.
		var ndjson bytes.Buffer
		var want [][]byte
		for _, it := range items {
			if it.err == nil && !bytes.ContainsAny(it.doc, "\n\r") {
				ndjson.Write(it.doc)
				ndjson.WriteByte('\n')
				want = append(want, it.doc)
			}
		}
		if len(want) < 2 {
			return // one object may decode as a single-object body; covered above
		}
		again, err := decodeBody(ndjson.Bytes(), testScanner())
		if err != nil || len(again) != len(want) {
			t.Fatalf("re-decode of %d objects: %d items, %v", len(want), len(again), err)
		}
		for i := range want {
			if again[i].err != nil || !bytes.Equal(again[i].doc, bytes.TrimSpace(want[i])) {
				t.Fatalf("re-decode item %d = %q (%v), want %q", i, again[i].doc, again[i].err, want[i])
			}
		}
	})
}

func BenchmarkDecodeNDJSON(b *testing.B) {
	line := `{"@timestamp":"2026-11-26T07:00:00Z","message":"<134>Nov 26 07:00:00 fw01 %ASA-6-302013: Built outbound TCP connection 12345 for outside:203.0.113.7/443 (203.0.113.7/443) to inside:10.1.2.3/51234 (10.1.2.3/51234)","host":{"name":"fw01"},"fields":{"log_type":"firewall"}}`
	body := bytes.Repeat([]byte(line+"\n"), 1000)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		items, err := decodeBody(body, testScanner())
		if err != nil || len(items) != 1000 {
			b.Fatal(len(items), err)
		}
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "events/s")
}

// testScanner is the receivers' validator at the default nesting limit.
func testScanner() *jsonx.Scanner { return jsonx.NewScanner(jsonx.DefaultMaxDepth) }

// FuzzTakeID checks the _id member's removal against encoding/json on arbitrary
// objects: it never panics, what remains is the object without its top-level _id
// members, and the id is the last _id's string value.
func FuzzTakeID(f *testing.F) {
	for _, s := range []string{
		`{"_id":"k","a":1}`, `{"a":1,"_id":"k"}`, `{"_id":"a","_id":"b"}`, `{"\u005fid":"k","x":{"_id":1}}`,
		`{"_id":1}`, `{"_id":""}`, ` { "a" : [ "_id" ] , "_id" : "k\"q" } `, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		var want map[string]any
		if json.Unmarshal(doc, &want) != nil || !testScanner().OK(doc) {
			return
		}
		in := bytes.Clone(doc)
		taker := idTaker{sc: testScanner()}
		obj, id, err := taker.take(in)
		wantID, hasID := want["_id"]
		delete(want, "_id")
		if err != nil {
			if s, ok := wantID.(string); hasID && ok && s != "" && len(s) <= gateway.MaxIDBytes {
				t.Fatalf("take(%q): %v, for a good _id", doc, err)
			}
			return
		}
		var got map[string]any
		if err := json.Unmarshal(obj, &got); err != nil {
			t.Fatalf("take(%q) left %q: %v", doc, obj, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("take(%q) left %v, want %v", doc, got, want)
		}
		// (encoding/json replaces invalid UTF-8; the id keeps the bytes sent, the same
		// at every resend.)
		if hasID && string(id) != wantID && utf8.Valid(doc) {
			t.Fatalf("take(%q) id %q, want %q", doc, id, wantID)
		}
		if !hasID && id != nil {
			t.Fatalf("take(%q) id %q without an _id", doc, id)
		}
	})
}
