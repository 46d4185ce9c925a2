package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/stream"
)

// producer records what the gateway puts, or fails with err.
type producer struct {
	mu    sync.Mutex
	puts  map[string][]stream.Record
	err   error
	block chan struct{} // when set, Put waits for it or the context
	// stuck, when set, makes Put wait for it whatever the context says, after
	// signalling entered.
	stuck, entered chan struct{}
}

func (p *producer) Put(ctx context.Context, name string, recs []stream.Record) error {
	if p.stuck != nil {
		p.entered <- struct{}{}
		<-p.stuck
	}
	if p.block != nil {
		select {
		case <-p.block:
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", stream.ErrFull, ctx.Err())
		}
	}
	if p.err != nil {
		return p.err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.puts == nil {
		p.puts = map[string][]stream.Record{}
	}
	for _, r := range recs { // copies, as Producer requires: the gateway reuses the buffers
		p.puts[name] = append(p.puts[name], stream.Record{PartitionKey: r.PartitionKey, Data: bytes.Clone(r.Data)})
	}
	return nil
}

func newGateway(t *testing.T, cfg gateway.Config, p gateway.Producer) *gateway.Gateway {
	t.Helper()
	now := time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)
	g, err := gateway.New(cfg, p, gateway.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func ev(doc string) gateway.Event { return gateway.Event{Doc: []byte(doc)} }

func TestIngestEnvelopeAndPartitionKeys(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.Routing.PartitionKeyField = "host.name"
	p := &producer{}
	g := newGateway(t, cfg, p)
	res, err := g.Ingest(context.Background(), gateway.Batch{Receiver: "test", Events: []gateway.Event{
		ev(`{"host":{"name":"fw01"},"fields":{"log_type":"firewall"},"message":"m1"}`),
		ev(`{"host.name":"fw02","fields":{"log_type":"firewall"}}`),
		{Doc: []byte(`{"host":{"name":"fw03"}}`), Type: "firewall", PartitionKey: "explicit"},
		ev(`{"fields":{"log_type":"firewall"}}`),
	}})
	if err != nil || res.Accepted != 4 || len(res.Rejections) != 0 {
		t.Fatalf("Ingest = %+v, %v", res, err)
	}
	recs := p.puts["sluice-firewall"]
	if len(recs) != 4 {
		t.Fatalf("firewall stream got %d records", len(recs))
	}
	for i, want := range []string{"fw01", "fw02", "explicit"} {
		if recs[i].PartitionKey != want {
			t.Errorf("record %d key %q, want %q", i, recs[i].PartitionKey, want)
		}
	}
	if k := recs[3].PartitionKey; k == "" || k == "fw01" {
		t.Errorf("event without host.name got key %q, want a random one", k)
	}
	want := `{"v":1,"type":"firewall","received":"2026-11-26T07:00:00Z","event":{"host":{"name":"fw01"},"fields":{"log_type":"firewall"},"message":"m1"}}`
	if got := string(recs[0].Data); got != want {
		t.Fatalf("record data\n%s\nwant\n%s", got, want)
	}
	env, err := stream.ParseEnvelope(recs[0].Data)
	if err != nil || env.Type != "firewall" || !env.Received.Equal(time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)) {
		t.Fatalf("ParseEnvelope = %+v, %v", env, err)
	}
}

func TestIngestTypeResolution(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.Routing.TypeFields = []string{"labels.kind", "event.dataset"}
	cfg.Routing.DefaultType = "misc"
	p := &producer{}
	g := newGateway(t, cfg, p)
	res, err := g.Ingest(context.Background(), gateway.Batch{Events: []gateway.Event{
		ev(`{"labels":{"kind":"waf"},"event":{"dataset":"ids"}}`), // first field wins
		ev(`{"labels":{"kind":7},"event":{"dataset":"ids"}}`),     // non-string skipped
		ev(`{"message":"none"}`),                                  // default type
		ev(`{"event":{"dataset":"Bad Type"}}`),                    // invalid
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 3 || len(res.Rejections) != 1 || res.Rejections[0].Index != 3 || res.Rejections[0].Kind != gateway.KindInvalid {
		t.Fatalf("result %+v", res)
	}
	if len(p.puts["sluice-waf"]) != 1 || len(p.puts["sluice-ids"]) != 1 || len(p.puts["sluice-default"]) != 1 {
		t.Fatalf("routing: %v", keys(p.puts))
	}
	if !strings.Contains(string(p.puts["sluice-default"][0].Data), `"type":"misc"`) {
		t.Fatalf("default type not applied: %s", p.puts["sluice-default"][0].Data)
	}
}

func keys(m map[string][]stream.Record) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[k] = len(v)
	}
	return out
}

func TestIngestProducerErrorsClassified(t *testing.T) {
	for _, c := range []struct {
		err  error
		kind gateway.Kind
	}{
		{fmt.Errorf("wrap: %w", stream.ErrFull), gateway.KindOverloaded},
		{fmt.Errorf("wrap: %w", stream.ErrTooLarge), gateway.KindTooLarge},
		{errors.New("connection refused"), gateway.KindUnavailable},
	} {
		g := newGateway(t, gateway.DefaultConfig(), &producer{err: c.err})
		_, err := g.Ingest(context.Background(), gateway.Batch{Events: []gateway.Event{{Type: "ids", Doc: []byte(`{}`)}}})
		if gateway.KindOf(err) != c.kind || !errors.Is(err, c.err) {
			t.Errorf("producer error %v: Ingest error %v of kind %v, want %v wrapping it", c.err, err, gateway.KindOf(err), c.kind)
		}
	}
}

func TestIngestBackpressureWaitsThenRefuses(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.Limits.BackpressureWait = 30 * time.Millisecond
	p := &producer{block: make(chan struct{})}
	g := newGateway(t, cfg, p)
	_, err := g.Ingest(context.Background(), gateway.Batch{Events: []gateway.Event{{Type: "ids", Doc: []byte(`{}`)}}})
	if gateway.KindOf(err) != gateway.KindOverloaded {
		t.Fatalf("blocked producer: %v (kind %v), want overloaded", err, gateway.KindOf(err))
	}
	// A caller that goes away is not told to back off.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = g.Ingest(ctx, gateway.Batch{Events: []gateway.Event{{Type: "ids", Doc: []byte(`{}`)}}})
	if gateway.KindOf(err) != gateway.KindUnavailable {
		t.Fatalf("cancelled caller: %v (kind %v), want unavailable", err, gateway.KindOf(err))
	}
}

func TestIngestInflightBytesBound(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.Limits.MaxDecodedBytes = 1 << 10
	cfg.Limits.MaxBodyBytes = 1 << 10
	cfg.Limits.MaxInflightBytes = 2 << 10
	cfg.Limits.BackpressureWait = 50 * time.Millisecond
	p := &producer{stuck: make(chan struct{}), entered: make(chan struct{}, 3)}
	g := newGateway(t, cfg, p)
	doc := []byte(`{"m":"` + strings.Repeat("x", 700) + `"}`) // ~800 bytes as a record
	batch := gateway.Batch{Events: []gateway.Event{{Type: "ids", Doc: doc}}}

	// Two batches fit in flight and sit in a stuck producer; a third does not fit and
	// is refused by the gateway's in-flight bound without reaching the producer.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, err := g.Ingest(context.Background(), batch); err != nil {
				t.Errorf("admitted batch: %v", err)
			}
		})
	}
	<-p.entered
	<-p.entered
	_, err := g.Ingest(context.Background(), batch)
	if gateway.KindOf(err) != gateway.KindOverloaded || !strings.Contains(err.Error(), "gateway busy") {
		t.Fatalf("third batch: %v, want overloaded by the in-flight bound", err)
	}
	select {
	case <-p.entered:
		t.Fatal("the refused batch reached the producer")
	default:
	}
	close(p.stuck)
	wg.Wait()
	if n := len(p.puts["sluice-ids"]); n != 2 {
		t.Fatalf("producer got %d records, want the 2 admitted batches", n)
	}
}

