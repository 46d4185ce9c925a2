package httprecv_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/gateway/httprecv"
)

// These tests drive the start-up request sequences of shippers with an Elasticsearch
// output, at their default settings, against the real receiver (gateway core and
// embedded stream), one test per client: each request as the client sends it (method,
// path with the client's exact encoding, headers, body), each answer checked for what
// the client reads of it to go on, and last a _bulk whose events must reach the
// stream. The sequences were read in each client's source (cited per test); Filebeat
// 7.17.29's was also recorded from the real binary (scripts/filebeat.sh), and
// cmd/sluice/filebeat_e2e_test.go runs that binary against sluice.

// esClientNow is the clock of these tests: date math in index names resolves by it.
var esClientNow = time.Date(2026, 12, 6, 17, 0, 0, 0, time.UTC)

// newESClientHarness is newBulkHarness with a fixed clock and the default index types
// of DefaultBulk, which map Fluent Bit's and Vector's default indices to a log type:
// their events name none.
func newESClientHarness(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t, gateway.DefaultConfig(), true, 64<<20)
	b := testBulk()
	b.Now = func() time.Time { return esClientNow }
	b.IndexTypes = append(b.IndexTypes, httprecv.DefaultBulk().IndexTypes...)
	h.srv = httptest.NewServer(receiver(t, h.gw, httprecv.Options{Bulk: &b}))
	t.Cleanup(h.srv.Close)
	return h
}

// esCall is one request of a client.
type esCall struct {
	method string
	path   string // with the query, exactly as the client encodes it
	body   []byte
	gzip   bool // the client compresses the body (Content-Encoding: gzip)
}

// esClient sends requests with a client's headers.
type esClient struct {
	h       *harness
	headers []string // name, value pairs on every request
	ctype   string   // Content-Type of requests with a body
}

// send sends c and returns the answer; the body is read whole, as the clients do.
func (cl esClient) send(t *testing.T, c esCall) reply {
	t.Helper()
	body := c.body
	if c.gzip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(body)
		_ = zw.Close()
		body = buf.Bytes()
	}
	var rd io.Reader
	if c.body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(c.method, cl.h.srv.URL+c.path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if req.URL.EscapedPath() != strings.SplitN(c.path, "?", 2)[0] {
		t.Fatalf("%s is sent as %s: the test would not send the client's encoding", c.path, req.URL.EscapedPath())
	}
	for i := 0; i+1 < len(cl.headers); i += 2 {
		req.Header.Add(cl.headers[i], cl.headers[i+1])
	}
	if c.body != nil {
		req.Header.Set("Content-Type", cl.ctype)
		if c.gzip {
			req.Header.Set("Content-Encoding", "gzip")
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	if resp.Header.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Errorf("%s %s: no X-Elastic-Product: Elasticsearch", c.method, c.path)
	}
	return r
}

// expect sends c and fails unless the answer has status (what the client checks).
func (cl esClient) expect(t *testing.T, c esCall, status int) reply {
	t.Helper()
	r := cl.send(t, c)
	if r.status != status {
		t.Fatalf("%s %s = %d %s: the client needs %d", c.method, c.path, r.status, r.raw, status)
	}
	return r
}

// decodeInto decodes an answer as the client does, failing when it would.
func decodeInto(t *testing.T, r reply, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.raw), v); err != nil {
		t.Fatalf("answer %q does not decode: %v", r.raw, err)
	}
}

// beatsVersion parses version.number of GET / as libbeat's version.New does
// (MAJOR.MINOR.PATCH[-suffix]), failing when it would.
func beatsVersion(t *testing.T, r reply) (major, minor int) {
	t.Helper()
	var root struct {
		Version struct {
			Number      string `json:"number"`
			BuildFlavor string `json:"build_flavor"`
		} `json:"version"`
	}
	decodeInto(t, r, &root)
	var patch int
	if n, err := fmt.Sscanf(root.Version.Number, "%d.%d.%d", &major, &minor, &patch); n != 3 || err != nil {
		t.Fatalf("version.number %q does not parse: %v", root.Version.Number, err)
	}
	if root.Version.BuildFlavor != "default" {
		t.Fatalf("build_flavor %q: Beats and Logstash switch to serverless mode unless it is default", root.Version.BuildFlavor)
	}
	return major, minor
}

