package search_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluice-siem/sluice/sink"
	"github.com/sluice-siem/sluice/sink/file"
	"github.com/sluice-siem/sluice/sink/search"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(closeIdle{m})
}

// closeIdle runs the tests, then closes the idle connections that the tests' own
// requests to the engines (http.DefaultClient) keep open, so that goleak sees only
// what the code under test leaves running.
type closeIdle struct{ m *testing.M }

func (c closeIdle) Run() int {
	code := c.m.Run()
	http.DefaultClient.CloseIdleConnections()
	return code
}

// engineURL is the OpenSearch of scripts/opensearch.sh. Without it the test is skipped,
// or fails under CI=true. Tests of what only OpenSearch here has (data streams) use it;
// tests of engine behaviour both engines share run on each of engines instead.
func engineURL(t *testing.T) string {
	t.Helper()
	return engines[0].url(t)
}

// testEngine is a real engine the tests run against: its URL comes from env, which
// scripts/test.sh exports.
type testEngine struct {
	// name names the subtests.
	name string
	// engine is the sink's engine setting for it.
	engine string
	env    string
	script string
	// mappingError is the error type of a document refused by its mapping.
	mappingError string
	// dataStreams says whether the engine has data streams: the Elasticsearch
	// integ-test-zip has neither data streams nor ILM (they are X-Pack modules it does
	// not ship), so the tests use the daily layout there.
	dataStreams bool
}

// engines are the real engines the engine-behaviour tests run on, each in a subtest
// named by the engine.
var engines = []testEngine{
	{name: "opensearch", engine: search.EngineOpenSearch, env: "SLUICE_TEST_OPENSEARCH_URL", script: "scripts/opensearch.sh",
		mappingError: "mapper_parsing_exception", dataStreams: true},
	{name: "elasticsearch", engine: search.EngineElasticsearch, env: "SLUICE_TEST_ELASTICSEARCH_URL", script: "scripts/elasticsearch.sh",
		mappingError: "document_parsing_exception"},
}

// url returns the engine's URL. When its variable is unset the test is skipped, or
// fails under CI=true.
func (e testEngine) url(t *testing.T) string {
	t.Helper()
	u := os.Getenv(e.env)
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set (%s start)", e.env, e.script)
		}
		t.Skipf("%s is not set (%s start)", e.env, e.script)
	}
	return strings.TrimRight(u, "/")
}

// layout is the index layout the tests use on the engine: data streams where it has
// them, daily indices otherwise.
func (e testEngine) layout() string {
	if e.dataStreams {
		return search.LayoutDataStream
	}
	return search.LayoutDaily
}

// with returns a config change that selects the engine and its layout, then applies mod.
func (e testEngine) with(mod func(*search.Config)) func(*search.Config) {
	return func(c *search.Config) {
		c.Engine, c.Layout = e.engine, e.layout()
		if mod != nil {
			mod(c)
		}
	}
}

// forEngines runs f once per engine of engines, in a subtest named by the engine, with
// the engine's URL.
func forEngines(t *testing.T, f func(t *testing.T, e testEngine, url string)) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) { f(t, e, e.url(t)) })
	}
}

// namespace is a fresh data stream namespace (and daily index prefix), so that tests
// never see each other's documents.
func namespace(t *testing.T) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "t" + hex.EncodeToString(b)
}

// deadLetters records what the sink dead-letters.
type deadLetters struct {
	mu   sync.Mutex
	docs []sink.Document
}

func (d *deadLetters) Write(_ context.Context, docs []sink.Document) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, doc := range docs {
		doc.Body = bytes.Clone(doc.Body)
		d.docs = append(d.docs, doc)
	}
	return nil
}

func (d *deadLetters) all() []sink.Document {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]sink.Document(nil), d.docs...)
}

