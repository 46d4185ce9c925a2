// Package kinesis is the stream between the tiers on Kinesis Data Streams, with both of
// its sides: step 3 of the data path, produce (Producer: the gateway's Producer that
// puts each batch's records into a stream and returns only when every one of them is
// durable there), and the read side of step 4, consume (Reader, in consumer.go: the
// Source the transform tier's consumer reads shards through). Its subpackages are the
// KPL aggregated record format (kpl) and the lease table the consumers of a stream
// share (leases, on DynamoDB).
//
// How a Put travels:
//
//   - Put checks every record (partition key, size against Config.MaxRecordBytes), takes
//     room for the batch's bytes in the stream's in-flight budget
//     (Config.MaxInflightBytes; it blocks while the stream is full: backpressure), copies
//     the data and hands the batch to the stream's batcher. Then it waits until every
//     record is durable, the records failed, or its context ends.
//   - One batcher goroutine per stream coalesces the Puts of all receivers. It places
//     each event on the shard its partition key hashes to (the stream's shard map, from
//     ListShards, reloaded on a timer and when a put lands on a shard it did not
//     predict), lets events linger up to Config.Linger to share a record and a request,
//     and then packs each shard's events into records: KPL aggregated records (package
//     kpl) that never mix shards, or one record per event with aggregation off. A
//     token bucket per shard keeps every shard under its write limits, so throttling is
//     avoided rather than retried; a shard has at most one request in flight, so its
//     records keep their order when nothing fails. When the shard map changes, nothing
//     is sent until the requests of the shards that closed are done, so that a key's
//     events do not overtake each other on their way to the shard that took the key.
//   - Up to Config.MaxInflightRequests sender goroutines per stream call PutRecords
//     (at most Config.BatchRecords records and Config.MaxRequestBytes per call). Only
//     the entries that failed are retried, with capped exponential backoff and full
//     jitter, as are whole requests that failed on the network, a 5xx or throttling;
//     entries that succeeded are never sent again. Before each try a sender leaves out
//     the events whose callers are gone (packing a record again without them), so that
//     an event is never put on the wire after its caller was answered. A caller is woken
//     as soon as all its records are durable, or with an error once its records' retry
//     budget is spent.
//
// Errors follow the gateway's Producer contract: errors wrapping stream.ErrFull mean
// backpressure (throttling, or no room before the caller's deadline), stream.ErrTooLarge
// a record that can never be put, stream.ErrUnknownStream a stream that does not exist;
// any other error (an endpoint that cannot be reached, a server failing) is retryable
// and names the stream and the endpoint. Nothing is ever dropped silently: a record is
// acknowledged only once Kinesis has it, and it is only left unsent when every caller
// waiting for it has already been told it failed.
//
// A Put that returns an error says where its records stand: none written (never sent,
// or refused by Kinesis, and never sent after the error), or some that may have been
// written because their request was in flight or its answer was lost (a timeout, a
// connection broken after the request was sent, a 5xx). Only records on the wire can be
// written after their Put gave up; they are counted as late writes. A request whose
// outcome is unknown is retried like any failed request, which may write its records
// twice: such resends are counted and logged. Duplicates are absorbed downstream by the
// events' ids.
package kinesis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/semaphore"

	"github.com/sluice-siem/sluice/internal/awsclient"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/kinesis/kpl"
)

// api is the part of the Kinesis client the producer uses.
type api interface {
	lister
	PutRecords(ctx context.Context, in *awskinesis.PutRecordsInput, optFns ...func(*awskinesis.Options)) (*awskinesis.PutRecordsOutput, error)
}

// Options are the producer's collaborators; nil fields get defaults.
type Options struct {
	// Logger receives failures and retries; nil discards them.
	Logger *slog.Logger
	// Meter creates the producer's instruments; nil means no-op.
	Meter metric.Meter
	// Tracer, for the Reader, makes a span per GetRecords call that the tracer's
	// sampler keeps (internal/tracing); nil: none.
	Tracer trace.Tracer
}

