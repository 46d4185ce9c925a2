package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	lj "github.com/elastic/go-lumber/client/v2"

	"github.com/sluice-siem/sluice/sink/search/searchtest"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/kinesis"
	"github.com/sluice-siem/sluice/stream/kinesis/kinesistest"
	"github.com/sluice-siem/sluice/stream/kinesis/leases/dynamodbtest"
)

// TestChainEndToEnd runs the whole data path as separate processes on real servers: a
// go-lumber client (Filebeat's own) sends firewall, IDS and WAF events to a `sluice
// gateway` process, which writes them to kinesalite; two `sluice transform` processes
// share the stream's shards through a lease table in dynalite, run the sample
// pipelines and index into OpenSearch. One transformer is killed with SIGKILL halfway;
// the other takes over its shards from their checkpoints and replays what was not
// checkpointed. At the end the engine holds each event exactly once, parsed by its
// type's pipeline.
//
// The events are the sample lines of transform/pipeline/samples/testdata, each made
// unique by a marker in its text (the firewall's kernel time, the IDS flow id, the WAF
// request id), so that its event.original names it. 100,000 events by default;
// SLUICE_TEST_LONG=1 sends three times as many, SLUICE_TEST_CHAIN_EVENTS=n sends n (for
// a quick local run).
func TestChainEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs sluice gateway and transform processes against kinesalite, dynalite and OpenSearch")
	}
	kEndpoint := kinesistest.Endpoint(t)
	dEndpoint := dynamodbtest.Endpoint(t)
	url := searchtest.OpenSearchURL(t)
	total := 100_000
	if os.Getenv("SLUICE_TEST_LONG") == "1" {
		total *= 3
	}
	if v := os.Getenv("SLUICE_TEST_CHAIN_EVENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 3 {
			t.Fatalf("SLUICE_TEST_CHAIN_EVENTS=%q: want a number of events, at least 3", v)
		}
		total = n
	}
	ns := searchtest.Name("e2e")
	kc := kinesistest.Client(t, kEndpoint)
	dlq := kinesistest.CreateStream(t, kc, 1)
	f := newFleetWith(t, kEndpoint, dEndpoint, fleetOptions{shards: 4, sink: searchSinkYAML(url, ns, dlq), extra: "sample_pipelines: true\nsample_lookups: true\n", periods: chainPeriods})

	gwConfig := filepath.Join(f.root, "gateway.yaml")
	gw := fmt.Sprintf(`
http: {addr: "127.0.0.1:0"}
grpc: {addr: "127.0.0.1:0"}
lumberjack: {addr: "127.0.0.1:0"}
gateway:
  auth: {disabled: true}
  routing:
    streams: {firewall: %[1]s, ids: %[1]s, waf: %[1]s}
    default_stream: %[1]s
stream:
  kind: kinesis
  kinesis:
    region: %[2]s
    endpoint: %[3]s
    credentials: {access_key_id: %[4]s, secret_access_key: %[5]s}
    linger: 5ms
shutdown: {timeout: 10s, drain_delay: 0s}
log: {level: info, format: json}
`, f.stream, kinesistest.Region, kEndpoint, kinesistest.AccessKeyID, kinesistest.SecretAccessKey)
	if err := os.WriteFile(gwConfig, []byte(gw), 0o600); err != nil {
		t.Fatal(err)
	}
	f.run("gateway", "", "gateway", "-c", gwConfig)
	ljAddr := f.addr("gateway", "lumberjack listening", 30*time.Second)

	f.start("w1")
	f.start("w2")
	f.waitBalanced("w1", "w2")

	events := sampleEvents(t, total)
	began := time.Now()
	sent := make(chan error, 1)
	go func() { sent <- sendLumberjack(ljAddr, events, 4, 2048) }()

	// Kill w2 once a third of the events are in the engine and w2 has indexed some of
	// them: whatever it read and had not checkpointed is read again by w1.
	eng := searchEngine{url: url, ns: ns}
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("a third of %d events not indexed within 3 minutes (engine holds %d, w2 indexed %v)", total, eng.count(t), f.metric("w2", "sluice_search_documents_indexed_total"))
		}
		if eng.count(t) >= total/3 && f.metric("w2", "sluice_search_documents_indexed_total") > 0 {
			break
		}
	}
	before := f.metric("w2", "sluice_search_documents_indexed_total")
	f.kill("w2")
	t.Logf("killed w2 after it indexed %v documents, %v after the first event was sent", before, time.Since(began).Round(time.Millisecond))

	select {
	case err := <-sent:
		if err != nil {
			t.Fatalf("lumberjack: %v", err)
		}
	case <-time.After(5 * time.Minute):
		t.Fatal("the gateway did not acknowledge every window within 5 minutes")
	}
	t.Logf("gateway acknowledged %d events in %v", total, time.Since(began).Round(time.Millisecond))

	eng.waitCount(t, total, 5*time.Minute)
	t.Logf("engine holds %d documents %v after the first event was sent", total, time.Since(began).Round(time.Millisecond))
	f.waitOwners(3*chainFailover, "w1")
	conflicts := f.metric("w1", "sluice_search_conflicts_total")
	t.Logf("w1 found %v documents already indexed (replayed after the kill)", conflicts)

	// Once w1 has checkpointed everything, read it all back: each event once, parsed.
	f.waitMetric("w1", "sluice_consumer_checkpoint_lag_records", 0, 30*time.Second)
	checkIndexed(t, eng, events)
	if recs := kinesistest.ReadAll(t, kc, dlq); len(recs) > 0 {
		t.Errorf("%d records in the dead-letter stream, want none", len(recs))
	}
}