func newSink(t *testing.T, url string, mod func(*search.Config), dl search.DeadLetters) *search.Sink {
	t.Helper()
	cfg := search.DefaultConfig()
	cfg.Addresses = []string{url}
	cfg.Namespace = namespace(t)
	cfg.IndexPrefix = cfg.Namespace
	cfg.RetryBase = 10 * time.Millisecond
	cfg.RetryMax = 100 * time.Millisecond
	if mod != nil {
		mod(&cfg)
	}
	if dl == nil {
		dl = &deadLetters{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// What the test made goes once the sink is closed (cleanups run last first), so
	// that a local engine does not fill up across runs.
	t.Cleanup(func() { removeAll(url, cfg) })
	s, err := search.New(ctx, cfg, search.Options{DeadLetters: dl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// docs makes n firewall documents with ids fw/0/<i>.
func docs(n int, typ string, at time.Time) []sink.Document {
	out := make([]sink.Document, n)
	for i := range out {
		out[i] = sink.Document{
			Type: typ,
			Time: at,
			ID:   fmt.Sprintf("fw/shardId-000000000000/%d", 1000+i),
			Body: fmt.Appendf(nil, `{"@timestamp":%q,"source":{"ip":"10.0.0.%d","port":%d},"message":"event %d"}`,
				at.Format(time.RFC3339Nano), i%250+1, 1024+i, i),
		}
	}
	return out
}

// get sends a request to the engine directly and decodes the JSON answer into v.
func get(t *testing.T, method, url string, v any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, data)
		}
	}
	return resp.StatusCode
}

// count refreshes index and returns its document count.
func count(t *testing.T, base, index string) int {
	t.Helper()
	get(t, http.MethodPost, base+"/"+index+"/_refresh", nil)
	var c struct{ Count int }
	if code := get(t, http.MethodGet, base+"/"+index+"/_count", &c); code != http.StatusOK {
		t.Fatalf("count %s: status %d", index, code)
	}
	return c.Count
}

func write(t *testing.T, s *search.Sink, batch []sink.Document) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
}

// Documents are indexed into the data stream (or daily index) of their type, readable
// by their deterministic id, with their body unchanged.
func TestIndexedAndReadable(t *testing.T) {
	forEngines(t, func(t *testing.T, e testEngine, url string) {
		s := newSink(t, url, e.with(func(c *search.Config) { c.BulkMaxDocs = 7 }), nil)
		at := time.Now().UTC()
		batch := docs(50, "firewall", at)
		write(t, s, batch)
		index := s.IndexName("firewall", at)
		if got := count(t, url, index); got != 50 {
			t.Fatalf("count = %d, want 50", got)
		}
		for _, i := range []int{0, 17, 49} {
			// A data stream is searched, not read by GET: ask by _id.
			var res struct {
				Hits struct {
					Hits []struct {
						Source json.RawMessage `json:"_source"`
					}
				}
			}
			id := search.DocumentID(&batch[i])
			if code := get(t, http.MethodGet, url+"/"+index+"/_search?q=_id:"+id, &res); code != http.StatusOK || len(res.Hits.Hits) != 1 {
				t.Fatalf("search id %s: status %d, %d hits", id, code, len(res.Hits.Hits))
			}
			if src := res.Hits.Hits[0].Source; !bytes.Equal(src, batch[i].Body) {
				t.Errorf("document %d: source %s, want %s", i, src, batch[i].Body)
			}
		}
	})
}

// Replaying the same batch (a failover, a restart) creates nothing: the engine answers
// 409 to create, which the sink counts as success.
func TestReplayCreatesNoDuplicates(t *testing.T) {
	forEngines(t, func(t *testing.T, e testEngine, url string) {
		dl := &deadLetters{}
		s := newSink(t, url, e.with(nil), dl)
		at := time.Now().UTC()
		batch := docs(40, "ids", at)
		for range 3 {
			write(t, s, batch)
		}
		// A partial replay mixed with new documents.
		more := append(docs(45, "ids", at)[30:], batch[:5]...)
		write(t, s, more)
		if got := count(t, url, s.IndexName("ids", at)); got != 45 {
			t.Fatalf("count = %d, want 45", got)
		}
		if n := len(dl.all()); n != 0 {
			t.Fatalf("%d dead letters, want 0", n)
		}
	})
}

// A document the engine refuses (a string in an ip field or a number field, a keyword
// too large to index, a malformed body) goes to the dead letters with its reason, and
// the rest of the batch is indexed. Dead letters are written with the file sink, as in
// `sluice dev`.
func TestMappingErrorDeadLettered(t *testing.T) {
	forEngines(t, func(t *testing.T, eng testEngine, url string) {
		dir := t.TempDir()
		fs, err := file.New(file.Config{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
		s := newSink(t, url, eng.with(nil), fs)
		batch := docs(10, "waf", at)
		batch[3].Body = []byte(`{"@timestamp":"2026-11-26T08:00:00Z","source":{"ip":"not-an-ip"}}`)
		batch[7].Body = []byte(`{"@timestamp":"2026-11-26T08:00:00Z","source":{"port":"eighty"}}`)
		// event.action is a keyword without ignore_above in sluice's template; Lucene
		// refuses a term over 32766 bytes ("immense term").
		huge := strings.Repeat("x", 40_000)
		batch[5].Body = []byte(`{"@timestamp":"2026-11-26T08:00:00Z","event":{"action":"` + huge + `"}}`)
		batch = append(batch, sink.Document{Type: "waf", Time: at, ID: "bad-body", Body: []byte("not json")})
		write(t, s, batch)
		if got := count(t, url, s.IndexName("waf", at)); got != 7 {
			t.Fatalf("count = %d, want 7", got)
		}
		var lines []map[string]any
		matches, _ := filepath.Glob(filepath.Join(dir, search.DeadLetterType, "*.ndjson"))
		for _, m := range matches {
			f, err := os.Open(m)
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, 1<<20) // a dead letter holds the whole original event
			for sc.Scan() {
				var v map[string]any
				if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
					t.Fatalf("dead letter %s: %v", sc.Text(), err)
				}
				lines = append(lines, v)
			}
			f.Close()
			if err := sc.Err(); err != nil {
				t.Fatalf("read dead letters %s: %v", m, err)
			}
		}
		if len(lines) != 4 {
			t.Fatalf("%d dead letters, want 4: %v", len(lines), lines)
		}
		byID := map[string]map[string]any{}
		for _, l := range lines {
			byID[l["id"].(string)] = l
			if l["log_type"] != "waf" || l["@timestamp"] == nil || l["index"] != s.IndexName("waf", at) {
				t.Errorf("dead letter lacks log type, time or index: %v", l)
			}
		}
		for _, i := range []int{3, 7} {
			l := byID[batch[i].ID]
			if l == nil {
				t.Fatalf("document %d not dead-lettered: %v", i, lines)
			}
			e := l["error"].(map[string]any)
			if e["type"] != eng.mappingError || e["reason"] == "" || l["status"] != float64(400) {
				t.Errorf("document %d: error %v status %v, want %s 400 with a reason", i, e, l["status"], eng.mappingError)
			}
			if _, ok := l["event"].(map[string]any); !ok {
				t.Errorf("document %d: original event missing: %v", i, l)
			}
		}
		if l := byID[batch[5].ID]; l == nil {
			t.Errorf("document with an immense keyword not dead-lettered")
		} else if e := l["error"].(map[string]any); l["status"] != float64(400) || !strings.Contains(fmt.Sprint(e["reason"]), "immense term") {
			t.Errorf("document with an immense keyword: error %.2000v status %v, want 400 naming the immense term", e, l["status"])
		} else if r := fmt.Sprint(e["reason"]); len(r) > 8<<10 {
			t.Errorf("document with an immense keyword: reason of %d bytes, want it bounded (the event holds the value)", len(r))
		} else if ev, _ := l["event"].(map[string]any); ev == nil || len(fmt.Sprint(ev["event"])) < 40_000 {
			t.Errorf("document with an immense keyword: the original is not kept whole")
		}
		if l := byID["bad-body"]; l == nil || l["event_text"] != "not json" || l["error"].(map[string]any)["type"] != "invalid_document" {
			t.Errorf("malformed body: dead letter %v", l)
		}
	})
}

// faultProxy forwards every request to the engine and, on the way back, rewrites the
// answer of the bulk items whose source contains a marker: the first `times` answers
// for each marked item become the given status. It records each _bulk body it forwards.
type faultProxy struct {
	target string
	marker string
	status int
	times  int

	mu     sync.Mutex
	seen   map[string]int // marked source line -> faults injected
	bodies [][]byte
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	req.Header = r.Header.Clone()
	req.Header.Del("Accept-Encoding") // the answer is rewritten, so read it plain
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if strings.HasSuffix(r.URL.Path, "/_bulk") && resp.StatusCode == http.StatusOK {
		answer = p.rewrite(body, answer)
	}
	for k, v := range resp.Header { // X-Elastic-Product too: go-elasticsearch checks it
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length") // the answer may have been rewritten
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}

func (p *faultProxy) rewrite(body, answer []byte) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bodies = append(p.bodies, body)
	lines := bytes.Split(bytes.TrimSpace(body), []byte("\n"))
	var ans struct {
		Took   int                         `json:"took"`
		Errors bool                        `json:"errors"`
		Items  []map[string]map[string]any `json:"items"`
	}
	if err := json.Unmarshal(answer, &ans); err != nil {
		return answer
	}
	for i := 0; 2*i+1 < len(lines) && i < len(ans.Items); i++ {
		src := string(lines[2*i+1])
		if !strings.Contains(src, p.marker) || p.seen[src] >= p.times {
			continue
		}
		p.seen[src]++
		for _, v := range ans.Items[i] {
			v["status"] = p.status
			v["error"] = map[string]any{"type": "injected", "reason": fmt.Sprintf("injected %d", p.status)}
		}
		ans.Errors = true
	}
	out, _ := json.Marshal(ans)
	return out
}

// Items the engine throttles (429) or fails (503) are retried, and only they: the
// retried requests hold nothing but the faulted documents, and at the end each
// document is indexed once.
func TestRetryOnlyFailedItems(t *testing.T) {
	forEngines(t, func(t *testing.T, e testEngine, url string) {
		for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
			t.Run(fmt.Sprint(status), func(t *testing.T) {
				p := &faultProxy{target: url, marker: `"retry-me"`, status: status, times: 2, seen: map[string]int{}}
				srv := httptest.NewServer(p)
				t.Cleanup(srv.Close) // after the sink's cleanups, which go through it
				dl := &deadLetters{}
				s := newSink(t, srv.URL, e.with(nil), dl)
				at := time.Now().UTC()
				batch := docs(20, "fw", at)
				for _, i := range []int{2, 11, 19} {
					batch[i].Body = append(bytes.TrimSuffix(batch[i].Body, []byte("}")), `,"tags":["retry-me"]}`...)
				}
				write(t, s, batch)
				p.mu.Lock()
				bodies := p.bodies
				p.mu.Unlock()
				if len(bodies) != 3 {
					t.Fatalf("%d bulk requests, want 3 (one, then two retries)", len(bodies))
				}
				for _, b := range bodies[1:] {
					if n := bytes.Count(b, []byte("\n")); n != 6 {
						t.Errorf("retry request has %d lines, want 6 (the 3 faulted documents): %s", n, b)
					}
					if c := bytes.Count(b, []byte(`"retry-me"`)); c != 3 {
						t.Errorf("retry request holds %d faulted documents, want 3", c)
					}
				}
				if got := count(t, url, s.IndexName("fw", at)); got != 20 {
					t.Fatalf("count = %d, want 20", got)
				}
				if n := len(dl.all()); n != 0 {
					t.Fatalf("%d dead letters, want 0", n)
				}
			})
		}
	})
}

