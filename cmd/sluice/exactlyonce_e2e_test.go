package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lj "github.com/elastic/go-lumber/client/v2"

	"github.com/sluice-siem/sluice/sink/search/searchtest"
	"github.com/sluice-siem/sluice/stream/kinesis/kinesistest"
	"github.com/sluice-siem/sluice/stream/kinesis/leases/dynamodbtest"
)

// TestExactlyOnceFromTheShipper proves that an event its shipper sends again becomes
// one document, across the failures that make shippers resend. It runs the real chain
// as processes: a `sluice gateway` writes to kinesalite through a stall proxy run by
// the test, two `sluice transform` processes run the sample pipelines and index into
// OpenSearch. Three kinds of senders run at once, each resending as the real one does:
//
//   - go-lumber connections (Filebeat's client library) send Filebeat-shaped events
//     (message, fields.log_type, host.name, agent.id, log.file.path and a growing
//     log.offset per file, @timestamp; one connection also sets @metadata._id, as
//     Filebeat's add_id processor does) in windows of 2048, resend every window not
//     fully acknowledged, and reconnect with backoff when the gateway is gone. Some
//     lines are sent twice at different offsets of the same file, byte for byte the
//     same with the same @timestamp: both must be indexed.
//   - an HTTP client posts NDJSON batches to /v1/events, each event with an "_id"
//     idempotency key, resending a batch until it is answered 200.
//   - a _bulk client sends create actions with an _id, resending the whole request on a
//     connection error or 429/5xx and the items that failed retryably alone.
//
// Meanwhile the gateway is killed with SIGKILL three times and restarted, and Kinesis
// stalls for 40 s: PutRecords reach kinesalite but their answers are held, so records
// are written and not acknowledged (the second kill falls in the stall, so the held
// answers of the killed gateway are never given). At the end the engine holds each
// event exactly once, and the transformers counted 409s: duplicates did reach the
// engine and were absorbed there.
//
// 100,000 lumberjack events plus a fifth of that over each of HTTP and _bulk by
// default; SLUICE_TEST_EXACTLY_ONCE_EVENTS=n sends n over lumberjack (and n/5 over each
// of the others).
func TestExactlyOnceFromTheShipper(t *testing.T) {
	if testing.Short() {
		t.Skip("runs sluice gateway and transform processes against kinesalite, dynalite and OpenSearch")
	}
	kEndpoint := kinesistest.Endpoint(t)
	dEndpoint := dynamodbtest.Endpoint(t)
	url := searchtest.OpenSearchURL(t)
	nLJ := 100_000
	if v := os.Getenv("SLUICE_TEST_EXACTLY_ONCE_EVENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 500 {
			t.Fatalf("SLUICE_TEST_EXACTLY_ONCE_EVENTS=%q: want a number of events, at least 500", v)
		}
		nLJ = n
	}
	nHTTP, nBulk := nLJ/5, nLJ/5
	total := nLJ + nHTTP + nBulk

	ns := searchtest.Name("eo")
	kc := kinesistest.Client(t, kEndpoint)
	dlq := kinesistest.CreateStream(t, kc, 1)
	f := newFleetWith(t, kEndpoint, dEndpoint, fleetOptions{shards: 4, sink: searchSinkYAML(url, ns, dlq), extra: "sample_pipelines: true\nsample_lookups: true\n", periods: chainPeriods})

	proxy := newStallProxy(t, kEndpoint)
	httpAddr, ljAddr := freeAddr(t), freeAddr(t)
	gwConfig := filepath.Join(f.root, "gateway.yaml")
	gw := fmt.Sprintf(`
http: {addr: %[1]q}
grpc: {addr: "127.0.0.1:0"}
lumberjack: {addr: %[2]q}
gateway:
  auth: {disabled: true}
  routing:
    streams: {firewall: %[3]s, ids: %[3]s, waf: %[3]s}
    default_stream: %[3]s
    id: auto
stream:
  kind: kinesis
  kinesis:
    region: %[4]s
    endpoint: %[5]s
    credentials: {access_key_id: %[6]s, secret_access_key: %[7]s}
    linger: 5ms
shutdown: {timeout: 10s, drain_delay: 0s}
log: {level: info, format: json}
`, httpAddr, ljAddr, f.stream, kinesistest.Region, proxy.URL(), kinesistest.AccessKeyID, kinesistest.SecretAccessKey)
	if err := os.WriteFile(gwConfig, []byte(gw), 0o600); err != nil {
		t.Fatal(err)
	}
	gateways := 0
	startGateway := func() string {
		gateways++
		id := "gateway" + strconv.Itoa(gateways)
		f.run(id, "", "gateway", "-c", gwConfig)
		f.addr(id, "lumberjack listening", 30*time.Second)
		waitHealthy(t, httpAddr)
		return id
	}
	gwID := startGateway()

	f.start("w1")
	f.start("w2")
	f.waitBalanced("w1", "w2")

	lines := sampleEvents(t, total)
	shipped := newShipment(lines[:nLJ], 4)
	apiEvents, bulkEvents := lines[nLJ:nLJ+nHTTP], lines[nLJ+nHTTP:]

	// Each sender spreads its events over span of sending (stalls and outages come on
	// top), so that the failures below meet traffic in flight.
	const span = 60 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var ljStats, apiStats, bulkStats senderStats
	var senders sync.WaitGroup
	errs := make(chan error, 16)
	for _, evs := range shipped.conns {
		senders.Go(func() {
			if err := sendFilebeat(ctx, ljAddr, evs, 2048, span, &ljStats); err != nil {
				errs <- fmt.Errorf("lumberjack: %w", err)
			}
		})
	}
	for part := range 2 {
		senders.Go(func() {
			if err := postEventsUntilOK(ctx, "http://"+httpAddr+"/v1/events", apiEvents, part, 2, 500, span, &apiStats); err != nil {
				errs <- fmt.Errorf("/v1/events: %w", err)
			}
		})
		senders.Go(func() {
			if err := bulkUntilAcked(ctx, "http://"+httpAddr+"/_bulk", bulkEvents, part, 2, 500, span, &bulkStats); err != nil {
				errs <- fmt.Errorf("_bulk: %w", err)
			}
		})
	}
	done := make(chan struct{})
	go func() {
		senders.Wait()
		close(done)
	}()
	began := time.Now()
	acked := func() int64 { return ljStats.acked.Load() + apiStats.acked.Load() + bulkStats.acked.Load() }
	progress := func() string {
		return fmt.Sprintf("%d of %d events acknowledged (lumberjack %d, /v1/events %d, _bulk %d), %v in",
			acked(), total, ljStats.acked.Load(), apiStats.acked.Load(), bulkStats.acked.Load(), time.Since(began).Round(time.Millisecond))
	}
	// waitProgress waits until a share of the events is acknowledged and a lumberjack
	// window is on its way; the senders must still be at work, or the failure to come
	// would meet no traffic.
	waitProgress := func(share float64, what string) {
		t.Helper()
		for acked() < int64(share*float64(total)) || ljStats.inFlight.Load() == 0 {
			select {
			case <-done:
				t.Fatalf("the senders finished before %s: %s", what, progress())
			case err := <-errs:
				t.Fatal(err)
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	killGateway := func(n int) {
		t.Helper()
		inFlight := ljStats.inFlight.Load()
		f.kill(gwID)
		t.Logf("kill %d: gateway %s killed with SIGKILL, %d lumberjack windows on their way; %s", n, gwID, inFlight, progress())
		time.Sleep(1500 * time.Millisecond)
		gwID = startGateway()
		t.Logf("kill %d: gateway %s listening again on %s (lumberjack %s)", n, gwID, httpAddr, ljAddr)
	}

	waitProgress(0.15, "the first kill")
	killGateway(1)

	waitProgress(0.30, "the stall")
	proxy.stall()
	t.Logf("Kinesis stalled: PutRecords written, answers held; %s", progress())
	time.Sleep(30 * time.Second)
	// The gateway dies holding windows and requests whose records are written: their
	// senders resend them to the next gateway.
	killGateway(2)
	time.Sleep(10 * time.Second)
	held, dropped := proxy.resume()
	t.Logf("Kinesis answers again after 40s: %d PutRecords answers were held, %d of them never given (their caller gave up or died); %s", held, dropped, progress())
	if held == 0 {
		t.Error("no PutRecords answer was held during the stall: it tested nothing")
	}

	waitProgress(0.75, "the third kill")
	killGateway(3)

	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("the senders did not finish: %s", progress())
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("every sender done: %s; resent: %d lumberjack windows, %d /v1/events batches, %d _bulk requests (%d items alone)",
		progress(), ljStats.resends.Load(), apiStats.resends.Load(), bulkStats.resends.Load(), bulkStats.itemResends.Load())
	for name, st := range map[string]*senderStats{"lumberjack": &ljStats, "/v1/events": &apiStats, "_bulk": &bulkStats} {
		if st.resends.Load() == 0 {
			t.Errorf("the %s sender never resent: the failures did not reach it", name)
		}
	}

	eng := searchEngine{url: url, ns: ns}
	eng.waitCount(t, total, 5*time.Minute)
	t.Logf("engine holds %d documents, %v after the first event was sent", total, time.Since(began).Round(time.Millisecond))
	// Everything read is checkpointed, and nothing more arrives.
	f.waitMetric("w1", "sluice_consumer_checkpoint_lag_records", 0, 60*time.Second)
	f.waitMetric("w2", "sluice_consumer_checkpoint_lag_records", 0, 60*time.Second)
	time.Sleep(3 * time.Second)
	if n := eng.count(t); n != total {
		t.Fatalf("engine holds %d documents once the transformers caught up, sent %d events", n, total)
	}
	conflicts := max(f.metric("w1", "sluice_search_conflicts_total"), 0) + max(f.metric("w2", "sluice_search_conflicts_total"), 0)
	t.Logf("the transformers found %v documents already indexed (409): resent events absorbed by their identity", conflicts)
	if conflicts <= 0 {
		t.Error("sluice_search_conflicts_total is 0: no resent event reached the engine, so the test proved nothing")
	}

	checkOnce(t, eng, shipped, apiEvents, bulkEvents)
	if recs := kinesistest.ReadAll(t, kc, dlq); len(recs) > 0 {
		t.Errorf("%d records in the dead-letter stream, want none", len(recs))
	}
}

// senderStats count what a kind of sender had acknowledged and how often it resent.
type senderStats struct {
	acked       atomic.Int64 // events
	resends     atomic.Int64 // windows or requests sent again as a whole
	itemResends atomic.Int64 // _bulk requests of only the items that failed
	inFlight    atomic.Int64 // windows sent and not yet acknowledged
}

// shipment is the lumberjack side: each connection's events as Filebeat would ship
// them, and how to recognise them in the engine.
type shipment struct {
	conns [][]any                // per connection, the event maps in order
	want  map[string]sampleEvent // coordinates (see coordKey) -> the line
	pairs [][2]string            // coordinates of two events of one line, in one file
}

func coordKey(agentID, path string, offset int64) string {
	return agentID + "|" + path + "|" + strconv.FormatInt(offset, 10)
}

// newShipment spreads lines over conns Filebeat agents, each reading one file per log
// type. Every 100th line of a connection is not its own but the line three before it
// (same type, so the same file) again, with the same @timestamp: byte for byte the
// same event but for log.offset, and two documents. The last connection's agent also
// sets @metadata._id (Filebeat's add_id processor), the others leave the identity to
// the coordinates.
func newShipment(lines []sampleEvent, conns int) shipment {
	s := shipment{conns: make([][]any, conns), want: map[string]sampleEvent{}}
	base := time.Now().UTC()
	for c := range conns {
		id := make([]byte, 16)
		_, _ = rand.Read(id)
		agentID := hex.EncodeToString(id)
		agentID = agentID[:8] + "-" + agentID[8:12] + "-" + agentID[12:16] + "-" + agentID[16:20] + "-" + agentID[20:]
		host := "filebeat-" + strconv.Itoa(c)
		offsets := map[string]int64{}
		type sent struct {
			line sampleEvent
			ts   string
			key  string
		}
		var mine []sent
		for j := c; j < len(lines); j += conns {
			k := len(mine)
			line, ts := lines[j], base.Add(time.Duration(j)*time.Millisecond).Format("2006-01-02T15:04:05.000Z")
			twin := k%100 == 99
			if twin {
				line, ts = mine[k-3].line, mine[k-3].ts
			}
			path := "/var/log/" + line.typ + "/" + line.typ + ".log"
			offset := offsets[path]
			offsets[path] += int64(len(line.original)) + 1
			ev := map[string]any{
				"@timestamp": ts,
				"message":    line.original,
				"fields":     map[string]any{"log_type": line.typ},
				"host":       map[string]any{"name": host},
				"agent":      map[string]any{"id": agentID, "name": host, "type": "filebeat", "version": "8.17.0"},
				"log":        map[string]any{"file": map[string]any{"path": path}, "offset": offset},
				"input":      map[string]any{"type": "filestream"},
				"ecs":        map[string]any{"version": "8.0.0"},
				"@metadata":  map[string]any{"beat": "filebeat", "type": "_doc", "version": "8.17.0"},
			}
			if c == conns-1 {
				ev["@metadata"].(map[string]any)["_id"] = fmt.Sprintf("%s-%d", agentID, k)
			}
			key := coordKey(agentID, path, offset)
			s.conns[c] = append(s.conns[c], ev)
			s.want[key] = line
			mine = append(mine, sent{line: line, ts: ts, key: key})
			if twin {
				s.pairs = append(s.pairs, [2]string{mine[k-3].key, key})
			}
		}
	}
	return s
}

// pacer spaces a sender's batches evenly: every is the least time between the starts
// of two batches. Resends are not paced.
type pacer struct {
	next  time.Time
	every time.Duration
}

func newPacer(span time.Duration, events, batch int) *pacer {
	return &pacer{every: time.Duration(int64(span) * int64(batch) / int64(max(events, 1)))}
}

func (p *pacer) wait(ctx context.Context) error {
	now := time.Now()
	if d := p.next.Sub(now); d > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
		now = p.next
	}
	p.next = now.Add(p.every)
	return nil
}

// backoff is a sender's wait between tries: 100 ms doubling to 2 s.
type backoff struct{ d time.Duration }

func (b *backoff) wait(ctx context.Context) error {
	b.d = min(max(2*b.d, 100*time.Millisecond), 2*time.Second)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(b.d):
		return nil
	}
}