// chainPeriods are the consumer periods of the chain tests: failover within seconds,
// yet with room for a lease table slowed down by a loaded machine (the suite's
// deliveryPeriods give it 1.5 s).
const chainPeriods = `
    renew_period: 1s
    failover_time: 6s
    balance_period: 1s
    checkpoint_period: 250ms
    shard_refresh: 5s
    handoff_timeout: 5s
    idle_wait: 100ms
`

const chainFailover = 6 * time.Second

// searchSinkYAML is the workers' sink: section for the engine at url, data streams in
// namespace ns, retries capped at a second so that an engine back up is noticed soon,
// dead letters to the Kinesis stream dlq.
func searchSinkYAML(url, ns, dlq string) string {
	return fmt.Sprintf(`  kind: search
  search:
    addresses: [%q]
    namespace: %s
    retry_max: 1s
    request_timeout: 10s
  dead_letters:
    kind: kinesis
    stream: %s
`, url, ns, dlq)
}

// sampleEvent is one event of the chain tests: a sample log line made unique, and the
// values its pipeline must give the checked fields.
type sampleEvent struct {
	typ      string
	original string
	want     map[string]any // field path -> value in the sample's golden output
}

// checkedFields are the pipeline-produced ECS fields compared with each sample's
// golden output, per log type. The firewall events run the enriched sample with the
// sample lookups (sample_lookups), so theirs include GeoIP, AS, zone and threat-intel
// fields; a field absent from the golden output must be absent from the document too.
var checkedFields = map[string][]string{
	"firewall": {"source.ip", "destination.ip", "source.port", "destination.port", "event.action", "event.category", "network.transport", "observer.type", "rule.name",
		"source.geo.country_iso_code", "source.as.number", "destination.network.zone", "threat.indicator.ip", "tags"},
	"ids": {"source.ip", "destination.ip", "source.port", "destination.port", "event.kind", "event.action", "observer.type", "rule.id", "network.transport"},
	"waf": {"source.ip", "event.action", "event.category", "rule.id", "http.request.method", "url.path", "observer.type"},
}

// sampleMarkers find the part of each type's sample line that is replaced by an
// event's unique marker; the pipelines do not read it into a checked field.
var sampleMarkers = map[string]*regexp.Regexp{
	"firewall": regexp.MustCompile(`kernel: \[\s*[0-9]+\.[0-9]+\]`),
	"ids":      regexp.MustCompile(`"flow_id":[0-9]+`),
	"waf":      regexp.MustCompile(`"requestId":"[^"]*"`),
}

// sampleEvents returns n unique events, the types in turn, each type's usable sample
// lines in turn. A sample line is usable when its golden output is a parsed event (no
// error, a source.ip).
func sampleEvents(t *testing.T, n int) []sampleEvent {
	t.Helper()
	types := []string{"firewall", "ids", "waf"}
	templates := map[string][]sampleEvent{}
	for _, typ := range types {
		dir := filepath.Join("..", "..", "transform", "pipeline", "samples", "testdata")
		lines, err := os.ReadFile(filepath.Join(dir, typ+".log"))
		if err != nil {
			t.Fatal(err)
		}
		goldenName := typ + ".golden"
		if typ == "firewall" {
			goldenName = "firewall-enriched.golden" // the same lines through the enriched sample
		}
		golden, err := os.ReadFile(filepath.Join(dir, goldenName))
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(golden))
		for line := range strings.Lines(string(lines)) {
			line = strings.TrimRight(line, "\n")
			var out map[string]any
			if err := dec.Decode(&out); err != nil {
				t.Fatalf("%s.golden: output of %q: %v", typ, line, err)
			}
			if line == "" || dig(out, "error") != nil || dig(out, "source.ip") == nil || !sampleMarkers[typ].MatchString(line) {
				continue
			}
			want := map[string]any{}
			for _, p := range checkedFields[typ] {
				want[p] = dig(out, p) // nil: the field must be absent
			}
			templates[typ] = append(templates[typ], sampleEvent{typ: typ, original: line, want: want})
		}
		if len(templates[typ]) == 0 {
			t.Fatalf("no usable sample line of type %s", typ)
		}
	}
	r, _ := rand.Int(rand.Reader, big.NewInt(900_000))
	run := 100_000 + r.Int64()
	evs := make([]sampleEvent, n)
	for i := range evs {
		typ := types[i%len(types)]
		tm := templates[typ][(i/len(types))%len(templates[typ])]
		var mark string
		switch typ {
		case "firewall":
			mark = fmt.Sprintf("kernel: [%d.%06d]", i, run)
		case "ids":
			mark = fmt.Sprintf(`"flow_id":%d%09d`, run, i)
		case "waf":
			mark = fmt.Sprintf(`"requestId":"e2e-%d-%d"`, run, i)
		}
		tm.original = sampleMarkers[typ].ReplaceAllLiteralString(tm.original, mark)
		evs[i] = tm
	}
	return evs
}