// When the engine cannot be reached, Write keeps retrying until its context ends, then
// fails: nothing is reported as written, nothing is dead-lettered.
func TestUnreachableFailsAtContextEnd(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + ln.Addr().String()
	ln.Close()
	dl := &deadLetters{}
	s := newSink(t, addr, func(c *search.Config) { c.Template, c.Lifecycle.Mode = false, search.LifecycleOff }, dl)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	began := time.Now()
	err = s.Write(ctx, docs(5, "fw", time.Now()))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Write = %v, want an error wrapping context.DeadlineExceeded", err)
	}
	if d := time.Since(began); d < 400*time.Millisecond || d > 5*time.Second {
		t.Errorf("Write returned after %s, want about 500ms", d)
	}
	if n := len(dl.all()); n != 0 {
		t.Fatalf("%d dead letters, want 0", n)
	}
}

// New installs the index template (twice is the same as once) and the data stream gets
// sluice's mappings.
func TestTemplateAndIndexNames(t *testing.T) {
	url := engineURL(t)
	ns := namespace(t)
	mod := func(c *search.Config) { c.Namespace = ns }
	s := newSink(t, url, mod, nil)
	newSink(t, url, mod, nil) // again: no error, same template
	var tpl struct {
		IndexTemplates []struct {
			Name          string
			IndexTemplate struct {
				IndexPatterns []string       `json:"index_patterns"`
				DataStream    map[string]any `json:"data_stream"`
			} `json:"index_template"`
		} `json:"index_templates"`
	}
	if code := get(t, http.MethodGet, url+"/_index_template/"+s.TemplateName(), &tpl); code != http.StatusOK || len(tpl.IndexTemplates) != 1 {
		t.Fatalf("template %s: status %d, %+v", s.TemplateName(), code, tpl)
	}
	it := tpl.IndexTemplates[0].IndexTemplate
	if it.DataStream == nil || len(it.IndexPatterns) != 1 || it.IndexPatterns[0] != "logs-*-"+ns {
		t.Errorf("template = %+v, want data stream on logs-*-%s", it, ns)
	}
	write(t, s, docs(3, "ids", time.Now()))
	name := "logs-ids-" + ns
	if got := s.IndexName("ids", time.Time{}); got != name {
		t.Fatalf("IndexName = %s, want %s", got, name)
	}
	if code := get(t, http.MethodGet, url+"/_data_stream/"+name, nil); code != http.StatusOK {
		t.Fatalf("data stream %s: status %d", name, code)
	}
	sourceIPMapped(t, url, name)
}

