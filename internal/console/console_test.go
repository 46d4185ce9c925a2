package console

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fakePlayground answers with the lines it was given; the real one is tested with the
// pipelines in cmd/sluice.
type fakePlayground struct{ got PlaygroundRequest }

func (p *fakePlayground) Pipelines() []PipelineInfo {
	return []PipelineInfo{{Name: "fw", YAML: "processors: []\n"}}
}

func (p *fakePlayground) Run(_ context.Context, req PlaygroundRequest) (*PlaygroundResult, error) {
	p.got = req
	if req.Pipeline == "broken" {
		return nil, errors.New("yaml: processors[0]: unknown processor")
	}
	return &PlaygroundResult{Pipeline: req.Pipeline, Results: []LineResult{{Input: req.Lines[0]}}}, nil
}

func newTestConsole(t *testing.T, opts Options) (*httptest.Server, *Tap, *Failures) {
	t.Helper()
	if opts.Tap == nil {
		opts.Tap = NewTap(0)
	}
	if opts.Failures == nil {
		opts.Failures = NewFailures(10)
	}
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, opts.Tap, opts.Failures
}

func get(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// TestConsolePageAndAssets: the page names its assets under their version, which are
// served as immutable; every answer has the strict Content-Security-Policy.
func TestConsolePageAndAssets(t *testing.T) {
	srv, _, _ := newTestConsole(t, Options{})
	resp, page := get(t, srv.URL+"/ui")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "<title>sluice console</title>") {
		t.Fatalf("GET /ui: %d\n%s", resp.StatusCode, page)
	}
	if resp.Header.Get("Content-Security-Policy") != CSP {
		t.Errorf("CSP %q", resp.Header.Get("Content-Security-Policy"))
	}
	i := strings.Index(page, `src="/ui/assets/`)
	if i < 0 {
		t.Fatal("the page names no script asset")
	}
	src := page[i+len(`src="`):]
	src = src[:strings.IndexByte(src, '"')]
	resp, js := get(t, srv.URL+src)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") ||
		!strings.Contains(resp.Header.Get("Cache-Control"), "immutable") || !strings.Contains(js, "refreshFlow") {
		t.Errorf("GET %s: %d %v", src, resp.StatusCode, resp.Header)
	}
	if resp, _ := get(t, srv.URL+"/ui/assets/0123456789abcdef/console.js"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an asset of another version: %d, want 404", resp.StatusCode)
	}
	if resp, _ := get(t, srv.URL+"/ui/"); resp.StatusCode != http.StatusOK { // redirected to /ui
		t.Errorf("GET /ui/: %d", resp.StatusCode)
	}
}

// TestConsoleAuthorize: the API answers 401 with a bearer challenge until Authorize
// accepts; the page and its assets need no key (they hold no data).
func TestConsoleAuthorize(t *testing.T) {
	srv, _, _ := newTestConsole(t, Options{Authorize: func(r *http.Request) error {
		if r.Header.Get("Authorization") != "Bearer k" {
			return errors.New("missing API key")
		}
		return nil
	}})
	for _, path := range []string{"info", "flow", "failures", "tap", "pipelines"} {
		resp, body := get(t, srv.URL+"/ui/api/"+path)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "missing API key") || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("GET %s without a key: %d %s", path, resp.StatusCode, body)
		}
	}
	if resp, body := get(t, srv.URL+"/ui/api/info", "Authorization", "Bearer k"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET info with the key: %d %s", resp.StatusCode, body)
	}
	if resp, _ := get(t, srv.URL+"/ui"); resp.StatusCode != http.StatusOK {
		t.Errorf("the page needs a key: %d", resp.StatusCode)
	}
}