// shipped is an event as Filebeat ships it: the line in message, the log type in
// fields.log_type (the gateway's default type field).
func (e sampleEvent) shipped(i int) map[string]any {
	return map[string]any{
		"message": e.original,
		"fields":  map[string]any{"log_type": e.typ},
		"host":    map[string]any{"name": "sender-" + strconv.Itoa(i%16)},
		// Where Filebeat read the line: with the host, the identity the gateway gives
		// the event (routing.id auto), so that a window the gateway's producer had to
		// resend (an answer lost under load) is indexed once, as for a real Filebeat.
		"log": map[string]any{"file": map[string]any{"path": "/var/log/e2e/" + e.typ + ".log"}, "offset": i},
	}
}

// dig returns the value at a dotted path of a decoded JSON object, or nil.
func dig(m map[string]any, path string) any {
	var v any = m
	for k := range strings.SplitSeq(path, ".") {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		if v, ok = o[k]; !ok {
			return nil
		}
	}
	return v
}

// sendLumberjack sends events over conns concurrent lumberjack connections in windows
// of window events, each window sent again until fully acknowledged like Filebeat does.
func sendLumberjack(addr string, events []sampleEvent, conns, window int) error {
	var wg sync.WaitGroup
	errs := make([]error, conns)
	for c := range conns {
		wg.Go(func() {
			cl, err := lj.SyncDial(addr, lj.CompressionLevel(3), lj.Timeout(60*time.Second))
			if err != nil {
				errs[c] = fmt.Errorf("dial %s: %w", addr, err)
				return
			}
			defer cl.Close()
			send := func(batch []any) error {
				for len(batch) > 0 {
					n, err := cl.Send(batch)
					if err != nil {
						return fmt.Errorf("send window of %d: %w", len(batch), err)
					}
					batch = batch[n:]
				}
				return nil
			}
			batch := make([]any, 0, window)
			for i := c; i < len(events); i += conns {
				batch = append(batch, events[i].shipped(i))
				if len(batch) == window {
					if errs[c] = send(batch); errs[c] != nil {
						return
					}
					batch = batch[:0]
				}
			}
			errs[c] = send(batch)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// putEvents writes events straight into a stream with p, in the gateway's envelope.
func putEvents(t *testing.T, p *kinesis.Producer, streamName string, events []sampleEvent, offset int) {
	t.Helper()
	recs := make([]stream.Record, 0, 500)
	flush := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := p.Put(ctx, streamName, recs); err != nil {
			t.Fatalf("put %d events: %v", len(recs), err)
		}
		recs = recs[:0]
	}
	for i, e := range events {
		body, err := json.Marshal(e.shipped(offset + i))
		if err != nil {
			t.Fatal(err)
		}
		key := "sender-" + strconv.Itoa((offset+i)%16)
		recs = append(recs, stream.Record{PartitionKey: key, Data: stream.AppendEnvelope(nil, e.typ, "", time.Now(), body)})
		if len(recs) == cap(recs) {
			flush()
		}
	}
	if len(recs) > 0 {
		flush()
	}
}

// metric returns the sum of a metric's samples on a process's /metrics, or -1 when the
// metric is absent.
func (f *fleet) metric(id, name string) float64 {
	f.t.Helper()
	resp, err := http.Get("http://" + f.addr(id, "http listening", 30*time.Second) + "/metrics")
	if err != nil {
		f.t.Fatalf("metrics of %s: %v", id, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatalf("metrics of %s: %v", id, err)
	}
	sum, found := 0.0, false
	for line := range strings.Lines(string(body)) {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (!strings.HasPrefix(rest, " ") && !strings.HasPrefix(rest, "{")) {
			continue
		}
		fields := strings.Fields(rest[strings.LastIndex(rest, "}")+1:])
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			f.t.Fatalf("metrics of %s: %q: %v", id, line, err)
		}
		sum, found = sum+v, true
	}
	if !found {
		return -1
	}
	return sum
}

// waitMetric waits until a process's metric sums to want.
func (f *fleet) waitMetric(id, name string, want float64, within time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := f.metric(id, name)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s: %s is %v after %v, want %v", id, name, got, within, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// searchEngine reads the data streams of one namespace from an engine.
type searchEngine struct {
	url string
	ns  string
}

func (e searchEngine) pattern() string { return e.url + "/logs-*-" + e.ns }

// do sends a request and decodes its JSON answer into out (unless nil).
func (e searchEngine) do(t *testing.T, method, url, body string, out any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode answer: %v", method, url, err)
		}
	}
}

// count refreshes the namespace's data streams and returns how many documents they
// hold.
func (e searchEngine) count(t *testing.T) int {
	t.Helper()
	return searchtest.Count(t, e.url, "logs-*-"+e.ns)
}

// waitCount waits until the namespace holds want documents, failing at once if it
// ever holds more.
func (e searchEngine) waitCount(t *testing.T, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		n := e.count(t)
		if n > want {
			t.Fatalf("engine holds %d documents, more than the %d events sent", n, want)
		}
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("engine holds %d of %d documents after %v", n, want, within)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// engineDoc is a document read back from the engine.
type engineDoc struct {
	ID     string         `json:"_id"`
	Index  string         `json:"_index"`
	Source map[string]any `json:"_source"`
}

// scan reads every document of the namespace with a scroll.
func (e searchEngine) scan(t *testing.T) []engineDoc {
	t.Helper()
	type page struct {
		ScrollID string `json:"_scroll_id"`
		Hits     struct {
			Hits []engineDoc
		}
	}
	var fields []string
	for _, fs := range checkedFields {
		fields = append(fields, fs...)
	}
	query, _ := json.Marshal(map[string]any{"size": 5000, "sort": []string{"_doc"}, "_source": append(fields, "event.original")})
	var p page
	e.do(t, http.MethodPost, e.pattern()+"/_search?scroll=1m", string(query), &p)
	var out []engineDoc
	for len(p.Hits.Hits) > 0 {
		out = append(out, p.Hits.Hits...)
		id := p.ScrollID
		p = page{}
		next, _ := json.Marshal(map[string]string{"scroll": "1m", "scroll_id": id})
		e.do(t, http.MethodPost, e.url+"/_search/scroll", string(next), &p)
	}
	if p.ScrollID != "" {
		clear, _ := json.Marshal(map[string]any{"scroll_id": []string{p.ScrollID}})
		e.do(t, http.MethodDelete, e.url+"/_search/scroll", string(clear), nil)
	}
	return out
}

// checkIndexed reads back the namespace and checks that it holds each event exactly
// once, under a distinct id, in its type's data stream, with the fields its pipeline
// gives it.
func checkIndexed(t *testing.T, e searchEngine, events []sampleEvent) {
	t.Helper()
	docs := e.scan(t)
	if len(docs) != len(events) {
		t.Errorf("engine holds %d documents, sent %d events", len(docs), len(events))
	}
	ids := make(map[string]bool, len(docs))
	byOriginal := make(map[string][]engineDoc, len(docs))
	for _, d := range docs {
		if ids[d.ID] {
			t.Errorf("document id %s twice", d.ID)
		}
		ids[d.ID] = true
		orig, _ := dig(d.Source, "event.original").(string)
		byOriginal[orig] = append(byOriginal[orig], d)
	}
	problems := 0
	report := func(format string, args ...any) {
		if problems++; problems <= 10 {
			t.Errorf(format, args...)
		}
	}
	for _, ev := range events {
		got := byOriginal[ev.original]
		if len(got) != 1 {
			report("event held %d times, want once: %s", len(got), ev.original)
			continue
		}
		d := got[0]
		if !strings.Contains(d.Index, "logs-"+ev.typ+"-"+e.ns) {
			report("%s event %s in index %s", ev.typ, d.ID, d.Index)
		}
		for p, want := range ev.want {
			if v := dig(d.Source, p); !reflect.DeepEqual(v, want) {
				report("%s event %s: %s is %v, its pipeline gives %v", ev.typ, d.ID, p, v, want)
			}
		}
	}
	if problems > 10 {
		t.Errorf("... %d problems in all", problems)
	}
}