// checkBeatsLicense checks GET /_license?human=false as libbeat's licenser does
// (libbeat/licenser/elastic_fetcher.go, types.go): 200, and a type and status it knows.
func checkBeatsLicense(t *testing.T, r reply) {
	t.Helper()
	var l struct {
		License struct{ Type, Status string } `json:"license"`
	}
	decodeInto(t, r, &l)
	if !slices.Contains([]string{"oss", "trial", "standard", "basic", "gold", "platinum", "enterprise"}, l.License.Type) || l.License.Status != "active" {
		t.Fatalf("license %s: libbeat wants a known type and an active status", r.raw)
	}
}

// checkBeatsBulk checks a _bulk answer as libbeat's publishEvents does: status 200
// exactly, then one item per action, in order, each below 300 (acknowledged).
func checkBeatsBulk(t *testing.T, r reply, actions int) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("_bulk = %d %s: Beats fail the whole batch unless 200", r.status, r.raw)
	}
	a := decodeBulk(t, r)
	if a.Errors || len(a.Items) != actions {
		t.Fatalf("_bulk answer %s: want %d items without errors", r.raw, actions)
	}
	for i, m := range a.Items {
		if _, it := one(t, m); it.Status >= 300 {
			t.Fatalf("item %d status %d: %s", i, it.Status, r.raw)
		}
	}
}

// readTestdata reads a file of testdata/esclients, gunzipping a .gz.
func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/esclients/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return data
}

// countActions counts the action lines of a bulk body of create or index actions.
func countActions(body []byte) int {
	return bytes.Count(body, []byte(`{"create":`)) + bytes.Count(body, []byte(`{"index":`))
}

// wantEvents checks that the stream received n events whose documents contain marker.
func wantEvents(t *testing.T, h *harness, marker string, n int) {
	t.Helper()
	got := 0
	for _, envs := range h.received(t) {
		for _, e := range envs {
			if bytes.Contains(e.Event, []byte(marker)) {
				got++
			}
		}
	}
	if got != n {
		t.Fatalf("the stream holds %d events with %q, want %d", got, marker, n)
	}
}