func (b *backoff) reset() { b.d = 0 }

// sendFilebeat sends events over one lumberjack connection as Filebeat's Logstash
// output does: windows of window events, a window sent again (the same event maps)
// until it is acknowledged in full, a new connection with backoff when the old one
// fails.
func sendFilebeat(ctx context.Context, addr string, events []any, window int, span time.Duration, st *senderStats) error {
	var cl *lj.SyncClient
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	var bo backoff
	pace := newPacer(span, len(events), window)
	for start := 0; start < len(events); start += window {
		if err := pace.wait(ctx); err != nil {
			return err
		}
		batch := events[start:min(start+window, len(events))]
		for len(batch) > 0 {
			if cl == nil {
				c, err := lj.SyncDial(addr, lj.CompressionLevel(3), lj.Timeout(30*time.Second))
				if err != nil {
					if ctx.Err() != nil || bo.wait(ctx) != nil {
						return fmt.Errorf("dial %s: %w (%d events not acknowledged)", addr, err, len(events)-start)
					}
					continue
				}
				cl = c
			}
			st.inFlight.Add(1)
			n, err := cl.Send(batch)
			st.inFlight.Add(-1)
			batch = batch[n:]
			st.acked.Add(int64(n))
			if err != nil {
				cl.Close()
				cl = nil
				st.resends.Add(1)
				if bo.wait(ctx) != nil {
					return fmt.Errorf("send window of %d: %w", len(batch), err)
				}
				continue
			}
			bo.reset()
		}
	}
	return nil
}