// sourceIPMapped checks that source.ip of index (or data stream) is mapped as ip, as
// sluice's template says.
func sourceIPMapped(t *testing.T, url, index string) {
	t.Helper()
	var mapping map[string]struct {
		Mappings struct {
			Properties map[string]struct {
				Properties map[string]struct{ Type string }
			}
		}
	}
	if code := get(t, http.MethodGet, url+"/"+index+"/_mapping", &mapping); code != http.StatusOK || len(mapping) == 0 {
		t.Fatalf("mapping of %s: status %d, %d indices", index, code, len(mapping))
	}
	for idx, m := range mapping {
		if typ := m.Mappings.Properties["source"].Properties["ip"].Type; typ != "ip" {
			t.Errorf("%s: source.ip is %q, want ip", idx, typ)
		}
	}
}

// The daily layout writes to <prefix>-<type>-YYYY.MM.DD by the document's UTC date,
// with sluice's mappings.
func TestDailyIndexNames(t *testing.T) {
	forEngines(t, func(t *testing.T, e testEngine, url string) {
		daily := newSink(t, url, func(c *search.Config) { c.Engine, c.Layout = e.engine, search.LayoutDaily }, nil)
		at := time.Date(2026, 11, 25, 23, 30, 0, 0, time.FixedZone("x", -2*3600)) // 2026-11-26 UTC
		write(t, daily, docs(2, "waf", at))
		want := daily.TemplateName() + "-waf-2026.11.26"
		if got := daily.IndexName("waf", at); got != want {
			t.Fatalf("IndexName = %s, want %s", got, want)
		}
		if got := count(t, url, want); got != 2 {
			t.Fatalf("count %s = %d, want 2", want, got)
		}
		sourceIPMapped(t, url, want)
	})
}