func TestIngestAuthAndLimits(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.Limits.MaxBatchEvents = 2
	cfg.Auth.Keys = []gateway.APIKey{{Name: "k", SHA256: gateway.HashKey("key"), Types: []string{"ids"}}}
	p := &producer{}
	g := newGateway(t, cfg, p)
	batch := gateway.Batch{Events: []gateway.Event{{Type: "ids", Doc: []byte(`{}`)}, {Type: "waf", Doc: []byte(`{}`)}}}
	if _, err := g.Ingest(context.Background(), batch); gateway.KindOf(err) != gateway.KindUnauthenticated {
		t.Fatalf("no principal: %v", err)
	}
	pr, err := g.Authenticate("Bearer key")
	if err != nil || pr.Name != "k" {
		t.Fatalf("Authenticate = %v, %v", pr, err)
	}
	res, err := g.Ingest(gateway.WithPrincipal(context.Background(), pr), batch)
	if err != nil || res.Accepted != 1 || len(res.Rejections) != 1 || res.Rejections[0].Kind != gateway.KindForbidden {
		t.Fatalf("Ingest = %+v, %v", res, err)
	}
	batch.Events = append(batch.Events, batch.Events[0])
	if _, err := g.Ingest(gateway.WithPrincipal(context.Background(), pr), batch); gateway.KindOf(err) != gateway.KindTooLarge {
		t.Fatalf("3 events over a limit of 2: %v", err)
	}
}