// TestConsoleFailuresAPI: the failures recorded, filtered by type and limited, and a
// bad limit refused.
func TestConsoleFailuresAPI(t *testing.T) {
	srv, _, fs := newTestConsole(t, Options{})
	fs.Record(Failure{Type: "fw", Processor: "processors[0] grok", Error: "no match", Event: "hello"})
	fs.Record(Failure{Type: "waf", Processor: "processors[0] json", Error: "not JSON", Event: "x"})
	resp, body := get(t, srv.URL+"/ui/api/failures?type=fw")
	var v FailuresView
	if err := json.Unmarshal([]byte(body), &v); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if v.Total != 2 || len(v.Latest) != 1 || v.Latest[0].Event != "hello" || len(v.Classes) != 1 {
		t.Errorf("view %+v", v)
	}
	if resp, body := get(t, srv.URL+"/ui/api/failures?limit=-1"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "limit") {
		t.Errorf("limit=-1: %d %s", resp.StatusCode, body)
	}
}

// TestConsoleTapStream: GET /ui/api/tap streams the samples of its point as NDJSON
// while the client reads, and stops watching when the client goes.
func TestConsoleTapStream(t *testing.T) {
	srv, tap, _ := newTestConsole(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/ui/api/tap?point=transformed&type=fw&rate=100", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	if !tap.Watching(PointTransformed) {
		t.Fatal("the stream does not watch its point")
	}
	tap.Sample(PointTransformed, "ids", "", []byte(`{"n":0}`))
	tap.Sample(PointTransformed, "fw", "", []byte(`{"n":1}`))
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var s Sample
	if err := json.Unmarshal([]byte(line), &s); err != nil || s.Type != "fw" || string(s.Event) != `{"n":1}` || s.Point != PointTransformed {
		t.Fatalf("line %q: %v", line, err)
	}
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for tap.Watching(PointTransformed) {
		if time.Now().After(deadline) {
			t.Fatal("still watching after the client went")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, q := range []string{"point=parsed", "rate=0", "rate=x", "rate=NaN", "rate=-Inf"} {
		if resp, body := get(t, srv.URL+"/ui/api/tap?"+q); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("tap?%s: %d %s", q, resp.StatusCode, body)
		}
	}
}

// TestConsoleTapStreamsBounded: no more tap streams than the bound are open at once.
func TestConsoleTapStreamsBounded(t *testing.T) {
	srv, _, _ := newTestConsole(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range maxTapSubscriptions {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/ui/api/tap", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: %v %v", i, err, resp)
		}
		defer resp.Body.Close()
	}
	if resp, body := get(t, srv.URL+"/ui/api/tap"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("one stream too many: %d %s", resp.StatusCode, body)
	}
}