// TestFilebeat717StartsAndSends drives Filebeat 7.17.29 with output.elasticsearch and
// nothing else set (setup.ilm.enabled: auto, setup.template.enabled: true). Sequence
// and answers from libbeat: esleg/eslegclient/connection.go (Connect, Ping, every
// request with Accept: application/json and, with a body, Content-Type
// application/json; charset=UTF-8 and gzip), licenser/elastic_fetcher.go,
// cmd/instance/beat.go (clusterUUIDFetchingCallback), idxmgmt/std.go (Setup),
// idxmgmt/ilm/client_handler.go (CheckILMEnabled, HasILMPolicy, HasAlias,
// CreateAlias), idxmgmt/ilm/std.go (EnsurePolicy, EnsureAlias), template/load.go
// (templateExists: HEAD, 200 exists, 404 absent) and template/config.go (DefaultConfig:
// the index template type, so /_index_template/),
// outputs/elasticsearch/client.go (createEventBulkMeta, publishEvents), all at
// github.com/elastic/beats/v7@v7.17.29. The order and headers are those recorded from
// that Filebeat built from the module (scripts/filebeat.sh); the bodies in
// testdata/esclients are its own (README there).
//
// Before this API answered _alias, Filebeat 7.17 never sent: GET /_alias/<alias> was
// 404 while HEAD /<alias> was 200, "resource 'filebeat-7.17.29' exists, but it is not
// an alias".
func TestFilebeat717StartsAndSends(t *testing.T) {
	h := newESClientHarness(t)
	fb := esClient{h: h, ctype: "application/json; charset=UTF-8", headers: []string{
		"Accept", "application/json",
		"User-Agent", "Elastic-filebeat/7.17.29 (linux; amd64; unknown; 0001-01-01 00:00:00 +0000 UTC)",
		"X-Elastic-Product-Origin", "beats",
	}}
	const alias = "filebeat-7.17.29"

	// Connect: Ping, then the global callbacks (license), then the connect callbacks
	// (cluster UUID and index setup, in map order: recorded here as the binary ran).
	r := fb.expect(t, esCall{method: "GET", path: "/"}, 200) // status < 300 and JSON
	if major, minor := beatsVersion(t, r); major < 7 || major == 7 && minor < 5 {
		t.Fatalf("version %d.%d: ILM auto needs 7.0, and create actions 7.5", major, minor)
	}
	checkBeatsLicense(t, fb.expect(t, esCall{method: "GET", path: "/_license?human=false"}, 200))
	var uuid struct {
		ClusterUUID string `json:"cluster_uuid"`
	}
	decodeInto(t, fb.expect(t, esCall{method: "GET", path: "/"}, 200), &uuid) // status <= 299 and JSON

	// ILM auto with a 7.x or later node probes /_xpack: 200 with ILM available and
	// enabled turns ILM on (400 would turn it off; 404 or 5xx fail the connection).
	var xpack struct {
		Features struct {
			ILM struct{ Available, Enabled bool } `json:"ilm"`
		} `json:"features"`
	}
	decodeInto(t, fb.expect(t, esCall{method: "GET", path: "/_xpack"}, 200), &xpack)
	if !xpack.Features.ILM.Available || !xpack.Features.ILM.Enabled {
		t.Fatalf("/_xpack: ILM off would make Filebeat write filebeat-7.17.29-<date> instead")
	}
	// The policy exists (200; 404 would PUT it), so the template is not overwritten.
	fb.expect(t, esCall{method: "GET", path: "/_ilm/policy/filebeat"}, 200)
	// The template exists: exactly 200 (404 would PUT it; anything else fails).
	fb.expect(t, esCall{method: "HEAD", path: "/_index_template/" + alias}, 200)
	// The rollover alias exists: 200, and Filebeat reads no more of it. Consistency:
	// HEAD says the name exists, and so it must be an alias.
	r = fb.expect(t, esCall{method: "GET", path: "/_alias/" + alias}, 200)
	var aliases map[string]struct {
		Aliases map[string]struct {
			IsWriteIndex bool `json:"is_write_index"`
		} `json:"aliases"`
	}
	decodeInto(t, r, &aliases)
	if len(aliases) != 1 || !aliases[".sluice"].Aliases[alias].IsWriteIndex {
		t.Fatalf("GET /_alias/%s = %s, want the write alias of one index", alias, r.raw)
	}
	fb.expect(t, esCall{method: "HEAD", path: "/" + alias}, 200)

	bulk := readTestdata(t, "filebeat-7.17.29-bulk.ndjson")
	checkBeatsBulk(t, fb.send(t, esCall{method: "POST", path: "/_bulk", body: bulk, gzip: true}), countActions(bulk))
	wantEvents(t, h, `"version":"7.17.29"`, countActions(bulk))

	// With setup.ilm.overwrite: true (or after a node said the policy and template were
	// missing) Filebeat writes them and bootstraps the rollover index: PUT policy, PUT
	// template (forced after a new policy), and PUT of url.PathEscape("<alias-{now/d}-
	// 000001>"), with %2F inside the segment. Each needs a status below 300 (the
	// template's at most 300).
	t.Run("overwrite", func(t *testing.T) {
		fb.expect(t, esCall{method: "PUT", path: "/_ilm/policy/filebeat", body: readTestdata(t, "filebeat-7.17.29-ilm-policy.json"), gzip: true}, 200)
		fb.expect(t, esCall{method: "HEAD", path: "/_index_template/" + alias}, 200)
		fb.expect(t, esCall{method: "PUT", path: "/_index_template/" + alias, body: readTestdata(t, "filebeat-7.17.29-index-template.json.gz"), gzip: true}, 200)
		r := fb.expect(t, esCall{
			method: "PUT", path: "/%3Cfilebeat-7.17.29-%7Bnow%2Fd%7D-000001%3E",
			body: []byte(`{"aliases":{"filebeat-7.17.29":{"is_write_index":true}}}`), gzip: true,
		}, 200)
		r.want(t, 200, `"acknowledged":true`, `"shards_acknowledged":true`, `"index":"filebeat-7.17.29-2026.12.06-000001"`)
	})
}