func TestIngestRejectsNonObjectsAndDecodeErrors(t *testing.T) {
	p := &producer{}
	g := newGateway(t, gateway.DefaultConfig(), p)
	res, err := g.Ingest(context.Background(), gateway.Batch{Events: []gateway.Event{
		{Type: "ids", Doc: []byte(`[1]`)},
		{Type: "ids", Err: gateway.Errorf(gateway.KindInvalid, "line 2: broken")},
		{Type: "ids", Doc: []byte(`{"ok":true}`)},
	}})
	if err != nil || res.Accepted != 1 || len(res.Rejections) != 2 ||
		res.Rejections[0].Reason != "event is not a JSON object" || res.Rejections[1].Reason != "line 2: broken" {
		t.Fatalf("Ingest = %+v, %v", res, err)
	}
}

// TestMaxTypes: a process accepts at most routing.max_types distinct log types (the
// routed ones count): events of further new types are refused one by one, or sent as
// the default type with over_max_types: default_type, while known types keep flowing.
func TestMaxTypes(t *testing.T) {
	typed := func(typ string) gateway.Event { return gateway.Event{Type: typ, Doc: []byte(`{"m":1}`)} }
	cfg := gateway.DefaultConfig() // firewall, ids, waf routed
	cfg.Routing.MaxTypes = 5
	p := &producer{}
	g := newGateway(t, cfg, p)
	res, err := g.Ingest(context.Background(), gateway.Batch{Receiver: "test", Events: []gateway.Event{
		typed("new-1"), typed("firewall"), typed("new-2"), typed("new-3"), typed("new-1"), typed("waf"), typed("new-4"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 5 || len(res.Rejections) != 2 {
		t.Fatalf("Ingest = %+v, want 5 accepted and new-3, new-4 rejected", res)
	}
	for i, rj := range res.Rejections {
		if want := []int{3, 6}[i]; rj.Index != want || rj.Kind != gateway.KindInvalid || !strings.Contains(rj.Reason, "routing.max_types") {
			t.Errorf("rejection %d = %+v, want index %d naming gateway.routing.max_types", i, rj, want)
		}
	}
	if n := len(p.puts["sluice-default"]); n != 3 {
		t.Errorf("default stream got %d records, want new-1 twice and new-2", n)
	}

	cfg.Routing.OverMaxTypes = "default_type"
	cfg.Routing.DefaultType = "unsorted"
	cfg.Routing.MaxTypes = 5 // firewall, ids, waf, unsorted and one more
	p = &producer{}
	g = newGateway(t, cfg, p)
	res, err = g.Ingest(context.Background(), gateway.Batch{Receiver: "test", Events: []gateway.Event{typed("new-1"), typed("new-2"), typed("new-1")}})
	if err != nil || res.Accepted != 3 {
		t.Fatalf("Ingest = %+v, %v; want all accepted", res, err)
	}
	var types []string
	for _, r := range p.puts["sluice-default"] {
		env, err := stream.ParseEnvelope(r.Data)
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, env.Type)
	}
	if fmt.Sprint(types) != "[new-1 unsorted new-1]" {
		t.Errorf("types sent = %v, want [new-1 unsorted new-1]", types)
	}
}

func TestMaxTypesValidate(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.Routing.MaxTypes = 3
	cfg.Routing.OverMaxTypes = "default_type"
	err := cfg.Validate()
	for _, want := range []string{"routing.max_types: 3 is less than the 3 log types", "routing.over_max_types: default_type needs routing.default_type"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want %q", err, want)
		}
	}
}

// TestIngestMixedBatchCountsAndStreams: a batch whose log types come in runs and
// interleave (firewall, ids, an unknown type, firewall again) reaches each type's
// stream in the order sent, and the received events and bytes are counted per type
// (unknown types under "_other"), each event once.
func TestIngestMixedBatchCountsAndStreams(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	meter := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("test")
	p := &producer{}
	g, err := gateway.New(gateway.DefaultConfig(), p, gateway.Options{Meter: meter})
	if err != nil {
		t.Fatal(err)
	}
	types := []string{"firewall", "firewall", "ids", "mystery", "firewall", "ids", "ids", "mystery", "firewall"}
	var events []gateway.Event
	for i, typ := range types {
		events = append(events, gateway.Event{Type: typ, Doc: fmt.Appendf(nil, `{"n":%d}`, i)})
	}
	res, err := g.Ingest(context.Background(), gateway.Batch{Receiver: "test", Events: events})
	if err != nil || res.Accepted != len(types) {
		t.Fatalf("Ingest = %+v, %v", res, err)
	}
	wantStreams := map[string][]int{"sluice-firewall": {0, 1, 4, 8}, "sluice-ids": {2, 5, 6}, "sluice-default": {3, 7}}
	for name, idx := range wantStreams {
		recs := p.puts[name]
		if len(recs) != len(idx) {
			t.Fatalf("stream %s got %d records, want %d", name, len(recs), len(idx))
		}
		for j, i := range idx {
			env, err := stream.ParseEnvelope(recs[j].Data)
			if err != nil || string(env.Event) != fmt.Sprintf(`{"n":%d}`, i) {
				t.Errorf("stream %s record %d = %s (%v), want event %d", name, j, env.Event, err, i)
			}
		}
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	gotEvents, gotBytes := map[string]int64{}, map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				continue
			}
			for _, dp := range sum.DataPoints {
				v, _ := dp.Attributes.Value(attribute.Key("type"))
				switch m.Name {
				case "sluice_gateway_events_received":
					gotEvents[v.AsString()] += dp.Value
				case "sluice_gateway_bytes_received":
					gotBytes[v.AsString()] += dp.Value
				}
			}
		}
	}
	if want := map[string]int64{"firewall": 4, "ids": 3, "_other": 2}; !reflect.DeepEqual(gotEvents, want) {
		t.Errorf("events received by type = %v, want %v", gotEvents, want)
	}
	for typ, stream := range map[string]string{"firewall": "sluice-firewall", "ids": "sluice-ids", "_other": "sluice-default"} {
		var want int64
		for _, r := range p.puts[stream] {
			want += int64(len(r.Data))
		}
		if gotBytes[typ] != want {
			t.Errorf("bytes received of %s = %d, want %d (its records' sizes)", typ, gotBytes[typ], want)
		}
	}
}