// Producer puts records into Kinesis data streams. It implements the gateway's
// Producer. Create it with New and stop it with Close; its methods are safe for
// concurrent use.
type Producer struct {
	cfg     Config
	log     *slog.Logger
	metrics metrics
	clients map[StreamLocation]*client
	// comp compresses record data (Config.Compression zstd); nil: records go as built.
	comp *compressor

	// ctx ends when Close stops waiting for the flush: in-flight calls are abandoned.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // stream batchers

	mu      sync.Mutex
	streams map[string]*streamProducer
	closed  bool
}

// client is a Kinesis client for one location, and how errors name it.
type client struct {
	api api
	// reader is the same client's read side, for the consumer (Reader).
	reader    readAPI
	endpoint  string
	transport *http.Transport
}

// New validates cfg, loads the AWS configuration of every stream location (region and
// credentials from cfg or the AWS default chain) and returns a producer. It starts no
// goroutine until the first Put to a stream. ctx bounds loading the AWS configuration
// only.
func New(ctx context.Context, cfg Config, opts Options) (*Producer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("kinesis producer config: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Meter == nil {
		opts.Meter = noop.NewMeterProvider().Meter("")
	}
	p := &Producer{
		cfg:     cfg,
		log:     opts.Logger,
		clients: map[StreamLocation]*client{},
		streams: map[string]*streamProducer{},
	}
	locations := []StreamLocation{cfg.location("")}
	for name := range cfg.Streams {
		locations = append(locations, cfg.location(name))
	}
	for _, loc := range locations {
		if _, ok := p.clients[loc]; ok {
			continue
		}
		c, err := newClient(ctx, loc, cfg.MaxInflightRequests)
		if err != nil {
			p.closeIdle()
			return nil, err
		}
		p.clients[loc] = c
	}
	m, err := newMetrics(opts.Meter, p)
	if err != nil {
		return nil, err
	}
	p.metrics = m
	if cfg.Compression == CompressionZstd {
		// An encoder per request in flight, up to one per P: compressing is all CPU, so
		// more could not run at once, and each keeps its tables and history (on 2 CPUs,
		// 2 encoders instead of 8: peak RSS 138-140 -> 131 MiB, BENCHMARKS.md).
		p.comp = newCompressor(min(cfg.MaxInflightRequests, runtime.GOMAXPROCS(0)), int(cfg.MaxRecordBytes))
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	return p, nil
}

// newClient builds the Kinesis client of one location. The SDK's own retries are off:
// the producer retries only what failed, within its own budget. The client has its own
// HTTP transport (with the SDK's settings, AWS_CA_BUNDLE included), so that Close can
// close its connections.
func newClient(ctx context.Context, loc StreamLocation, maxInflight int) (*client, error) {
	ac, err := awsclient.Load(ctx, awsclient.Settings{Region: loc.Region, Endpoint: loc.Endpoint, Credentials: loc.Credentials})
	if err != nil {
		return nil, fmt.Errorf("kinesis producer: %w", err)
	}
	ac.Transport.MaxIdleConnsPerHost = 4 * maxInflight
	endpoint := loc.Endpoint
	if endpoint == "" {
		endpoint = "https://kinesis." + ac.AWS.Region + ".amazonaws.com"
	}
	api := awskinesis.NewFromConfig(ac.AWS, func(o *awskinesis.Options) {
		if ac.Endpoint != nil {
			o.BaseEndpoint = ac.Endpoint
		}
		o.Retryer = aws.NopRetryer{}
	})
	return &client{api: api, reader: api, endpoint: endpoint, transport: ac.Transport}, nil
}

// closeIdle closes the idle connections of every client.
func (p *Producer) closeIdle() {
	for _, c := range p.clients {
		c.transport.CloseIdleConnections()
	}
}

// Put puts recs into the named stream and returns nil only when every record is durable
// in it: every PutRecords entry carrying them has succeeded. Records with one partition
// key keep their order unless a retry reorders them. Put copies the record data it
// keeps; the caller may reuse recs once Put returns.
//
// Put blocks while the stream's in-flight budget is full and while the records are on
// their way. When ctx ends first it returns an error (wrapping stream.ErrFull and
// ctx.Err() unless the stream's last failure was an unreachable or failing endpoint)
// that says whether none of the records were written (they were never sent, or Kinesis
// refused them; they will not be sent after Put returns) or how many may have been
// written (their request is in flight or its answer was lost): those may still become
// durable later, and a resend by the caller duplicates them (at-least-once; events with
// ids are indexed once). Errors wrapping stream.ErrTooLarge are permanent.
func (p *Producer) Put(ctx context.Context, streamName string, recs []stream.Record) error {
	if len(recs) == 0 {
		return nil
	}
	var total int64
	for i, r := range recs {
		if err := p.checkRecord(r); err != nil {
			return fmt.Errorf("put %d records to stream %s: record %d: %w", len(recs), streamName, i, err)
		}
		total += int64(r.Size())
	}
	if total > int64(p.cfg.MaxInflightBytes) {
		return fmt.Errorf("put %d records to stream %s: %d bytes, more than max_inflight_bytes %s could ever hold: %w",
			len(recs), streamName, total, p.cfg.MaxInflightBytes, stream.ErrTooLarge)
	}
	s, err := p.stream(streamName)
	if err != nil {
		return err
	}
	return s.put(ctx, recs, total)
}

// checkRecord applies the Kinesis record rules to one record as Put will send it.
func (p *Producer) checkRecord(r stream.Record) error {
	if r.PartitionKey == "" {
		return errors.New("empty partition key")
	}
	if n := utf8.RuneCountInString(r.PartitionKey); n > MaxPartitionKeyChars {
		return fmt.Errorf("partition key of %d characters, over the Kinesis limit of %d", n, MaxPartitionKeyChars)
	}
	size := r.Size()
	if kpl.NeedsWrapping(r.Data) {
		// Data that starts like an aggregated record travels inside one.
		var a kpl.Aggregator
		size = a.SizeWith(r.PartitionKey, "", len(r.Data))
	}
	if size > int(p.cfg.MaxRecordBytes) {
		return fmt.Errorf("record of %d bytes (data and partition key), over max_record_bytes %d: %w",
			size, int(p.cfg.MaxRecordBytes), stream.ErrTooLarge)
	}
	return nil
}

// errClosed is returned by Put after Close.
var errClosed = errors.New("kinesis producer closed")

// stream returns the producer of a stream, starting it on first use.
func (p *Producer) stream(name string) (*streamProducer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("put to stream %s: %w", name, errClosed)
	}
	if s, ok := p.streams[name]; ok {
		return s, nil
	}
	if !stream.ValidName(name) {
		return nil, fmt.Errorf("put to stream %q: invalid stream name: %w", name, stream.ErrUnknownStream)
	}
	s := newStreamProducer(p, name, p.clients[p.cfg.location(name)])
	p.streams[name] = s
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		s.run()
	}()
	return s, nil
}

