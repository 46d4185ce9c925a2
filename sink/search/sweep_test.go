package search_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/sluice-siem/sluice/sink/search"
)

// clock is a settable clock for the sweeper.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// sweepSink starts a sink on the real engine with lifecycle mode sluice, the given
// clock and meter.
func sweepSink(t *testing.T, url string, mod func(*search.Config), now func() time.Time, meter *sdkmetric.MeterProvider) *search.Sink {
	t.Helper()
	cfg := search.DefaultConfig()
	cfg.Addresses = []string{url}
	cfg.Lifecycle.Mode = search.LifecycleSluice
	cfg.Lifecycle.RolloverMaxAge = search.Age(time.Hour) // no rollover unless a test wants one
	if mod != nil {
		mod(&cfg)
	}
	opts := search.Options{DeadLetters: &deadLetters{}, Now: now}
	if meter != nil {
		opts.Meter = meter.Meter("test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := search.New(ctx, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	t.Cleanup(func() { removeAll(url, cfg) })
	return s
}

// removeAll deletes what a test made under cfg's namespace or prefix, best effort.
// Daily indices are deleted by name: Elasticsearch refuses to delete by wildcard unless
// action.destructive_requires_name is off.
func removeAll(url string, cfg search.Config) {
	var paths []string
	if cfg.Layout == search.LayoutDaily {
		if resp, err := http.Get(url + "/" + cfg.IndexPrefix + "-*/_settings/index.creation_date"); err == nil {
			var ans map[string]any
			if resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&ans) == nil && len(ans) > 0 {
				paths = append(paths, "/"+strings.Join(slices.Collect(maps.Keys(ans)), ","))
			}
			resp.Body.Close()
		}
		paths = append(paths, "/_index_template/"+cfg.IndexPrefix)
	} else {
		paths = []string{"/_data_stream/logs-*-" + cfg.Namespace, "/_index_template/sluice-logs-" + cfg.Namespace}
	}
	for _, p := range paths {
		req, err := http.NewRequest(http.MethodDelete, url+p, nil)
		if err != nil {
			continue
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
}

// backing returns the backing indices of data stream ds, the write index last.
func backing(t *testing.T, url, ds string) []string {
	t.Helper()
	var ans struct {
		DataStreams []struct {
			Indices []struct {
				Name string `json:"index_name"`
			} `json:"indices"`
		} `json:"data_streams"`
	}
	if code := get(t, http.MethodGet, url+"/_data_stream/"+ds, &ans); code != http.StatusOK || len(ans.DataStreams) != 1 {
		t.Fatalf("data stream %s: status %d, %+v", ds, code, ans)
	}
	var out []string
	for _, ix := range ans.DataStreams[0].Indices {
		out = append(out, ix.Name)
	}
	return out
}

// indices returns the names of the indices matching pattern, sorted.
func indices(t *testing.T, url, pattern string) []string {
	t.Helper()
	var ans map[string]any
	if code := get(t, http.MethodGet, url+"/"+pattern+"/_settings/index.creation_date", &ans); code != http.StatusOK {
		t.Fatalf("indices %s: status %d", pattern, code)
	}
	var out []string
	for name := range ans {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// created returns the creation time of index, as the engine recorded it.
func created(t *testing.T, url, index string) time.Time {
	t.Helper()
	var ans map[string]struct {
		Settings struct {
			Index struct {
				CreationDate string `json:"creation_date"`
			} `json:"index"`
		} `json:"settings"`
	}
	get(t, http.MethodGet, url+"/"+index+"/_settings/index.creation_date", &ans)
	ms, err := strconv.ParseInt(ans[index].Settings.Index.CreationDate, 10, 64)
	if err != nil {
		t.Fatalf("creation date of %s: %v (%+v)", index, err, ans)
	}
	return time.UnixMilli(ms)
}

// rollOver rolls data stream ds over unconditionally, as an operator would.
func rollOver(t *testing.T, url, ds string) {
	t.Helper()
	if code := get(t, http.MethodPost, url+"/"+ds+"/_rollover", nil); code != http.StatusOK {
		t.Fatalf("roll over %s: status %d", ds, code)
	}
}

// sweepBoth runs a sweep of each sink at the same time and returns the results.
func sweepBoth(t *testing.T, a, b *search.Sink) [2]search.SweepResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var results [2]search.SweepResult
	var errs [2]error
	for i, s := range []*search.Sink{a, b} {
		wg.Go(func() { results[i], errs[i] = s.Sweep(ctx) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Errorf("concurrent sweep: %v", err)
		}
	}
	return results
}

func sweep(t *testing.T, s *search.Sink) search.SweepResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := s.Sweep(ctx)
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	return res
}

// union returns the names of both lists, sorted, each once; it fails the test if one
// list names an index twice.
func union(t *testing.T, a, b []string) []string {
	t.Helper()
	seen := map[string]bool{}
	var out []string
	for _, l := range [][]string{a, b} {
		mine := map[string]bool{}
		for _, n := range l {
			if mine[n] {
				t.Errorf("a sweep reported %s twice", n)
			}
			mine[n] = true
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out
}

// sumCounter sums an int64 counter of reader.
func sumCounter(t *testing.T, reader *sdkmetric.ManualReader, name string) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if d, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == name {
				for _, p := range d.DataPoints {
					sum += p.Value
				}
			}
		}
	}
	return sum
}

// The sweeper deletes exactly the backing indices created before now - retention, by
// the injected clock, never a write index, and leaves other data streams alone.
func TestSweepDataStreams(t *testing.T) {
	url := engineURL(t)
	ns := namespace(t)
	clk := &clock{t: time.Now()}
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	retention := 90 * 24 * time.Hour
	s := sweepSink(t, url, func(c *search.Config) { c.Namespace = ns }, clk.now, mp)

	write(t, s, docs(5, "fw", time.Now()))
	write(t, s, docs(3, "ids", time.Now()))
	fw, ids := "logs-fw-"+ns, "logs-ids-"+ns
	rollOver(t, url, fw)
	rollOver(t, url, fw)
	gens := backing(t, url, fw)
	if len(gens) != 3 {
		t.Fatalf("%s has %v, want 3 backing indices", fw, gens)
	}
	c1, c2 := created(t, url, gens[0]), created(t, url, gens[1])
	if !c1.Before(c2) {
		t.Fatalf("creation dates %v, %v not increasing", c1, c2)
	}

	// Nothing is expired yet by the real clock.
	if res := sweep(t, s); len(res.Deleted)+len(res.RolledOver) != 0 {
		t.Fatalf("fresh indices: sweep did %+v, want nothing", res)
	}
	// Now the first generation is past the retention, the second just not.
	clk.set(c2.Add(retention))
	res := sweep(t, s)
	if !slices.Equal(res.Deleted, gens[:1]) || len(res.RolledOver) != 0 {
		t.Fatalf("sweep did %+v, want only %s deleted", res, gens[0])
	}
	if got := backing(t, url, fw); !slices.Equal(got, gens[1:]) {
		t.Fatalf("%s keeps %v, want %v", fw, got, gens[1:])
	}
	if got := count(t, url, fw); got != 0 {
		t.Errorf("%s holds %d documents, want 0 (they were in the deleted generation)", fw, got)
	}
	// Far in the future every index but the write indices is expired.
	clk.set(time.Now().Add(10 * retention))
	res = sweep(t, s)
	if !slices.Equal(res.Deleted, gens[1:2]) {
		t.Fatalf("sweep deleted %v, want %s", res.Deleted, gens[1])
	}
	if got := backing(t, url, fw); !slices.Equal(got, gens[2:]) {
		t.Errorf("%s keeps %v, want the write index %s", fw, got, gens[2])
	}
	if got := count(t, url, ids); got != 3 {
		t.Errorf("%s holds %d documents, want 3 (its only index is the write index)", ids, got)
	}
	if d, r, e := sumCounter(t, reader, "sluice_search_lifecycle_deleted_indices_total"),
		sumCounter(t, reader, "sluice_search_lifecycle_rollovers_total"),
		sumCounter(t, reader, "sluice_search_lifecycle_sweep_errors_total"); d != 2 || r != 0 || e != 0 {
		t.Errorf("metrics: deleted %d, rolled over %d, errors %d; want 2, 0, 0", d, r, e)
	}
}

// Two sweepers at once (two transform tasks): each data stream is rolled over once, not
// twice, and exactly the expired indices are deleted, without errors.
func TestSweepConcurrent(t *testing.T) {
	url := engineURL(t)
	ns := namespace(t)
	roll := func(c *search.Config) {
		c.Namespace = ns
		c.Lifecycle.RolloverMaxAge = search.Age(time.Second)
	}
	a, b := sweepSink(t, url, roll, nil, nil), sweepSink(t, url, roll, nil, nil)
	types := []string{"fw", "ids", "waf"}
	for _, typ := range types {
		write(t, a, docs(2, typ, time.Now()))
	}
	// The write indices must be older than rollover_max_age by the engine's clock.
	youngest := time.Time{}
	for _, typ := range types {
		if c := created(t, url, backing(t, url, "logs-"+typ+"-"+ns)[0]); c.After(youngest) {
			youngest = c
		}
	}
	time.Sleep(time.Until(youngest.Add(1500 * time.Millisecond)))

	both := func(a, b *search.Sink) []string {
		results := sweepBoth(t, a, b)
		var rolled []string
		rolled = append(rolled, results[0].RolledOver...)
		rolled = append(rolled, results[1].RolledOver...)
		sort.Strings(rolled)
		return slices.Concat(rolled, []string{"|"}, union(t, results[0].Deleted, results[1].Deleted))
	}
	got := both(a, b)
	want := []string{"logs-fw-" + ns, "logs-ids-" + ns, "logs-waf-" + ns, "|"}
	if !slices.Equal(got, want) {
		t.Fatalf("rolled over %v, want each data stream once and nothing deleted: %v", got, want)
	}
	for _, typ := range types {
		if n := len(backing(t, url, "logs-"+typ+"-"+ns)); n != 2 {
			t.Errorf("logs-%s-%s has %d backing indices, want 2", typ, ns, n)
		}
	}

	// Far in the future, without rollovers: both delete the first generations.
	clk := &clock{t: time.Now().Add(10 * 365 * 24 * time.Hour)}
	keep := func(c *search.Config) { c.Namespace = ns }
	c, d := sweepSink(t, url, keep, clk.now, nil), sweepSink(t, url, keep, clk.now, nil)
	got = both(c, d)
	var wantDeleted []string
	for _, typ := range types {
		wantDeleted = append(wantDeleted, ".ds-logs-"+typ+"-"+ns+"-000001")
	}
	slices.Sort(got)
	wantDeleted = append(wantDeleted, "|")
	slices.Sort(wantDeleted)
	if !slices.Equal(got, wantDeleted) {
		t.Fatalf("rolled over | deleted: %v, want | %v", got, wantDeleted)
	}
	for _, typ := range types {
		if n := len(backing(t, url, "logs-"+typ+"-"+ns)); n != 1 {
			t.Errorf("logs-%s-%s has %d backing indices, want the write index only", typ, ns, n)
		}
	}
}

// Daily indices are deleted once their day ended retention ago; today's, younger days'
// and indices not named <prefix>-<type>-YYYY.MM.DD stay. Two sweepers run at once;
// each reports an index at most once.
func TestSweepDaily(t *testing.T) {
	forEngines(t, func(t *testing.T, e testEngine, url string) {
		ns := namespace(t)
		clk := &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)} // cutoff 2026-08-28 12:00
		daily := func(c *search.Config) { c.Engine, c.Layout, c.IndexPrefix = e.engine, search.LayoutDaily, ns }
		a, b := sweepSink(t, url, daily, clk.now, nil), sweepSink(t, url, daily, clk.now, nil)
		day := func(s string) time.Time {
			d, err := time.Parse("2006-01-02", s)
			if err != nil {
				t.Fatal(err)
			}
			return d.Add(6 * time.Hour)
		}
		for _, d := range []string{"2026-06-01", "2026-08-27", "2026-08-28", "2026-11-26"} {
			write(t, a, docs(1, "waf", day(d)))
		}
		write(t, a, docs(1, "fw", day("2026-08-27")))
		for _, other := range []string{ns + "-notes", ns + "-fw-2020.13.45", ns + "-2020.01.01"} {
			if code := get(t, http.MethodPut, url+"/"+other, nil); code != http.StatusOK {
				t.Fatalf("create %s: status %d", other, code)
			}
		}

		results := sweepBoth(t, a, b)
		deleted := union(t, results[0].Deleted, results[1].Deleted)
		want := []string{ns + "-fw-2026.08.27", ns + "-waf-2026.06.01", ns + "-waf-2026.08.27"}
		if !slices.Equal(deleted, want) {
			t.Errorf("deleted %v, want %v", deleted, want)
		}
		left := []string{ns + "-2020.01.01", ns + "-fw-2020.13.45", ns + "-notes", ns + "-waf-2026.08.28", ns + "-waf-2026.11.26"}
		if got := indices(t, url, ns+"-*"); !slices.Equal(got, left) {
			t.Errorf("indices left %v, want %v", got, left)
		}
	})
}

// recorder forwards to the engine and records each request's method and path.
type recorder struct {
	target string
	mu     sync.Mutex
	calls  []string
}

func (p *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.calls = append(p.calls, r.Method+" "+r.URL.Path)
	p.mu.Unlock()
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

// writes returns the recorded requests other than GET and forgets every request.
func (p *recorder) writes() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, c := range p.calls {
		if !strings.HasPrefix(c, "GET ") {
			out = append(out, c)
		}
	}
	p.calls = nil
	return out
}

// On the real engines, which have no lifecycle API (the OpenSearch here has no ISM
// plugin, the Elasticsearch integ-test-zip no ILM), mode auto finds none and falls back
// to the sweeper with a log line; mode engine refuses to start. The template is present
// after the first start, and a second start writes nothing.
func TestStartTwiceChangesNothing(t *testing.T) {
	forEngines(t, func(t *testing.T, e testEngine, url string) {
		rec := &recorder{target: url}
		proxy := httptest.NewServer(rec)
		defer proxy.Close()
		ns := namespace(t)
		layouts := []string{search.LayoutDaily}
		if e.dataStreams {
			layouts = []string{search.LayoutDataStream, search.LayoutDaily}
		}
		for _, layout := range layouts {
			cfg := search.DefaultConfig()
			cfg.Addresses = []string{proxy.URL}
			cfg.Engine, cfg.Namespace, cfg.IndexPrefix, cfg.Layout = e.engine, ns, ns, layout
			var logs bytes.Buffer
			s, err := start(t, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			if s.Lifecycle() != "sweeper" || !strings.Contains(logs.String(), "no lifecycle API") {
				t.Errorf("%s: Lifecycle %q, logs %q: want the sweeper and a log line saying why", layout, s.Lifecycle(), logs.String())
			}
			if got := rec.writes(); !slices.Equal(got, []string{"PUT /_index_template/" + s.TemplateName()}) {
				t.Errorf("%s: first start wrote %v, want the template only", layout, got)
			}
			if code := get(t, http.MethodGet, url+"/_index_template/"+s.TemplateName(), nil); code != http.StatusOK {
				t.Errorf("%s: template %s: status %d", layout, s.TemplateName(), code)
			}
			if _, err := start(t, cfg, nil); err != nil {
				t.Fatal(err)
			}
			if got := rec.writes(); len(got) != 0 {
				t.Errorf("%s: second start wrote %v, want nothing", layout, got)
			}
			cfg.Lifecycle.Mode = search.LifecycleEngine
			if _, err := start(t, cfg, nil); err == nil || !strings.Contains(err.Error(), "no lifecycle API") {
				t.Errorf("%s: mode engine without a lifecycle API: %v, want an error", layout, err)
			}
		}
		if !e.dataStreams {
			// The sweeper cannot manage data streams on an engine without them.
			cfg := search.DefaultConfig()
			cfg.Addresses = []string{url}
			cfg.Engine, cfg.Namespace, cfg.Layout = e.engine, ns, search.LayoutDataStream
			for _, mode := range []string{search.LifecycleAuto, search.LifecycleSluice} {
				cfg.Lifecycle.Mode = mode
				if _, err := start(t, cfg, nil); err == nil || !strings.Contains(err.Error(), "no data stream API") {
					t.Errorf("mode %s, layout data_stream without data streams: %v, want an error naming the missing API", mode, err)
				}
			}
		}
	})
}

// RunLifecycle sweeps on its timer until Close ends it.
func TestRunLifecycleUntilClose(t *testing.T) {
	url := engineURL(t)
	ns := namespace(t)
	clk := &clock{t: time.Now().Add(10 * 365 * 24 * time.Hour)}
	s := sweepSink(t, url, func(c *search.Config) {
		c.Namespace = ns
		c.Lifecycle.SweepInterval = time.Second
	}, clk.now, nil)
	write(t, s, docs(1, "fw", time.Now()))
	ds := "logs-fw-" + ns
	rollOver(t, url, ds)
	gens := backing(t, url, ds)
	done := make(chan error, 1)
	go func() { done <- s.RunLifecycle(context.Background()) }()
	deadline := time.Now().Add(20 * time.Second)
	for len(backing(t, url, ds)) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%s still has %v after 20s of sweeps every second", ds, backing(t, url, ds))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := backing(t, url, ds); !slices.Equal(got, gens[1:]) {
		t.Errorf("%s keeps %v, want %v", ds, got, gens[1:])
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("RunLifecycle = %v, want nil after Close", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunLifecycle still running 10s after Close")
	}
}

// A data stream in sluice's namespace that another index template made (an Elastic
// Agent integration writing logs-*-default, say) is never rolled over or pruned, while
// sluice's own streams beside it are.
func TestSweepLeavesOtherTemplatesDataStreams(t *testing.T) {
	url := engineURL(t)
	ns := namespace(t)
	clk := &clock{t: time.Now()}
	s := sweepSink(t, url, func(c *search.Config) { c.Namespace = ns }, clk.now, nil)

	foreign := "logs-foreign-" + ns
	tmpl := `{"index_patterns":["` + foreign + `"],"priority":500,"data_stream":{}}`
	for _, req := range []struct{ method, path, body string }{
		{http.MethodPut, "/_index_template/foreign-" + ns, tmpl},
		{http.MethodPut, "/_data_stream/" + foreign, ""},
	} {
		r, err := http.NewRequest(req.method, url+req.path, strings.NewReader(req.body))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: status %d: %s", req.method, req.path, resp.StatusCode, answer)
		}
	}
	t.Cleanup(func() {
		for _, p := range []string{"/_data_stream/" + foreign, "/_index_template/foreign-" + ns} {
			if r, err := http.NewRequest(http.MethodDelete, url+p, nil); err == nil {
				if resp, err := http.DefaultClient.Do(r); err == nil {
					resp.Body.Close()
				}
			}
		}
	})
	write(t, s, docs(2, "fw", time.Now()))
	own := "logs-fw-" + ns
	for _, ds := range []string{foreign, own} {
		rollOver(t, url, ds)
		rollOver(t, url, ds)
	}
	foreignBefore := backing(t, url, foreign)
	ownBefore := backing(t, url, own)

	clk.set(time.Now().Add(1000 * 24 * time.Hour))
	res := sweep(t, s)
	if got := backing(t, url, foreign); !slices.Equal(got, foreignBefore) {
		t.Errorf("%s (another template's) went from %v to %v, want it untouched", foreign, foreignBefore, got)
	}
	for _, name := range append(res.Deleted, res.RolledOver...) {
		if strings.Contains(name, "foreign") {
			t.Errorf("sweep touched %s", name)
		}
	}
	if got := backing(t, url, own); len(got) != 1 || got[0] != ownBefore[len(ownBefore)-1] {
		t.Errorf("%s keeps %v, want only its write index %s (it is sluice's)", own, got, ownBefore[len(ownBefore)-1])
	}
}