// TestFilebeat8StartsAndSends drives Filebeat 8.17 (the proxy serves no 8.x of
// github.com/elastic/beats/v7 to build) with output.elasticsearch and nothing else set:
// data streams, ILM. Sequence and answers from libbeat at main (8.x):
// esleg/eslegclient/connection.go (Ping reads version.number and build_flavor;
// "serverless" would switch to DSL mode), licenser/elastic_fetcher.go,
// outputs/elasticsearch/client.go (bulkRequestParams: filter_path,
// url.Values-encoded; gzip at the default compression_level 1), idxmgmt/lifecycle/
// es_client_handler.go (HasPolicy: GET, 200 exists, 404 absent),
// template/load.go (checkExistsTemplate: HEAD /_index_template/, 404 absent, other
// errors fail; then checkExistsDatastream and putDataStream).
func TestFilebeat8StartsAndSends(t *testing.T) {
	h := newESClientHarness(t)
	fb := esClient{h: h, ctype: "application/json; charset=UTF-8", headers: []string{
		"Accept", "application/json",
		"User-Agent", "Elastic-filebeat/8.17.0 (linux; amd64; unknown; 0001-01-01 00:00:00 +0000 UTC)",
		"X-Elastic-Product-Origin", "beats",
	}}
	const name = "filebeat-8.17.0"
	r := fb.expect(t, esCall{method: "GET", path: "/"}, 200)
	// Since 8.1 a Beat may refuse a node older than its own major.minor (see
	// allow_older_versions): bulk.version must be at least the Beat's.
	if major, minor := beatsVersion(t, r); major < 8 || major == 8 && minor < 17 {
		t.Fatalf("version %d.%d is older than Filebeat 8.17", major, minor)
	}
	checkBeatsLicense(t, fb.expect(t, esCall{method: "GET", path: "/_license?human=false"}, 200))
	fb.expect(t, esCall{method: "GET", path: "/"}, 200) // cluster UUID
	fb.expect(t, esCall{method: "GET", path: "/_ilm/policy/filebeat"}, 200)
	// 2xx: the template exists and Load returns before the data stream.
	fb.expect(t, esCall{method: "HEAD", path: "/_index_template/" + name}, 200)

	events := 3
	var body bytes.Buffer
	for i := range events {
		fmt.Fprintf(&body, "{\"create\":{\"_index\":%q}}\n", name)
		fmt.Fprintf(&body, `{"@timestamp":"2026-12-06T17:00:0%d.000Z","message":"fb8 line %d","input":{"type":"filestream"},"ecs":{"version":"8.0.0"},"host":{"name":"web-1"},"agent":{"type":"filebeat","version":"8.17.0","name":"web-1"},"log":{"offset":%d,"file":{"path":"/var/log/app/app.log"}}}`+"\n", i, i, 20*i)
	}
	checkBeatsBulk(t, fb.send(t, esCall{method: "POST", path: "/_bulk?filter_path=errors%2Citems.%2A.error%2Citems.%2A.status", body: body.Bytes(), gzip: true}), events)
	wantEvents(t, h, `"message":"fb8 line`, events)

	// With setup.template.overwrite: true, Load PUTs the template (status at most 300)
	// and then asks for the data stream: any 2xx means it exists; 404 would PUT it,
	// which needs a status below 300.
	t.Run("overwrite", func(t *testing.T) {
		tmpl := []byte(`{"index_patterns":["filebeat-8.17.0"],"data_stream":{},"priority":150,"template":{"settings":{"index":{"lifecycle":{"name":"filebeat"}}},"mappings":{"dynamic_templates":[]}}}`)
		fb.expect(t, esCall{method: "PUT", path: "/_index_template/" + name, body: tmpl, gzip: true}, 200)
		r := fb.expect(t, esCall{method: "GET", path: "/_data_stream/" + name}, 200)
		var ds struct {
			DataStreams []struct {
				Name   string `json:"name"`
				Status string `json:"status"`
			} `json:"data_streams"`
		}
		decodeInto(t, r, &ds)
		if len(ds.DataStreams) != 1 || ds.DataStreams[0].Name != name {
			t.Fatalf("GET /_data_stream/%s = %s", name, r.raw)
		}
		fb.expect(t, esCall{method: "PUT", path: "/_data_stream/" + name}, 200).want(t, 200, `"acknowledged":true`)
	})
}