// inflightByStream returns the in-flight bytes of every stream, for the gauge.
func (p *Producer) inflightByStream() map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int64, len(p.streams))
	for name, s := range p.streams {
		out[name] = s.inflight.Load()
	}
	return out
}

// Close stops accepting Puts, flushes every record already accepted (waiting for
// linger no longer, but still within the shard limits and the retry budget) and waits
// until each is durable or failed. If ctx ends first, Close abandons the rest: their
// Puts fail, and Close returns an error saying how many events were not flushed. Close
// returns once every goroutine of the producer has ended; later calls return nil.
func (p *Producer) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	streams := make([]*streamProducer, 0, len(p.streams))
	for _, s := range p.streams {
		streams = append(streams, s)
	}
	p.mu.Unlock()

	for _, s := range streams {
		close(s.closing)
	}
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		p.cancel()
		<-done
		var lost int64
		for _, s := range streams {
			lost += s.abandonedOnClose.Load()
		}
		err = fmt.Errorf("close kinesis producer: %d events not flushed: %w", lost, ctx.Err())
	}
	p.cancel()
	p.closeIdle()
	return err
}

// streamProducer is the producing side of one stream: the Puts' entry point, the
// batcher goroutine (run) and its senders.
type streamProducer struct {
	p      *Producer
	cfg    Config
	name   string
	client *client
	sem    *semaphore.Weighted
	// inflight is the event bytes holding room in sem.
	inflight atomic.Int64

	intake  chan *call    // Puts hand batches to the batcher (unbuffered)
	closing chan struct{} // closed by Producer.Close
	exited  chan struct{} // closed when run returns
	wake    chan struct{} // pokes the batcher (capacity 1)

	// failure is the stream's latest failure, nil since the latest success; it explains
	// a Put whose caller gave up.
	failure atomic.Pointer[failure]
	// blocked, when set, fails Puts at once: the stream does not exist, or its shard
	// map could not be loaded within the retry budget.
	blocked atomic.Pointer[failure]
	// abandonedOnClose counts the events failed because Close gave up.
	abandonedOnClose atomic.Int64
	// resends gathers resends after unknown outcomes for a warning now and then.
	resends resendLog

	mu      sync.Mutex // guards notes, shared by the batcher, senders and the loader
	notes   notes
	batch   batcher        // owned by the run goroutine
	senders sync.WaitGroup // senders and the loader
}