// Dead letters of the transformer (undecodable records) go to the dead-letter
// destination as they are, never to the engine.
func TestTransformerDeadLettersPassThrough(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + ln.Addr().String()
	ln.Close()
	dl := &deadLetters{}
	s := newSink(t, addr, func(c *search.Config) { c.Template, c.Lifecycle.Mode = false, search.LifecycleOff }, dl)
	in := sink.Document{Type: search.DeadLetterType, ID: "x", Body: []byte(`{"error":"decode"}`)}
	if err := s.Write(context.Background(), []sink.Document{in}); err != nil {
		t.Fatal(err)
	}
	if got := dl.all(); len(got) != 1 || string(got[0].Body) != string(in.Body) {
		t.Fatalf("dead letters = %v, want the document as written", got)
	}
}

func TestDocumentID(t *testing.T) {
	a := search.DocumentID(&sink.Document{ID: "fw/shardId-000000000001/49590338271490256608559692538361571095921575989136588898"})
	b := search.DocumentID(&sink.Document{ID: "fw/shardId-000000000001/49590338271490256608559692538361571095921575989136588899"})
	if len(a) != 22 || a == b {
		t.Fatalf("ids %q %q: want 22 characters, distinct", a, b)
	}
	c1 := search.DocumentID(&sink.Document{Type: "fw", Body: []byte(`{"a":1}`)})
	c2 := search.DocumentID(&sink.Document{Type: "fw", Body: []byte(`{"a":1}`)})
	c3 := search.DocumentID(&sink.Document{Type: "ids", Body: []byte(`{"a":1}`)})
	if c1 != c2 || c1 == c3 {
		t.Fatalf("content ids %q %q %q: want equal for equal content, distinct by type", c1, c2, c3)
	}
}