// TestConsolePlaygroundAPI: requests within the limits reach the playground; others
// are refused with what is wrong; its errors are 422; without one, 404.
func TestConsolePlaygroundAPI(t *testing.T) {
	pg := &fakePlayground{}
	srv, _, _ := newTestConsole(t, Options{Playground: pg})
	post := func(body string) (int, string) {
		resp, err := http.Post(srv.URL+"/ui/api/playground", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post(`{"pipeline":"fw","lines":["a b c"]}`); code != 200 || pg.got.Lines[0] != "a b c" || !strings.Contains(body, `"input":"a b c"`) {
		t.Errorf("%d %s", code, body)
	}
	for body, want := range map[string]string{
		`{"lines":["x"]}`:   "pipeline: required",
		`{"pipeline":"fw"}`: "lines: give at least one line",
		`{"pipeline":"fw","lines":[` + strings.Repeat(`"x",`, MaxPlaygroundLines) + `"x"]}`:   "at most 200",
		`{"pipeline":"fw","lines":["` + strings.Repeat("x", MaxPlaygroundLineBytes+1) + `"]}`: "lines[0]",
		`{"pipeline":"fw","lines":"x"}`:               "not a playground request",
		`{"pipeline":"fw","lines":[null]}`:            "lines[0]: want a string",
		`{"pipeline":"fw","yaml":null,"lines":["x"]}`: "yaml: want a string",
		`{"pipeline":7,"lines":["x"]}`:                "pipeline: want a string",
	} {
		if code, got := post(body); code != http.StatusBadRequest || !strings.Contains(got, want) {
			t.Errorf("%.60s: %d %s, want 400 with %q", body, code, got, want)
		}
	}
	if code, body := post(`{"pipeline":"fw","lines":["` + strings.Repeat("x", maxPlaygroundBody) + `"]}`); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a body over the limit: %d %.100s", code, body)
	}
	if code, body := post(`{"pipeline":"broken","lines":["x"]}`); code != http.StatusUnprocessableEntity || !strings.Contains(body, "unknown processor") {
		t.Errorf("a playground error: %d %s", code, body)
	}
	resp, body := get(t, srv.URL+"/ui/api/playground")
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET playground: %d %s, Allow %q", resp.StatusCode, body, resp.Header.Get("Allow"))
	}
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/ui/api/flow", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("DELETE flow: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}

	bare, _, _ := newTestConsole(t, Options{})
	resp, err = http.Post(bare.URL+"/ui/api/playground", "application/json", strings.NewReader(`{"pipeline":"fw","lines":["x"]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("playground of a role without pipelines: %d", resp.StatusCode)
	}
	if _, body := get(t, bare.URL+"/ui/api/info"); !strings.Contains(body, `"playground":false`) {
		t.Errorf("info %s", body)
	}
}

// TestConfigValidate: the section's defaults are valid, and each bound is checked.
func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.AdminKeySHA256 = "abc"
	c.SampleInterval = time.Millisecond
	c.TapRate = 0
	c.KeepFailures = 0
	err := c.Validate()
	for _, want := range []string{"admin_key_sha256", "sample_interval", "tap_rate", "keep_failures"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("no problem with %s in %v", want, err)
		}
	}
	c = DefaultConfig()
	c.SampleInterval, c.Window = 100*time.Millisecond, 24*time.Hour
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "at most 20000") {
		t.Errorf("a window of too many samples: %v", err)
	}
}

// FuzzDecodePlayground: the playground's request decoder never panics, and what it
// accepts is what encoding/json reads, with every line kept.
func FuzzDecodePlayground(f *testing.F) {
	for _, s := range []string{`{"pipeline":"fw","lines":["a"]}`, `{"pipeline":"fw","yaml":"processors: []","lines":["a","b"]}`,
		`{"lines":[null]}`, `{"pipeline":null}`, `[]`, `{"lines":{}}`, `{"pipeline":"\u00e9","lines":[""]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodePlayground(body)
		if err != nil {
			return
		}
		var ref PlaygroundRequest
		if jerr := json.Unmarshal(body, &ref); jerr != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", body, jerr)
		}
		if req.Pipeline != ref.Pipeline || req.YAML != ref.YAML || len(req.Lines) != len(ref.Lines) {
			t.Fatalf("%q: decoded %+v, encoding/json %+v", body, req, ref)
		}
		for i := range req.Lines {
			if req.Lines[i] != ref.Lines[i] {
				t.Fatalf("%q: line %d %q, encoding/json %q", body, i, req.Lines[i], ref.Lines[i])
			}
		}
	})
}

// TestConsoleTapPointsOfTheRole: a process lists the points its data path has, and a
// tap of another point is refused by name rather than left silent.
func TestConsoleTapPointsOfTheRole(t *testing.T) {
	srv, _, _ := newTestConsole(t, Options{Role: "gateway", Points: []string{PointReceived}})
	if _, body := get(t, srv.URL+"/ui/api/info"); !strings.Contains(body, `"points":["received"]`) {
		t.Errorf("info %s", body)
	}
	resp, body := get(t, srv.URL+"/ui/api/tap?point=indexed")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "this process (gateway) has only received") {
		t.Errorf("tap of a point the role lacks: %d %s", resp.StatusCode, body)
	}
}

// TestConsoleCloseStreams: CloseStreams ends the open tap streams (the server's drain
// at shutdown waits for them otherwise) and refuses new ones.
func TestConsoleCloseStreams(t *testing.T) {
	h, err := New(Options{Tap: NewTap(0)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/ui/api/tap")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	ended := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(resp.Body)
		ended <- err
	}()
	h.CloseStreams()
	if err := <-ended; err != nil {
		t.Errorf("the stream ended with %v, want its end", err)
	}
	if r, body := get(t, srv.URL+"/ui/api/tap"); r.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a tap after CloseStreams: %d %s", r.StatusCode, body)
	}
	h.CloseStreams() // twice is fine
}