// TestLogstash8StartsAndSends drives Logstash 8.17's elasticsearch output
// (logstash-output-elasticsearch 11.x) with hosts set only: ECS v8, so data_stream
// auto writes to logs-generic-default with no template or ILM calls. Sequence and
// answers from the plugin: lib/logstash/outputs/elasticsearch/http_client/pool.rb
// (healthcheck!: HEAD /, then GET / and its product check, which from 7.14 wants the
// X-Elastic-Product: Elasticsearch header; then the license), license_checker.rb (a
// license.status, else the URL is marked dead), elasticsearch.rb (finish_register:
// GET / for the cluster UUID; data streams need 7.9), data_stream_support.rb, and
// http_client.rb (bulk: bulk_path /_bulk?filter_path=errors,items.*.error,
// items.*.status, gzip with compression_level 1).
func TestLogstash8StartsAndSends(t *testing.T) {
	h := newESClientHarness(t)
	ls := esClient{h: h, ctype: "application/json"}
	ls.expect(t, esCall{method: "HEAD", path: "/"}, 200)
	r := ls.expect(t, esCall{method: "GET", path: "/"}, 200)
	var root struct {
		Version struct {
			Number      string `json:"number"`
			BuildFlavor string `json:"build_flavor"`
		} `json:"version"`
	}
	decodeInto(t, r, &root)
	var major, minor int
	if _, err := fmt.Sscanf(root.Version.Number, "%d.%d", &major, &minor); err != nil || major < 7 || major == 7 && minor < 14 {
		t.Fatalf("version %q: the product check and data streams want 7.14 or later", root.Version.Number)
	}
	if r.header.Get("X-Elastic-Product") != "Elasticsearch" || root.Version.BuildFlavor == "serverless" {
		t.Fatalf("GET / fails Logstash's product check: %v %s", r.header, r.raw)
	}
	var lic struct {
		License struct{ Status string } `json:"license"`
	}
	decodeInto(t, ls.expect(t, esCall{method: "GET", path: "/_license"}, 200), &lic)
	if lic.License.Status != "active" {
		t.Fatalf("license.status %q: Logstash marks the URL dead without one, warns unless active", lic.License.Status)
	}
	ls.expect(t, esCall{method: "GET", path: "/"}, 200) // discover_cluster_uuid

	events := 2
	var body bytes.Buffer
	for i := range events {
		body.WriteString(`{"create":{"_index":"logs-generic-default"}}` + "\n")
		fmt.Fprintf(&body, `{"@timestamp":"2026-12-06T17:00:00.00%dZ","@version":"1","message":"ls line %d","event":{"original":"ls line %d"},"input":{"type":"filestream"},"host":{"name":"web-1"},"data_stream":{"type":"logs","dataset":"generic","namespace":"default"}}`+"\n", i, i, i)
	}
	r = ls.send(t, esCall{method: "POST", path: "/_bulk?filter_path=errors,items.*.error,items.*.status", body: body.Bytes(), gzip: true})
	// 200 (else it retries forever), errors false, or as many items as actions.
	checkBeatsBulk(t, r, events)
	wantEvents(t, h, `"message":"ls line`, events)

	// With ecs_compatibility => disabled (or an explicit index) the plugin is not in
	// data stream mode: template_manager.rb checks HEAD /_index_template/logstash (8.x
	// node), ilm.rb checks ILM on /_xpack (in the plugin versions that do), then
	// the rollover alias with HEAD /logstash (2xx: exists; else PUT
	// CGI.escape("<logstash-{now/d}-000001>"), 400 tolerated), then the policy with
	// GET /_ilm/policy/logstash-policy (2xx: exists).
	t.Run("ecs disabled", func(t *testing.T) {
		ls.expect(t, esCall{method: "HEAD", path: "/_index_template/logstash"}, 200)
		ls.expect(t, esCall{method: "GET", path: "/_xpack"}, 200).want(t, 200, `"ilm":{"available":true,"enabled":true}`)
		ls.expect(t, esCall{method: "HEAD", path: "/logstash"}, 200)
		ls.expect(t, esCall{method: "PUT", path: "/%3Clogstash-%7Bnow%2Fd%7D-000001%3E", body: []byte(`{"aliases":{"logstash":{"is_write_index":true}}}`)}, 200).
			want(t, 200, `"index":"logstash-2026.12.06-000001"`)
		ls.expect(t, esCall{method: "GET", path: "/_ilm/policy/logstash-policy"}, 200)
		body := `{"index":{"_index":"logstash"}}` + "\n" + `{"@timestamp":"2026-12-06T17:00:00.000Z","message":"ls plain","type":"x","fields":{"log_type":"app"}}` + "\n"
		checkBeatsBulk(t, ls.send(t, esCall{method: "POST", path: "/_bulk?filter_path=errors,items.*.error,items.*.status", body: []byte(body), gzip: true}), 1)
	})
}