// requestSize is the events per request of a sender of n events: at most limit, and
// few enough that the sender makes 40 requests over its span, so that the failures
// meet its requests in flight.
func requestSize(n, limit int) int {
	return min(limit, max(10, n/40))
}

// retryable reports whether an HTTP answer asks the client to send again.
func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500
}

// postEventsUntilOK posts part of the parts of events to /v1/events at url, up to
// batch events to a request of NDJSON (see requestSize), each event with an "_id"
// idempotency key; a request is sent again until it is answered 200.
func postEventsUntilOK(ctx context.Context, url string, events []sampleEvent, part, parts, batch int, span time.Duration, st *senderStats) error {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: time.Minute}
	var mine []int
	for i := part; i < len(events); i += parts {
		mine = append(mine, i)
	}
	batch = requestSize(len(mine), batch)
	pace := newPacer(span, len(mine), batch)
	for start := 0; start < len(mine); start += batch {
		if err := pace.wait(ctx); err != nil {
			return err
		}
		var body bytes.Buffer
		idx := mine[start:min(start+batch, len(mine))]
		for _, i := range idx {
			ev := events[i]
			line, err := json.Marshal(map[string]any{
				"_id":     "api-" + strconv.Itoa(i),
				"message": ev.original,
				"fields":  map[string]any{"log_type": ev.typ},
				"host":    map[string]any{"name": "api-client-" + strconv.Itoa(part)},
			})
			if err != nil {
				return err
			}
			body.Write(line)
			body.WriteByte('\n')
		}
		var bo backoff
		for try := 0; ; try++ {
			if try > 0 {
				st.resends.Add(1)
				if err := bo.wait(ctx); err != nil {
					return fmt.Errorf("batch of %d events not acknowledged: %w", len(idx), err)
				}
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body.Bytes()))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/x-ndjson")
			resp, err := client.Do(req)
			if err != nil {
				continue // the gateway is gone: send again
			}
			answer, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case err != nil:
				continue
			case resp.StatusCode == http.StatusOK:
				st.acked.Add(int64(len(idx)))
			case retryable(resp.StatusCode):
				continue
			default:
				return fmt.Errorf("batch of %d events answered %d: %s", len(idx), resp.StatusCode, answer)
			}
			break
		}
	}
	return nil
}

