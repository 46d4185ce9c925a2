package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sluice-siem/sluice/gateway"
	sluicev1 "github.com/sluice-siem/sluice/proto/sluice/v1"
	"github.com/sluice-siem/sluice/proto/sluice/v1/openapidoc/openapidoctest"
)

// TestOpenAPIExamples sends every request example of the OpenAPI document to a real
// sluice dev with an API key, each with one of the documented API-key schemes, and
// checks that it is accepted and that the answer is what the document says (status,
// Content-Type, headers, body schema). It also checks the operations without a body
// and a refusal, and that /openapi.json and /openapi.yaml serve the generated files.
func TestOpenAPIExamples(t *testing.T) {
	const key = "s3cret-example-key"
	cfg := devConfig(t)
	cfg.Gateway.Auth.Keys = []gateway.APIKey{{Name: "shipper", SHA256: gateway.HashKey(key), Types: []string{"*"}}}
	a, _ := startDev(t, cfg)
	base := "http://" + a.httpLn.Addr().String()
	d, err := openapidoctest.New(sluicev1.OpenAPIDocument)
	if err != nil {
		t.Fatal(err)
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	schemes := []string{
		"Bearer " + key,                   // bearer
		"ApiKey " + b64("my-key-id:"+key), // apiKey, as Elasticsearch clients send it
		"Basic " + b64("elastic:"+key),    // basic: the password is the key
	}
	type answer struct {
		status int
		header http.Header
		body   []byte
	}
	do := func(t *testing.T, method, path, contentType, auth string, body []byte) answer {
		t.Helper()
		req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return answer{resp.StatusCode, resp.Header, b}
	}

	examples := d.RequestExamples()
	if len(examples) < 6 {
		t.Fatalf("%d request examples in the document, want at least 6", len(examples))
	}
	for i, ex := range examples {
		auth := schemes[i%len(schemes)]
		t.Run(ex.Method+" "+ex.Path+" "+ex.MediaType+" "+ex.Name, func(t *testing.T) {
			path, err := d.PathExample(ex.Method, ex.Path)
			if err != nil {
				t.Fatal(err)
			}
			body, err := encodeExample(ex.MediaType, ex.Value)
			if err != nil {
				t.Fatal(err)
			}
			r := do(t, ex.Method, path, ex.MediaType, auth, body)
			if r.status != http.StatusOK {
				t.Fatalf("%s %s (%s) with %s: %d %s", ex.Method, path, ex.MediaType, strings.Fields(auth)[0], r.status, r.body)
			}
			if err := d.CheckResponse(ex.Method, ex.Path, r.status, r.header, r.body); err != nil {
				t.Error(err)
			}
			if strings.Contains(ex.Path, "_bulk") {
				// Elasticsearch's shape: the items say what was accepted. The examples
				// hold one refused delete; every other item is created.
				var res struct {
					Items []map[string]struct{ Status int } `json:"items"`
				}
				_ = json.Unmarshal(r.body, &res)
				for j, it := range res.Items {
					for op, v := range it {
						if (op == "delete") != (v.Status == http.StatusBadRequest) || (op != "delete" && v.Status != http.StatusCreated) {
							t.Errorf("item %d: %s %d: %s", j, op, v.Status, r.body)
						}
					}
				}
			}
		})
	}

	t.Run("operations without a body", func(t *testing.T) {
		for _, c := range []struct{ method, path string }{
			{"GET", "/healthz"}, {"GET", "/readyz"}, {"GET", "/metrics"},
			{"GET", "/openapi.json"}, {"GET", "/openapi.yaml"}, {"GET", "/"}, {"HEAD", "/"},
		} {
			r := do(t, c.method, c.path, "", schemes[0], nil)
			if r.status != http.StatusOK {
				t.Errorf("%s %s: %d %s", c.method, c.path, r.status, r.body)
				continue
			}
			if err := d.CheckResponse(c.method, c.path, r.status, r.header, r.body); err != nil {
				t.Error(err)
			}
		}
		if r := do(t, "GET", "/openapi.json", "", "", nil); !bytes.Equal(r.body, sluicev1.OpenAPIDocument) {
			t.Error("/openapi.json is not sluicev1.OpenAPIDocument")
		}
		if r := do(t, "GET", "/openapi.yaml", "", "", nil); !bytes.Equal(r.body, sluicev1.OpenAPIYAML) {
			t.Error("/openapi.yaml is not sluicev1.OpenAPIYAML")
		}
	})

	t.Run("refusals", func(t *testing.T) {
		for _, c := range []struct {
			method, path, contentType, auth string
			body                            string
			status                          int
		}{
			{"POST", "/v1/events", "application/x-ndjson", "", `{"message":"m","fields":{"log_type":"ids"}}`, 401},
			{"POST", "/v1/events", "application/x-ndjson", "Bearer wrong", `{"message":"m","fields":{"log_type":"ids"}}`, 401},
			{"POST", "/v1/events", "application/x-ndjson", schemes[0], `{"message":"no type"}`, 400},
			{"POST", "/v1/events", "application/x-www-form-urlencoded", schemes[0], `a=1`, 415},
			{"POST", "/v1/push", "application/json", "", `{"events":[{"type":"ids"}]}`, 401},
			{"POST", "/v1/push", "application/json", schemes[1], `{"events":[{"type":"Not A Type"}]}`, 400},
			{"POST", "/_bulk", "application/x-ndjson", "", "{\"create\":{}}\n{}\n", 401},
		} {
			r := do(t, c.method, c.path, c.contentType, c.auth, []byte(c.body))
			if r.status != c.status {
				t.Errorf("%s %s %s: %d %s, want %d", c.method, c.path, c.body, r.status, r.body, c.status)
				continue
			}
			if err := d.CheckResponse(c.method, c.path, r.status, r.header, r.body); err != nil {
				t.Error(err)
			}
		}
	})
}

// encodeExample writes an example value as a request body of the media type: NDJSON
// examples are shown as arrays of their lines.
func encodeExample(mediaType string, v any) ([]byte, error) {
	lines, isArray := v.([]any)
	if !strings.Contains(mediaType, "ndjson") || !isArray {
		return json.Marshal(v)
	}
	var b bytes.Buffer
	for _, l := range lines {
		line, err := json.Marshal(l)
		if err != nil {
			return nil, err
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}