// TestFluentBitSends drives Fluent Bit's es output (plugins/out_es/es.c, 3.x and 4.x)
// with Host and Port set only: no start-up request at all (cb_es_init only reads the
// configuration), then POST /_bulk with Content-Type application/x-ndjson, index
// fluent-bit and, Suppress_Type_Name being Off, _type _doc in every action. It goes on
// only on 200 or 201 with a non-empty body that parses with "errors":false (or every
// item 200, 201 or 409); anything else is retried.
func TestFluentBitSends(t *testing.T) {
	h := newESClientHarness(t)
	fbit := esClient{h: h, ctype: "application/x-ndjson", headers: []string{"User-Agent", "Fluent-Bit"}}
	events := 3
	var body bytes.Buffer
	for i := range events {
		body.WriteString(`{"create":{"_index":"fluent-bit","_type":"_doc"}}` + "\n")
		fmt.Fprintf(&body, `{"@timestamp":"2026-12-06T17:00:0%d.000Z","log":"fluent line %d"}`+"\n", i, i)
	}
	r := fbit.send(t, esCall{method: "POST", path: "/_bulk", body: body.Bytes()})
	if (r.status != 200 && r.status != 201) || r.raw == "" || !strings.Contains(r.raw, `"errors":false`) {
		t.Fatalf("_bulk = %d %s: Fluent Bit retries unless 200/201 with \"errors\":false", r.status, r.raw)
	}
	decodeBulk(t, r)
	wantEvents(t, h, `"log":"fluent line`, events)
}

// TestVectorStartsAndSends drives Vector's elasticsearch sink with endpoints set only
// (api_version auto, healthcheck on, compression none). Sequence and answers from
// src/sinks/elasticsearch/common.rs: parse_config asks GET / for version.number (the
// status is not checked; a body without it makes Vector warn and assume 8) and builds
// the bulk URI with timeout=<request.timeout_secs>s; healthcheck wants GET
// /_cluster/health to be exactly 200. retry.rs: a 2xx _bulk answer is a success unless
// its body contains "errors":true.
func TestVectorStartsAndSends(t *testing.T) {
	h := newESClientHarness(t)
	vec := esClient{h: h, ctype: "application/x-ndjson"}
	r := vec.send(t, esCall{method: "GET", path: "/"})
	var root struct {
		Version *struct {
			Number *string `json:"number"`
		} `json:"version"`
	}
	decodeInto(t, r, &root)
	if root.Version == nil || root.Version.Number == nil || !strings.HasPrefix(*root.Version.Number, "8.") {
		t.Fatalf("GET / = %s: Vector takes the major version from version.number (8: no _type)", r.raw)
	}
	vec.expect(t, esCall{method: "GET", path: "/_cluster/health"}, 200)

	events := 2
	var body bytes.Buffer
	for i := range events {
		body.WriteString(`{"index":{"_index":"vector-2026.12.06"}}` + "\n")
		fmt.Fprintf(&body, `{"file":"/var/log/app/app.log","host":"web-1","message":"vector line %d","source_type":"file","timestamp":"2026-12-06T17:00:00.00000%dZ"}`+"\n", i, i)
	}
	r = vec.send(t, esCall{method: "POST", path: "/_bulk?timeout=60s", body: body.Bytes()})
	if r.status/100 != 2 || strings.Contains(r.raw, `"errors":true`) {
		t.Fatalf("_bulk = %d %s: Vector retries or drops it", r.status, r.raw)
	}
	wantEvents(t, h, `"message":"vector line`, events)
}