// bulkUntilAcked sends part of the parts of events to the _bulk API at url as create
// actions with an _id, up to batch to a request (see requestSize), until every item is
// acknowledged: the whole request again after a connection error or a 429/5xx answer,
// the items that failed with 429/5xx again alone.
func bulkUntilAcked(ctx context.Context, url string, events []sampleEvent, part, parts, batch int, span time.Duration, st *senderStats) error {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: time.Minute}
	var mine []int
	for i := part; i < len(events); i += parts {
		mine = append(mine, i)
	}
	batch = requestSize(len(mine), batch)
	pace := newPacer(span, len(mine), batch)
	for start := 0; start < len(mine); start += batch {
		if err := pace.wait(ctx); err != nil {
			return err
		}
		pending := mine[start:min(start+batch, len(mine))]
		var bo backoff
		for try := 0; len(pending) > 0; try++ {
			if try > 0 {
				if err := bo.wait(ctx); err != nil {
					return fmt.Errorf("%d bulk items not acknowledged: %w", len(pending), err)
				}
			}
			var body bytes.Buffer
			for _, i := range pending {
				ev := events[i]
				action, _ := json.Marshal(map[string]any{"create": map[string]any{"_index": "logs-" + ev.typ + "-default", "_id": "bulk-" + strconv.Itoa(i)}})
				doc, _ := json.Marshal(map[string]any{"message": ev.original, "host": map[string]any{"name": "bulk-client-" + strconv.Itoa(part)}})
				body.Write(action)
				body.WriteByte('\n')
				body.Write(doc)
				body.WriteByte('\n')
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, &body)
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/x-ndjson")
			resp, err := client.Do(req)
			if err != nil {
				st.resends.Add(1)
				continue
			}
			answer, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || retryable(resp.StatusCode) {
				st.resends.Add(1)
				continue
			}
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("bulk request of %d items answered %d: %s", len(pending), resp.StatusCode, answer)
			}
			var res struct {
				Items []map[string]struct {
					ID     string          `json:"_id"`
					Status int             `json:"status"`
					Error  json.RawMessage `json:"error"`
				} `json:"items"`
			}
			if err := json.Unmarshal(answer, &res); err != nil {
				return fmt.Errorf("bulk answer: %w: %s", err, answer)
			}
			if len(res.Items) != len(pending) {
				return fmt.Errorf("bulk answer has %d items for %d actions: %s", len(res.Items), len(pending), answer)
			}
			var again []int
			for k, item := range res.Items {
				r, ok := item["create"]
				switch {
				case !ok:
					return fmt.Errorf("bulk item %d is not a create: %v", k, item)
				case r.Status >= 200 && r.Status < 300:
					st.acked.Add(1)
				case retryable(r.Status):
					again = append(again, pending[k])
				default:
					return fmt.Errorf("bulk item %s answered %d: %s", r.ID, r.Status, r.Error)
				}
			}
			if len(again) > 0 {
				st.itemResends.Add(1)
			}
			pending = again
		}
	}
	return nil
}