func TestConfigValidate(t *testing.T) {
	c := search.DefaultConfig()
	c.Engine = "solr"
	c.Addresses = []string{"ftp://x"}
	c.Layout = "monthly"
	c.Workers = 0
	c.APIKey = "k"
	c.Username = "u"
	err := c.Validate()
	for _, want := range []string{"engine", "addresses[0]", "layout", "workers", "api_key"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want a problem at %s", err, want)
		}
	}
	if strings.Contains(fmt.Sprintf("%v %#v %s", c, c, c.APIKey), `"k"`) {
		t.Error("the API key prints")
	}
	ok := search.DefaultConfig()
	ok.Addresses = []string{"http://127.0.0.1:9200"}
	if err := ok.Validate(); err != nil {
		t.Errorf("defaults with an address: %v", err)
	}
}

// outageProxy forwards to the engine, except while down: then it drops every connection
// without an answer, as an engine that is stopped or unreachable does.
type outageProxy struct {
	target string
	mu     sync.Mutex
	down   bool
	failed int
}

func (p *outageProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

func (p *outageProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	down := p.down
	if down {
		p.failed++
	}
	p.mu.Unlock()
	if down {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		http.Error(w, "down", http.StatusBadGateway)
		return
	}
	body, _ := io.ReadAll(r.Body)
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// While the engine is unreachable, Write does not return (nothing is acknowledged); when
// the engine is back, every document is indexed exactly once (a third of the batch was
// indexed before the outage and answers 409).
func TestOutageThenRecovery(t *testing.T) {
	forEngines(t, func(t *testing.T, e testEngine, url string) {
		p := &outageProxy{target: url}
		srv := httptest.NewServer(p)
		t.Cleanup(srv.Close) // after the sink's cleanups, which go through it
		dl := &deadLetters{}
		s := newSink(t, srv.URL, e.with(func(c *search.Config) { c.BulkMaxDocs = 10 }), dl)
		at := time.Now().UTC()
		batch := docs(60, "fw", at)
		write(t, s, batch[:20]) // indexed before the outage; replayed below

		p.setDown(true)
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			done <- s.Write(ctx, batch)
		}()
		select {
		case err := <-done:
			t.Fatalf("Write returned %v while the engine was unreachable", err)
		case <-time.After(1500 * time.Millisecond):
		}
		p.setDown(false)
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Write did not return within 20s of the engine coming back")
		}
		p.mu.Lock()
		failed := p.failed
		p.mu.Unlock()
		if failed < 2 {
			t.Errorf("%d requests during the outage, want retries", failed)
		}
		if got := count(t, url, s.IndexName("fw", at)); got != 60 {
			t.Fatalf("count = %d, want 60", got)
		}
		if n := len(dl.all()); n != 0 {
			t.Fatalf("%d dead letters, want 0", n)
		}
	})
}