// TestElasticsearchLayoutIsConsistent asks every API about the same names and checks
// that the answers describe one layout: a name HEAD finds is an alias, or the one
// index the aliases point at; a name HEAD does not find is neither.
func TestElasticsearchLayoutIsConsistent(t *testing.T) {
	h := newESClientHarness(t)
	for _, tc := range []struct {
		name  string
		head  int // HEAD /{name}
		alias int // GET /_alias/{name}
		ds    int // GET /_data_stream/{name}
	}{
		{"filebeat-7.17.29", 200, 200, 200},
		{"logstash", 200, 200, 200},
		{"logs-generic-default", 200, 200, 200},
		{".sluice", 200, 404, 404}, // the index itself: not an alias, not a data stream
		{"Upper", 404, 404, 404},   // not a valid index name
		{"a%23b", 404, 404, 404},   // a#b
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := h.do(t, "HEAD", "/"+tc.name, nil); r.status != tc.head {
				t.Errorf("HEAD /%s = %d, want %d", tc.name, r.status, tc.head)
			}
			r := h.do(t, "GET", "/_alias/"+tc.name, nil)
			if r.status != tc.alias {
				t.Errorf("GET /_alias/%s = %d %s, want %d", tc.name, r.status, r.raw, tc.alias)
			}
			if r.status == 404 && !strings.Contains(r.raw, `"status":404`) && !strings.Contains(r.raw, "missing") {
				t.Errorf("GET /_alias/%s = %s, want Elasticsearch's alias [..] missing", tc.name, r.raw)
			}
			if r := h.do(t, "HEAD", "/_alias/"+tc.name, nil); r.status != tc.alias {
				t.Errorf("HEAD /_alias/%s = %d, want %d", tc.name, r.status, tc.alias)
			}
			if r := h.do(t, "GET", "/"+tc.name+"/_alias/"+tc.name, nil); tc.head == 200 && r.status != tc.alias {
				t.Errorf("GET /%s/_alias/%[1]s = %d %s, want %d", tc.name, r.status, r.raw, tc.alias)
			}
			if r := h.do(t, "GET", "/_data_stream/"+tc.name, nil); r.status != tc.ds {
				t.Errorf("GET /_data_stream/%s = %d %s, want %d", tc.name, r.status, r.raw, tc.ds)
			}
		})
	}
	t.Run("lists", func(t *testing.T) {
		h.do(t, "GET", "/_alias/a,b", nil).want(t, 200, `{".sluice":{"aliases":{"a":{"is_write_index":true},"b":{"is_write_index":true}}}}`)
		h.do(t, "GET", "/_alias/a,.sluice", nil).want(t, 404, `"error":"alias [.sluice] missing"`, `"a":{"is_write_index":true}`)
		h.do(t, "GET", "/_alias/filebeat-*", nil).want(t, 200, `{}`) // a pattern matches nothing listed
		h.do(t, "GET", "/Upper/_alias/a", nil).want(t, 404, `"type":"index_not_found_exception"`)
	})
}

// TestElasticsearchStartupAnswers checks the shapes of the start-up answers that the
// client tests do not reach, and the bounds on names.
func TestElasticsearchStartupAnswers(t *testing.T) {
	h := newESClientHarness(t)
	for _, c := range []struct {
		method, path string
		headers      []string
		status       int
		contains     string
	}{
		// Filebeat 7.10-7.16's template check: the name in the answer means it exists.
		{"GET", "/_cat/templates/filebeat-7.16.3", []string{"Accept", "application/json"}, 200, `[{"composed_of":"[]","index_patterns":"[filebeat-7.16.3*]","name":"filebeat-7.16.3","order":"0","version":null}]`},
		{"GET", "/_cat/templates/filebeat-7.16.3?format=json", nil, 200, `"name":"filebeat-7.16.3"`},
		{"GET", "/_cat/templates/filebeat-7.16.3", nil, 200, "filebeat-7.16.3 [filebeat-7.16.3*] 0  []\n"},
		{"GET", "/_component_template/c1", nil, 200, `"name":"c1"`},
		{"HEAD", "/_component_template/c1", nil, 200, ""},
		{"PUT", "/_component_template/c1", nil, 200, `{"acknowledged":true}`},
		// Date math in index creation, as Elasticsearch resolves it.
		{"PUT", "/%3Capp-%7Bnow%2FM%7Byyyy.MM%7D%7D%3E", nil, 200, `"index":"app-2026.12"`},
		{"PUT", "/%3Capp-%7Bnow-1d%2Fd%7D%3E", nil, 200, `"index":"app-2026.12.05"`},
		{"PUT", "/%3Capp-%7Bnow%2Fw%7D%3E", nil, 200, `"index":"app-2026.11.30"`},                                       // Monday
		{"PUT", "/%3Capp-%7Bnow%2Fd%7BHH%7C%2B02%3A00%7D%7D%3E", nil, 200, `"index":"app-00"`},                          // 19:00 at +02:00, rounded to its day
		{"PUT", "/%3Capp-%5C%7Bx%5C%7D-%7Bnow%2Fy%7Byyyy%7D%7D%3E", nil, 200, `"index":"app-{x}-2026"`},                 // escaped braces
		{"PUT", "/%3Capp-%7Bnow%2Fd%3E", nil, 400, `"type":"parse_exception"`},                                          // unclosed
		{"PUT", "/%3Capp-%7Bthen%2Fd%7D%3E", nil, 400, `does not start with now`},                                       // not now
		{"PUT", "/%3Capp-%7Bnow" + strings.Repeat("%2B1d", 9) + "%7D%3E", nil, 400, `more than 8 operations`},           // bounded
		{"PUT", "/%3Capp-%7Bnow%2Fd%7BQQ%7D%7D%3E", nil, 400, `unsupported date format`},                                // unknown letters
		{"PUT", "/Upper", nil, 400, `"type":"invalid_index_name_exception"`},                                            // lowercase only
		{"PUT", "/plain-index", nil, 200, `"index":"plain-index"`},                                                      // no date math
		{"HEAD", "/" + strings.Repeat("a", 256), nil, 400, ""},                                                          // over 255 bytes
		{"GET", "/_alias/" + strings.Repeat("a", 300), nil, 400, `want 1 to 255 bytes`},                                 // bounded echo
		{"GET", "/_ilm/policy/" + strings.Repeat("p", 300), nil, 400, `"type":"invalid_index_name_exception"`},          // likewise
		{"GET", "/%3Capp-%7Bnow%2Fd%7D%3E/_alias/%3Capp-%7Bnow%2Fd%7D%3E", nil, 404, `"alias [<app-{now/d}>] missing"`}, // not an alias name
	} {
		r := h.do(t, c.method, c.path, nil, c.headers...)
		if r.status != c.status || !strings.Contains(r.raw, c.contains) {
			t.Errorf("%s %s = %d %q, want %d with %q", c.method, c.path, r.status, r.raw, c.status, c.contains)
		}
	}
}