// notes are what senders and the loader tell the batcher; it takes them on wake.
type notes struct {
	freed     []string // shards whose in-flight request is done
	throttled []string // shards that throttled a put
	reqsDone  int      // requests finished
	newMap    *shardMap
	loadDone  bool // the loader has returned
	loadFail  *failure
	refresh   bool // a put landed on an unexpected shard
	// refunds correct, by shard, what its byte bucket was charged for records sealed
	// to be compressed (their tokens) by what they turned out to be: given back, or
	// taken when negative.
	refunds map[string]int
	// raw and packed are the bytes of the records compressed since the last notes,
	// before and after: what the batcher predicts compression ratios from.
	raw, packed int
}

func newStreamProducer(p *Producer, name string, c *client) *streamProducer {
	return &streamProducer{
		p:       p,
		cfg:     p.cfg,
		name:    name,
		client:  c,
		sem:     semaphore.NewWeighted(int64(p.cfg.MaxInflightBytes)),
		intake:  make(chan *call),
		closing: make(chan struct{}),
		exited:  make(chan struct{}),
		wake:    make(chan struct{}, 1),
	}
}

// poke wakes the batcher without blocking.
func (s *streamProducer) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// note records something for the batcher under the lock and wakes it.
func (s *streamProducer) note(f func(*notes)) {
	s.mu.Lock()
	f(&s.notes)
	s.mu.Unlock()
	s.poke()
}

// event is one record of a Put on its way.
type event struct {
	key  string
	data []byte
	hash hashKey
	size int // len(key) + len(data), as in-flight bytes and shard limits count it
	at   time.Time
	call *call

	// Where the event stands with Kinesis, guarded by call.mu: never sent (queued in
	// a shard queue or sealed in a record), on the wire (in a PutRecords call whose
	// answer has not come), outcome unknown (maybe), durable, or certainly not written
	// (sent, and every answer said so: an entry error, a request refused with a 4xx or
	// never sent).
	sent    bool // it has been put on the wire
	onWire  bool
	maybe   bool // a call carrying it had an unknown outcome; it may be in the stream
	durable bool
}