// stallProxy is an HTTP proxy in front of a Kinesis endpoint that can stall Kinesis
// the way that makes duplicates: while stalled, a PutRecords request is forwarded and
// written, but its answer is held until the stall ends (or dropped if the caller gives
// up first). Other calls pass through.
type stallProxy struct {
	target string
	srv    *httptest.Server
	client *http.Client

	mu      sync.Mutex
	release chan struct{} // set while stalled; closed when the stall ends
	held    int
	dropped int
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	p := &stallProxy{target: strings.TrimRight(target, "/"), client: &http.Client{Transport: tr}}
	p.srv = httptest.NewServer(p)
	t.Cleanup(func() {
		p.resume()
		p.srv.Close()
		tr.CloseIdleConnections()
	})
	return p
}

// URL is the proxy's endpoint.
func (p *stallProxy) URL() string { return p.srv.URL }

// stall holds the answers to PutRecords from now on.
func (p *stallProxy) stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.release == nil {
		p.release = make(chan struct{})
	}
}

// resume gives the held answers and ends the stall; it returns how many answers were
// held, and how many of them found their caller gone.
func (p *stallProxy) resume() (held, dropped int) {
	p.mu.Lock()
	if p.release != nil {
		close(p.release)
		p.release = nil
	}
	p.mu.Unlock()
	time.Sleep(100 * time.Millisecond) // let the held answers count themselves
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held, p.dropped
}