// TestElasticsearchUnknownEndpoints checks that a path the API does not serve is
// answered in Elasticsearch's error shape, and a known path with another method 405
// with Allow, while the HTTP receiver's own paths keep its answers.
func TestElasticsearchUnknownEndpoints(t *testing.T) {
	h := newESClientHarness(t)
	for _, path := range []string{"/_search", "/_cat/indices", "/_security/_authenticate", "/logs-x/_search", "/logs-x/_doc/1"} {
		r := h.do(t, "GET", path, nil)
		var e struct {
			Error struct {
				RootCause []struct{ Type, Reason string } `json:"root_cause"`
				Type      string
				Reason    string
			}
			Status int
		}
		if err := json.Unmarshal([]byte(r.raw), &e); err != nil || r.status != 404 || e.Status != 404 ||
			e.Error.Type != "resource_not_found_exception" || len(e.Error.RootCause) != 1 || !strings.Contains(e.Error.Reason, "no route GET "+path) {
			t.Errorf("GET %s = %d %s, want 404 in Elasticsearch's shape", path, r.status, r.raw)
		}
	}
	for _, c := range []struct{ method, path, allow string }{
		{"GET", "/_bulk", "POST, PUT"},
		{"DELETE", "/_alias/a", "GET, HEAD"},
		{"POST", "/_data_stream/d", "GET, PUT"},
		{"GET", "/logs-x/_bulk", "POST, PUT"},
	} {
		r := h.do(t, c.method, c.path, nil)
		if r.status != 405 || r.header.Get("Allow") != c.allow || !strings.Contains(r.raw, "Incorrect HTTP method for uri ["+c.path+"] and method ["+c.method+"]") {
			t.Errorf("%s %s = %d Allow %q %s, want 405 Allow %q", c.method, c.path, r.status, r.header.Get("Allow"), r.raw, c.allow)
		}
	}
	// Unknown paths under /v1/ are the HTTP receiver's, with its answer.
	h.do(t, "GET", "/v1/_x", nil).want(t, 404, `"kind":"not_found"`)
	// A refused key comes before the 404, as on Elasticsearch.
	cfg := gateway.DefaultConfig()
	cfg.Auth.Keys = []gateway.APIKey{{Name: "k", SHA256: gateway.HashKey("k"), Types: []string{"*"}}}
	hk := newHarness(t, cfg, false, 1<<20)
	b := testBulk()
	hk.srv = httptest.NewServer(receiver(t, hk.gw, httprecv.Options{Bulk: &b}))
	t.Cleanup(hk.srv.Close)
	hk.do(t, "GET", "/_search", nil).want(t, 401, `"type":"security_exception"`)
	hk.do(t, "GET", "/logs-x/_search", nil).want(t, 401, `"type":"security_exception"`)
	hk.do(t, "GET", "/_search", nil, "Authorization", "Bearer k").want(t, 404, `"type":"resource_not_found_exception"`)
}