// call is one Put waiting for its events.
type call struct {
	events []event
	done   chan struct{}
	// gone is set (under mu) when nobody waits for the call any more: its caller gave
	// up, or it already failed. Its events that are not on the wire are then never
	// sent: senders check gone under mu before they put an event on the wire.
	gone atomic.Bool

	mu        sync.Mutex
	remaining int
	err       error
	finished  bool // done is closed, or the caller gave up
	gaveUp    bool // the caller's context ended before the call finished

	// span is the caller's span when it records (a traced batch): retries and
	// throttling of requests carrying the call's events become its events. Nil
	// otherwise.
	span trace.Span
}

// complete reports a run of the call's events durable (f nil) or failed with f; errFor
// makes the call's error from f and where its events stand. The first failure finishes
// the call with that error; otherwise it finishes when every event is durable. It
// returns how many events became durable after the call had ended with an error (late
// writes), and why it had ended (gave_up or failed).
func (c *call) complete(evs []*event, f *failure, errFor func(*outcome) error) (late int, after string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ev := range evs {
		ev.onWire = false
		ev.durable = f == nil
	}
	switch {
	case c.finished && f == nil && c.gaveUp:
		return len(evs), "gave_up"
	case c.finished && f == nil && c.err != nil:
		return len(evs), "failed"
	case c.finished:
		return 0, ""
	case f != nil:
		o := c.outcomeLocked()
		c.err, c.finished = errFor(&o), true
		c.gone.Store(true)
		close(c.done)
		return 0, ""
	}
	c.remaining -= len(evs)
	if c.remaining <= 0 {
		c.finished = true
		close(c.done)
	}
	return 0, ""
}

// giveUp ends the wait of a caller whose context ended. The call is gone from then on,
// and o says where its events stand; unless it finished meanwhile (gaveUp false), with
// err as its result.
func (c *call) giveUp() (o outcome, gaveUp bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished {
		return outcome{}, false, c.err
	}
	c.finished, c.gaveUp = true, true
	c.gone.Store(true)
	return c.outcomeLocked(), true, nil
}

// outcomeLocked counts where the call's events stand; c.mu is held.
func (c *call) outcomeLocked() outcome {
	o := outcome{total: len(c.events)}
	for i := range c.events {
		switch ev := &c.events[i]; {
		case ev.durable:
			o.durable++
		case ev.onWire || ev.maybe:
			o.maybe++
		case ev.sent:
			o.refused++
		}
	}
	return o
}

// outcome is where the events of a Put stand when its caller is answered with an
// error: durable, maybe written (on the wire, or sent in a call whose outcome is
// unknown), refused (sent, and certainly not written) and the rest never sent. Once
// the caller is answered, only the maybe written ones can still become durable: the
// others are never put on the wire again.
type outcome struct {
	total, durable, maybe, refused int
}

// unsent is how many events are certainly not in the stream.
func (o outcome) unsent() int { return o.total - o.durable - o.maybe }

// String says it for the error a caller gets.
func (o outcome) String() string {
	n, unsent := o.total, o.unsent()
	switch {
	case o.maybe == 0 && o.durable == 0:
		switch o.refused {
		case 0:
			return fmt.Sprintf("none of the %d records were written (all were still queued; they will not be sent)", n)
		case n:
			return fmt.Sprintf("none of the %d records were written (their requests were refused or never reached Kinesis; they will not be sent again)", n)
		default:
			return fmt.Sprintf("none of the %d records were written (%d were refused or never reached Kinesis, the others were still queued; they will not be sent)", n, o.refused)
		}
	case o.maybe == 0:
		return fmt.Sprintf("%d of the %d records were written, the other %d were not and will not be sent: resend; events with ids are indexed once",
			o.durable, n, unsent)
	}
	msg := fmt.Sprintf("%d of the %d records may have been written (their request is in flight or its answer was lost)", o.maybe, n)
	if o.durable > 0 {
		msg += fmt.Sprintf(", %d were written", o.durable)
	}
	if unsent > 0 {
		msg += fmt.Sprintf(", %d were not and will not be sent", unsent)
	}
	return msg + ": resend; events with ids are indexed once"
}