func (p *stallProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	// Forwarded whatever the caller does next: a caller that gives up does not take
	// back what it sent.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := p.client.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if r.Header.Get("X-Amz-Target") == "Kinesis_20131202.PutRecords" {
		p.mu.Lock()
		release := p.release
		if release != nil {
			p.held++
		}
		p.mu.Unlock()
		if release != nil {
			select {
			case <-release:
			case <-r.Context().Done():
				p.mu.Lock()
				p.dropped++
				p.mu.Unlock()
				return
			}
		}
	}
	for k, vs := range resp.Header {
		if k != "Content-Length" {
			w.Header()[k] = vs
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}

// checkOnce reads back the namespace and checks that it holds every event sent exactly
// once, and nothing else: the lumberjack events by their coordinates (agent.id,
// log.file.path, log.offset), both events of each twice-sent line among them; the HTTP
// and _bulk events by their unique text. Each is in its type's data stream with the
// fields its pipeline gives it.
func checkOnce(t *testing.T, e searchEngine, s shipment, apiEvents, bulkEvents []sampleEvent) {
	t.Helper()
	byText := map[string]sampleEvent{}
	for _, ev := range append(append([]sampleEvent(nil), apiEvents...), bulkEvents...) {
		byText[ev.original] = ev
	}
	docs := scanFields(t, e, "event.original", "agent.id", "log.file.path", "log.offset")
	problems := 0
	report := func(format string, args ...any) {
		if problems++; problems <= 10 {
			t.Errorf(format, args...)
		}
	}
	seen := map[string]int{}
	ids := map[string]bool{}
	for _, d := range docs {
		if ids[d.Index+"/"+d.ID] {
			report("document id %s twice in %s", d.ID, d.Index)
		}
		ids[d.Index+"/"+d.ID] = true
		orig, _ := dig(d.Source, "event.original").(string)
		var key string
		var want sampleEvent
		var ok bool
		if agent, _ := dig(d.Source, "agent.id").(string); agent != "" {
			path, _ := dig(d.Source, "log.file.path").(string)
			offset, _ := dig(d.Source, "log.offset").(float64)
			key = coordKey(agent, path, int64(offset))
			want, ok = s.want[key]
		} else {
			key = "text|" + orig
			want, ok = byText[orig]
		}
		if !ok {
			report("document %s in %s is no event sent: %v", d.ID, d.Index, d.Source)
			continue
		}
		if seen[key]++; seen[key] == 2 {
			report("event indexed more than once (%s): %s", key, orig)
		}
		if orig != want.original {
			report("document %s (%s): event.original is %q, sent %q", d.ID, key, orig, want.original)
		}
		if !strings.Contains(d.Index, "logs-"+want.typ+"-"+e.ns) {
			report("%s event %s in index %s", want.typ, d.ID, d.Index)
		}
		for p, v := range want.want {
			if got := dig(d.Source, p); !reflect.DeepEqual(got, v) {
				report("%s event %s: %s is %v, its pipeline gives %v", want.typ, d.ID, p, got, v)
			}
		}
	}
	missing := 0
	for key := range s.want {
		if seen[key] == 0 {
			missing++
			report("lumberjack event %s missing", key)
		}
	}
	for text := range byText {
		if seen["text|"+text] == 0 {
			missing++
			report("HTTP or _bulk event missing: %s", text)
		}
	}
	pairs := 0
	for _, p := range s.pairs {
		if seen[p[0]] == 1 && seen[p[1]] == 1 {
			pairs++
		}
	}
	if pairs != len(s.pairs) {
		t.Errorf("only %d of %d lines sent twice at different offsets are indexed twice", pairs, len(s.pairs))
	}
	if problems > 10 {
		t.Errorf("... %d problems in all", problems)
	}
	t.Logf("read back %d documents: %d events missing, %d lines sent twice at two offsets both indexed (%d pairs)", len(docs), missing, pairs, len(s.pairs))
}

// scanFields reads every document of the namespace with a scroll, with the checked
// fields of each log type and fields in its source.
func scanFields(t *testing.T, e searchEngine, fields ...string) []engineDoc {
	t.Helper()
	type page struct {
		ScrollID string `json:"_scroll_id"`
		Hits     struct {
			Hits []engineDoc
		}
	}
	for _, fs := range checkedFields {
		fields = append(fields, fs...)
	}
	query, _ := json.Marshal(map[string]any{"size": 5000, "sort": []string{"_doc"}, "_source": fields})
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