// With a flush interval, concurrent Write calls (one per shard) share _bulk requests,
// each Write still returns only once its own documents are indexed, and a throttled
// item is retried alone.
func TestFlushIntervalGathersWrites(t *testing.T) {
	forEngines(t, func(t *testing.T, e testEngine, url string) {
		p := &faultProxy{target: url, marker: `"retry-me"`, status: http.StatusTooManyRequests, times: 1, seen: map[string]int{}}
		srv := httptest.NewServer(p)
		t.Cleanup(srv.Close) // after the sink's cleanups, which go through it
		s := newSink(t, srv.URL, e.with(func(c *search.Config) { c.FlushInterval = 300 * time.Millisecond }), nil)
		at := time.Now().UTC()
		all := docs(50, "fw", at)
		all[13].Body = append(bytes.TrimSuffix(all[13].Body, []byte("}")), `,"tags":["retry-me"]}`...)
		var wg sync.WaitGroup
		errs := make(chan error, 5)
		for w := range 5 {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				errs <- s.Write(ctx, all[w*10:(w+1)*10])
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		p.mu.Lock()
		bodies := p.bodies
		p.mu.Unlock()
		// One shared request (two if a Write came late), then the retry of one document.
		if len(bodies) < 2 || len(bodies) > 3 {
			t.Fatalf("%d bulk requests for 5 writes, want 2 or 3", len(bodies))
		}
		if last := bodies[len(bodies)-1]; bytes.Count(last, []byte("\n")) != 2 {
			t.Errorf("retry request %s, want the one throttled document", last)
		}
		if got := count(t, url, s.IndexName("fw", at)); got != 50 {
			t.Fatalf("count = %d, want 50", got)
		}
	})
}

// TestBulkLinesOfAMixedWrite: in one Write of documents of interleaved log types and
// days (the daily layout), each action line names the document's own index and id, as
// IndexName and DocumentID give them, and carries its body: the encoder's memory of
// the last document's index never leaks to the next. A recording endpoint stands in
// for the engine: what is checked is the request sluice sends.
func TestBulkLinesOfAMixedWrite(t *testing.T) {
	var mu sync.Mutex
	var bodies [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, body)
		mu.Unlock()
		n := bytes.Count(body, []byte("\n")) / 2
		var out bytes.Buffer
		out.WriteString(`{"took":1,"errors":false,"items":[`)
		for i := range n {
			if i > 0 {
				out.WriteByte(',')
			}
			out.WriteString(`{"create":{"status":201}}`)
		}
		out.WriteString("]}")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out.Bytes())
	}))
	defer srv.Close()
	s := newSink(t, srv.URL, func(c *search.Config) {
		c.Layout, c.Template, c.Lifecycle.Mode = search.LayoutDaily, false, search.LifecycleOff
	}, nil)
	day1 := time.Date(2026, 12, 6, 23, 59, 59, 0, time.UTC)
	day2 := day1.Add(time.Second)
	var docs []sink.Document
	for i, c := range []struct {
		typ string
		at  time.Time
	}{
		{"firewall", day1}, {"firewall", day1}, {"ids", day1}, {"ids", day2}, {"firewall", day2},
		{"firewall", day1}, {"waf", day2}, {"waf", day2},
	} {
		docs = append(docs, sink.Document{Type: c.typ, Time: c.at, ID: fmt.Sprintf("id-%d", i), Body: fmt.Appendf(nil, `{"n":%d}`, i)})
	}
	if err := s.Write(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, b := range bodies {
		lines = append(lines, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")...)
	}
	if len(lines) != 2*len(docs) {
		t.Fatalf("%d bulk lines, want %d", len(lines), 2*len(docs))
	}
	for i := range docs {
		var action struct {
			Create struct {
				Index string `json:"_index"`
				ID    string `json:"_id"`
			} `json:"create"`
		}
		if err := json.Unmarshal([]byte(lines[2*i]), &action); err != nil {
			t.Fatalf("action line %q: %v", lines[2*i], err)
		}
		d := &docs[i]
		if action.Create.Index != s.IndexName(d.Type, d.Time) || action.Create.ID != search.DocumentID(d) || lines[2*i+1] != string(d.Body) {
			t.Errorf("document %d (%s, %s): %s / %s; want index %s, id %s", i, d.Type, d.Time.Format(time.DateOnly),
				lines[2*i], lines[2*i+1], s.IndexName(d.Type, d.Time), search.DocumentID(d))
		}
	}
}