// put is Put for one stream: room, hand-off, wait.
func (s *streamProducer) put(ctx context.Context, recs []stream.Record, total int64) error {
	if f := s.blocked.Load(); f != nil {
		return s.failedError(len(recs), f, nil)
	}
	if err := s.sem.Acquire(ctx, total); err != nil {
		return s.gaveUpError(ctx, outcome{total: len(recs)}, "waiting for room in flight")
	}
	s.inflight.Add(total)

	// One copy of all data: the caller may reuse recs once Put returns, and the
	// records may outlive a Put that gave up.
	buf := make([]byte, 0, total)
	c := &call{events: make([]event, len(recs)), done: make(chan struct{}), remaining: len(recs)}
	if sp := trace.SpanFromContext(ctx); sp.IsRecording() {
		c.span = sp
	}
	for i, r := range recs {
		start := len(buf)
		buf = append(buf, r.Data...)
		c.events[i] = event{
			key:  r.PartitionKey,
			data: buf[start:len(buf):len(buf)],
			hash: hashOf(r.PartitionKey),
			size: r.Size(),
			call: c,
		}
	}
	select {
	case s.intake <- c:
	case <-ctx.Done():
		s.release(total)
		return s.gaveUpError(ctx, outcome{total: len(recs)}, "waiting for the batcher")
	case <-s.exited:
		s.release(total)
		return fmt.Errorf("put %d records to stream %s: %w", len(recs), s.name, errClosed)
	}
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
	}
	o, gaveUp, err := c.giveUp()
	if !gaveUp { // finished meanwhile
		return err
	}
	return s.gaveUpError(ctx, o, "waiting for the records to be durable")
}

// release gives back in-flight room.
func (s *streamProducer) release(n int64) {
	if n > 0 {
		s.inflight.Add(-n)
		s.sem.Release(n)
	}
}

// gaveUpError explains a Put whose context ended, with where its records stand (o):
// backpressure (stream.ErrFull and ctx.Err()) unless the stream's latest failure says
// the endpoint cannot be reached or is failing, which the gateway answers with 503. It
// counts the records the caller abandoned.
func (s *streamProducer) gaveUpError(ctx context.Context, o outcome, while string) error {
	if n := o.unsent(); n > 0 {
		s.p.metrics.eventsGivenUp.Add(s.p.ctx, int64(n), metric.WithAttributes(attribute.String("stream", s.name), attribute.String("outcome", "unsent")))
	}
	if o.maybe > 0 {
		s.p.metrics.eventsGivenUp.Add(s.p.ctx, int64(o.maybe), metric.WithAttributes(attribute.String("stream", s.name), attribute.String("outcome", "unknown")))
	}
	what := fmt.Sprintf("put %d records to stream %s at %s: gave up %s", o.total, s.name, s.client.endpoint, while)
	f := s.failure.Load()
	if f != nil && f.kind != failThrottled {
		// The cause is not wrapped: a timeout inside it must not read as backpressure.
		return fmt.Errorf("%s (%v): %v; latest failure: %v", what, ctx.Err(), o, f.err)
	}
	if f != nil {
		return fmt.Errorf("%s: %v: shards throttled (%v): %w (%w)", what, o, f.err, stream.ErrFull, ctx.Err())
	}
	return fmt.Errorf("%s: %v: %w (%w)", what, o, stream.ErrFull, ctx.Err())
}

// failedError is the error of n events that failed with f; o, when set, says where
// the events stand.
func (s *streamProducer) failedError(n int, f *failure, o *outcome) error {
	return f.errorFor(n, s.name, s.client.endpoint, o)
}
