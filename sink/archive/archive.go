// Package archive is the S3 data lake destination of the index step (the last step of
// the data path), beside the search sink: it writes the original events (or the
// documents, or both) to S3 objects of NDJSON compressed with zstd or gzip, batched
// per shard and log type, under Hive-style partitions that Athena's and Glue's
// partition projection read:
//
//	<prefix>/type=<type>/dt=YYYY-MM-DD/hour=HH/<stream>-<shard>-<first>-<last>.ndjson.zst
//
// dt and hour are those of the object's first event (when the gateway received it);
// an object holds events up to max_age later. first and last are stream positions
// (sequence number, and _sub-sequence for a user record of a KPL aggregated record).
// A raw line is the event as shipped with one member added last,
// "_sluice":{"position","id","received"}, so that Reader (sluice replay
// --from-archive) can index it again under the id it had.
//
// # Acknowledgement and checkpoints
//
// An object gathers many batches of a shard, for up to max_age, and a batch may be
// checkpointed only once its events are in S3. The archive therefore acknowledges
// batches after returning, through the stream's one acknowledgement path
// (stream.Deferral, offered by transform/consume): Tee writes a batch to the search
// sink, then Appends it here and defers the batch's acknowledgement to the upload of
// the object(s) holding it. The consumer's checkpoint advances over a batch only when
// both have it, never past an earlier batch still waiting, and a shard's
// unacknowledged records stay within stream.consumer.max_unacked_records and
// max_unacked_bytes (objects end at half of each), so an S3
// outage holds the checkpoint and, once that bound is reached, the shard's reading
// (backpressure) while uploads are retried; they drain when S3 answers again. When a
// shard stops reading (its end, a hand-off, shutdown) the consumer asks the archive
// (Deferral.OnStop) to end its open objects, and waits for their uploads before it
// checkpoints. Without a Deferral (the in-memory embedded stream) Write ends and uploads
// the objects of a batch before it returns: correct, with one object per batch.
//
// # Exactly once per stream position
//
// Objects end only between batches (by size, age, a shard's stop, memory pressure),
// so a shard's objects of one type are contiguous runs of its records, uploaded in
// order, and the checkpoint never lies inside an object unless a batch had events of
// several types. When processing of a shard (re)starts, possibly behind objects an
// earlier owner uploaded but did not checkpoint, the archive lists the shard's objects
// in the partitions of the first event's hour and the hour before (and of every later
// hour as it reaches it). An event already inside an earlier object that begins
// before it is skipped (that object holds it and cannot be rewritten whole); an event
// that begins an earlier object starts an object that ends where that one ended and
// overwrites it under the same key. So replaying a shard from any checkpoint leaves
// the same objects with the same events: none lost, none twice. (If such an object
// must end early, at a stop, it is written under the key it replaces, whose last
// position is then an upper bound.)
package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sluice-siem/sluice/internal/instruments"
	"github.com/sluice-siem/sluice/internal/jsonx"
	"github.com/sluice-siem/sluice/internal/retry"
	"github.com/sluice-siem/sluice/sink"
	"github.com/sluice-siem/sluice/stream"
)

// Options are an Archive's optional collaborators.
type Options struct {
	// Logger receives upload failures and retries. Nil discards them.
	Logger *slog.Logger
	// Meter creates the archive's instruments. Nil means no metrics.
	Meter metric.Meter
	// Now is the clock of the objects' age. Nil means time.Now.
	Now func() time.Time
	// Transport, if set, is the HTTP transport of the S3 client (a proxy, a test's
	// fault injection); nil: the AWS SDK's.
	Transport http.RoundTripper
}

// Archive writes documents to S3 objects per shard and log type. It is safe for
// concurrent use: one Archive serves every shard of a consumer.
type Archive struct {
	cfg    Config
	client s3API
	log    *slog.Logger
	now    func() time.Time
	// failPart, in tests, fails the upload of a part before it is sent.
	failPart func(part int32) error

	mu   sync.Mutex
	bufs map[bufKey]*buffer
	// schemas are the Parquet schemas of the log types seen (format parquet).
	schemas map[string]*parquetSchema
	// held is the compressed bytes of open and sealed objects not yet uploaded;
	// room is closed and replaced when it drops.
	held int64
	room chan struct{}

	stop      chan struct{}
	stopOnce  sync.Once
	startOnce sync.Once
	wg        sync.WaitGroup

	objects, bytesOut, events, failures, skipped metric.Int64Counter
	uploadSeconds                                metric.Float64Histogram
}

// bufKey names a buffer: one shard's events of one type.
type bufKey struct{ stream, shard, typ string }

// New validates cfg and returns an Archive writing to its bucket. It makes no call to
// S3; Start begins the ageing of open objects.
func New(ctx context.Context, cfg Config, opts Options) (*Archive, error) {
	if !cfg.Enabled() {
		return nil, errors.New("archive: no bucket (sink.archive.bucket)")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("archive config: %w", err)
	}
	client, err := newClient(ctx, cfg, opts.Transport, 1) // the archive retries uploads itself, until they succeed or the shard stops
	if err != nil {
		return nil, err
	}
	a := &Archive{cfg: cfg, client: client, log: opts.Logger, now: opts.Now, bufs: map[bufKey]*buffer{}, schemas: map[string]*parquetSchema{},
		room: make(chan struct{}), stop: make(chan struct{})}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	in := instruments.New(opts.Meter, "github.com/sluice-siem/sluice/sink/archive")
	a.objects = in.Counter("sluice_archive_objects_total", "{object}", "Objects uploaded to the archive, by log type.")
	a.bytesOut = in.Counter("sluice_archive_bytes_total", "By", "Compressed bytes uploaded to the archive, by log type.")
	a.events = in.Counter("sluice_archive_events_total", "{event}", "Events uploaded to the archive, by log type.")
	a.failures = in.Counter("sluice_archive_upload_failures_total", "{upload}", "Failed uploads (each retried), by log type.")
	a.skipped = in.Counter("sluice_archive_skipped_events_total", "{event}", "Events not written again because an object from an earlier run of their shard holds them.")
	a.uploadSeconds = in.Histogram("sluice_archive_upload_seconds", "s", "Duration of successful object uploads.", 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
	if err := in.Err("archive"); err != nil {
		return nil, err
	}
	return a, nil
}

// Start ends open objects when they reach max_age, in the background, until Shutdown.
func (a *Archive) Start(context.Context) error {
	a.startOnce.Do(func() {
		a.wg.Go(func() {
			t := time.NewTicker(min(a.cfg.MaxAge/10, time.Second))
			defer t.Stop()
			for {
				select {
				case <-a.stop:
					return
				case <-t.C:
					a.sealAged()
				}
			}
		})
	})
	return nil
}

// Shutdown stops the ageing and the uploaders: what is still held was not
// acknowledged and is delivered again to the shard's next owner. The consumer, shut
// down first, has already had its shards' objects ended and uploaded. It is safe
// without Start, and twice.
func (a *Archive) Shutdown(ctx context.Context) error {
	a.stopOnce.Do(func() { close(a.stop) })
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("archive: uploads did not stop in time: %w", ctx.Err())
	}
}

// Archives reports whether any of docs goes to the archive (by sink.archive.types).
func (a *Archive) Archives(docs []sink.Document) bool {
	for i := range docs {
		if a.cfg.archives(docs[i].Type) {
			return true
		}
	}
	return false
}

// Write archives docs and returns once the objects holding them are uploaded: it ends
// the open objects they went to. For callers without a stream.Deferral.
func (a *Archive) Write(ctx context.Context, docs []sink.Document) error {
	done := make(chan struct{})
	touched, err := a.append(ctx, docs, func() { close(done) })
	if err != nil {
		return err
	}
	for _, b := range touched {
		b.mu.Lock()
		b.seal()
		b.mu.Unlock()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("archive: %w", ctx.Err())
	}
}

// Append adds docs, one batch of one shard, to their shard's open objects and returns
// once they are held; ack runs once every object holding them is uploaded (at once if
// none goes to the archive). ctx is the shard's processing: when it ends (the lease is
// lost) the shard's held objects are dropped and ack never runs. Append waits while
// max_buffered_bytes are held (backpressure). It fails only before holding anything
// (ctx ended, or listing the bucket after a restart failed), so the batch may be
// given again. docs are not kept after it returns. d, if not nil, is told to end the
// shard's open objects when the shard stops.
func (a *Archive) Append(ctx context.Context, docs []sink.Document, ack func(), d stream.Deferral) error {
	touched, err := a.append(ctx, docs, ack)
	if err != nil {
		return err
	}
	if d != nil {
		for _, b := range touched {
			d.OnStop(b, func() {
				b.mu.Lock()
				b.seal()
				b.mu.Unlock()
			})
		}
	}
	return nil
}

// line is one document made ready for its buffer.
type line struct {
	b    *buffer
	at   pos
	recv time.Time
	data []byte
	// id and position are the document's, for the fixed columns of Parquet.
	id, position string
}

// encoder writes an object's events into its buffer: NDJSON compressed, or Parquet.
type encoder interface {
	add(l line) error
	// Close ends the object (the compressed frame, Parquet's footer).
	Close() error
}

// ndjsonEncoder writes one line per event through a compressor.
type ndjsonEncoder struct{ w io.WriteCloser }

func (e ndjsonEncoder) add(l line) error {
	if _, err := e.w.Write(l.data); err != nil {
		return err
	}
	_, err := e.w.Write([]byte{'\n'})
	return err
}

func (e ndjsonEncoder) Close() error { return e.w.Close() }

func (a *Archive) append(ctx context.Context, docs []sink.Document, ack func()) ([]*buffer, error) {
	if err := a.waitRoom(ctx); err != nil {
		return nil, err
	}
	// Prepare every line, and list what earlier runs left, before holding anything.
	var lines []line
	var touched []*buffer
	for i := range docs {
		doc := &docs[i]
		if !a.cfg.archives(doc.Type) {
			continue
		}
		st, shard, at, err := parsePosition(doc.Position)
		if err != nil {
			a.log.Warn("document without a stream position not archived", "type", doc.Type, "id", doc.ID, "err", err)
			continue
		}
		data, recv := a.content(doc)
		b := a.buffer(ctx, bufKey{stream: st, shard: shard, typ: doc.Type})
		if !slices.Contains(touched, b) {
			touched = append(touched, b)
		}
		lines = append(lines, line{b: b, at: at, recv: recv, data: data, id: doc.ID, position: doc.Position})
	}
	for _, l := range lines {
		if err := l.b.listed(ctx, l.recv); err != nil {
			return nil, err
		}
	}
	p := &pending{ack: ack}
	p.n.Store(1) // held by this call until every line is added
	for _, l := range lines {
		l.b.mu.Lock()
		l.b.add(l, p)
		l.b.mu.Unlock()
	}
	var recordBytes int64
	for i := range docs {
		recordBytes += int64(len(docs[i].Original))
	}
	for _, b := range touched {
		b.mu.Lock()
		if c := b.cur; c != nil && c.forced == nil {
			c.records += len(docs)
			c.recordBytes += recordBytes
			if c.raw >= int64(a.cfg.MaxObjectBytes) ||
				(a.cfg.MaxObjectRecords > 0 && c.records >= a.cfg.MaxObjectRecords) ||
				(a.cfg.MaxObjectRecordBytes > 0 && c.recordBytes >= int64(a.cfg.MaxObjectRecordBytes)) {
				b.seal()
			}
		}
		b.mu.Unlock()
	}
	p.done()
	return touched, nil
}

// content returns the line to archive for doc and when the gateway received its event
// (doc.Time when the record is no envelope).
func (a *Archive) content(doc *sink.Document) ([]byte, time.Time) {
	raw, recv := doc.Body, doc.Time
	if env, err := stream.ParseEnvelope(doc.Original); err == nil {
		raw, recv = env.Event, env.Received
	} else if len(doc.Original) > 0 && doc.Original[0] == '{' {
		raw = doc.Original
	}
	switch a.cfg.Content {
	case ContentDocument:
		return doc.Body, recv
	case ContentBoth:
		b := make([]byte, 0, len(raw)+len(doc.Body)+len(doc.Position)+len(doc.ID)+96)
		b = append(b, `{"position":`...)
		b = jsonx.AppendString(b, doc.Position)
		if doc.ID != "" {
			b = append(b, `,"id":`...)
			b = jsonx.AppendString(b, doc.ID)
		}
		b = append(b, `,"received":"`...)
		b = recv.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","raw":`...)
		b = append(b, raw...)
		b = append(b, `,"document":`...)
		b = append(b, doc.Body...)
		b = append(b, '}')
		return b, recv
	default:
		return appendMeta(make([]byte, 0, len(raw)+len(doc.Position)+len(doc.ID)+96), raw, doc.Position, doc.ID, recv), recv
	}
}

// metaKey is the member a raw line carries after the event's own: what a replay from
// the archive needs to index the event under the id it had (ReadLine takes it off).
const metaKey = `"_sluice":`

// appendMeta appends the raw event (without whitespace around it) with its member
// _sluice, {"position", "id", "received"}, added last; an event that is not a JSON
// object (never from a gateway) is appended as it is.
func appendMeta(dst, raw []byte, position, id string, recv time.Time) []byte {
	for len(raw) > 0 && (raw[0] == ' ' || raw[0] == '\n' || raw[0] == '\r' || raw[0] == '\t') {
		raw = raw[1:]
	}
	end := len(raw)
	for end > 0 && (raw[end-1] == ' ' || raw[end-1] == '\n' || raw[end-1] == '\r' || raw[end-1] == '\t') {
		end--
	}
	if len(raw) == 0 || raw[0] != '{' || end < 2 || raw[end-1] != '}' {
		return append(dst, raw...)
	}
	dst = append(dst, raw[:end-1]...)
	if !emptyObject(raw[:end]) {
		dst = append(dst, ',')
	}
	dst = append(dst, metaKey...)
	dst = append(dst, `{"position":`...)
	dst = jsonx.AppendString(dst, position)
	if id != "" {
		dst = append(dst, `,"id":`...)
		dst = jsonx.AppendString(dst, id)
	}
	dst = append(dst, `,"received":"`...)
	dst = recv.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, `"}}`...)
}

// emptyObject reports whether obj, a JSON object, has no member.
func emptyObject(obj []byte) bool {
	for _, c := range obj[1 : len(obj)-1] {
		if c != ' ' && c != '\n' && c != '\r' && c != '\t' {
			return false
		}
	}
	return true
}

// buffer returns the buffer of k, made for ctx's shard processing: a buffer left by
// an earlier processing of the shard (a lease lost and taken again) is dropped.
func (a *Archive) buffer(ctx context.Context, k bufKey) *buffer {
	a.mu.Lock()
	b := a.bufs[k]
	if b != nil && b.run == ctx.Done() && b.ctx.Err() == nil {
		a.mu.Unlock()
		return b
	}
	stale := b
	b = &buffer{a: a, key: k, ctx: ctx, run: ctx.Done(), listedHours: map[string]bool{}, kick: make(chan struct{}, 1), fresh: true}
	a.bufs[k] = b
	a.wg.Go(b.upload)
	a.mu.Unlock()
	if stale != nil {
		stale.drop()
	}
	return b
}

// waitRoom waits until fewer than max_buffered_bytes are held, ending open objects to
// make room when nothing is on its way to S3.
func (a *Archive) waitRoom(ctx context.Context) error {
	for {
		a.mu.Lock()
		over, room := a.held >= int64(a.cfg.MaxBufferedBytes), a.room
		var bufs []*buffer
		if over {
			for _, b := range a.bufs {
				bufs = append(bufs, b)
			}
		}
		a.mu.Unlock()
		if !over {
			return nil
		}
		for _, b := range bufs {
			b.mu.Lock()
			if len(b.queue) == 0 && b.cur != nil && b.cur.forced == nil {
				b.seal()
			}
			b.mu.Unlock()
		}
		select {
		case <-room:
		case <-ctx.Done():
			return fmt.Errorf("archive: wait for memory: %w", ctx.Err())
		case <-a.stop:
			return errors.New("archive: shut down")
		}
	}
}

// hold adds n (may be negative) to the held bytes.
func (a *Archive) hold(n int64) {
	a.mu.Lock()
	a.held += n
	if n < 0 {
		close(a.room)
		a.room = make(chan struct{})
	}
	a.mu.Unlock()
}

// schema returns the Parquet schema of typ's objects, made on first use. Validate
// checked every column list it can be made of, so making it does not fail.
func (a *Archive) schema(typ string) *parquetSchema {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.schemas[typ]
	if s == nil {
		var err error
		if s, err = newParquetSchema(typ, a.cfg.Parquet.Columns[typ]); err != nil {
			a.log.Error("archive: parquet columns (the shared ones only)", "type", typ, "err", err)
			s, _ = newParquetSchema("", nil)
		}
		a.schemas[typ] = s
	}
	return s
}

// sealAged ends the open objects older than max_age.
func (a *Archive) sealAged() {
	now := a.now()
	a.mu.Lock()
	bufs := make([]*buffer, 0, len(a.bufs))
	for _, b := range a.bufs {
		bufs = append(bufs, b)
	}
	a.mu.Unlock()
	for _, b := range bufs {
		b.mu.Lock()
		if b.cur != nil && b.cur.forced == nil && now.Sub(b.cur.opened) >= a.cfg.MaxAge {
			b.seal()
		}
		b.mu.Unlock()
	}
}

// pending counts the objects a batch waits for, plus one while it is being added.
type pending struct {
	n   atomic.Int64
	ack func()
}

func (p *pending) done() {
	if p.n.Add(-1) == 0 && p.ack != nil {
		p.ack()
	}
}

// object is an open or sealed object of a buffer.
type object struct {
	part        string
	first, last pos
	opened      time.Time
	// forced is the last position of the earlier object this one replaces (it ends
	// there), with that object's key; nil for an ordinary object.
	forced    *pos
	forcedKey string
	raw       int64
	events    int64
	// records counts the documents of the batches the object holds, archived or not,
	// and recordBytes the bytes of the stream records they were made from.
	records     int
	recordBytes int64
	buf         bytes.Buffer
	enc         encoder
	heldBytes   int64
	acks        []*pending
}

// buffer is the objects of one shard's events of one type, during one processing of
// the shard (its lease): the open object, the sealed ones awaiting upload (in order),
// and the objects earlier runs left in the partitions listed so far.
type buffer struct {
	a   *Archive
	key bufKey
	ctx context.Context
	run <-chan struct{}

	mu          sync.Mutex
	cur         *object
	queue       []*object
	kick        chan struct{}
	fresh       bool // no event added yet in this run: list the hour before too
	listedHours map[string]bool
	old         []oldObject
	dropped     bool
}

// listed makes sure the objects of the partitions an event received at recv may be
// in are listed: its hour, and for the run's first event also the hour before (an
// object it belongs to may have begun then).
func (b *buffer) listed(ctx context.Context, recv time.Time) error {
	b.mu.Lock()
	hours := []time.Time{recv}
	if b.fresh {
		hours = append(hours, recv.Add(-time.Hour))
	}
	var need []string
	for _, h := range hours {
		part := partition(b.key.typ, h)
		if !b.listedHours[part] {
			need = append(need, part)
		}
	}
	b.mu.Unlock()
	for _, part := range need {
		prefix := shardPrefix(b.a.cfg.Prefix, part, b.key.stream, b.key.shard)
		objs, err := b.a.listShard(ctx, prefix)
		if err != nil {
			return fmt.Errorf("archive: look for objects of an earlier run: %w", err)
		}
		b.mu.Lock()
		if !b.listedHours[part] {
			b.listedHours[part] = true
			b.old = append(b.old, objs...)
		}
		b.mu.Unlock()
	}
	return nil
}

// add adds one event; b.mu is held.
func (b *buffer) add(l line, p *pending) {
	if b.dropped {
		return
	}
	b.fresh = false
	if c := b.cur; c != nil && c.forced != nil && l.at.cmp(*c.forced) > 0 {
		b.seal()
	}
	if b.cur == nil {
		var replaces *oldObject
		for i := range b.old {
			o := &b.old[i]
			if o.first.cmp(l.at) <= 0 && l.at.cmp(o.last) <= 0 {
				replaces = o
				break
			}
		}
		if replaces != nil && replaces.first.cmp(l.at) < 0 {
			// Inside an object an earlier run uploaded: it holds this event.
			b.a.skipped.Add(context.Background(), 1, b.attrs())
			return
		}
		b.cur = b.open(l)
		if replaces != nil {
			last := replaces.last
			b.cur.forced, b.cur.forcedKey = &last, replaces.key
		}
	}
	c := b.cur
	before := int64(c.buf.Len())
	if err := c.enc.add(l); err != nil { // writes to memory: fails only on a bug
		b.a.log.Error("archive: encode event", "type", b.key.typ, "position", l.position, "err", err)
	}
	c.raw += int64(len(l.data)) + 1
	c.events++
	c.last = l.at
	if n := len(c.acks); n == 0 || c.acks[n-1] != p {
		c.acks = append(c.acks, p)
		p.n.Add(1)
	}
	grown := int64(c.buf.Len()) - before
	c.heldBytes += grown
	b.a.hold(grown)
	if c.forced != nil && l.at.cmp(*c.forced) == 0 {
		b.seal()
	}
}

// open starts an object at the event l.
func (b *buffer) open(l line) *object {
	o := &object{part: partition(b.key.typ, l.recv), first: l.at, last: l.at, opened: b.a.now()}
	switch {
	case b.a.cfg.Format == FormatParquet:
		o.enc = newParquetEncoder(b.a.schema(b.key.typ), &o.buf, b.a.cfg.Compression, int64(b.a.cfg.Parquet.RowGroupBytes))
	case b.a.cfg.Compression == CompressionGzip:
		o.enc = ndjsonEncoder{gzip.NewWriter(&o.buf)}
	default:
		w, _ := zstd.NewWriter(&o.buf, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20), zstd.WithLowerEncoderMem(true))
		o.enc = ndjsonEncoder{w}
	}
	return o
}

// seal ends the open object and queues it for upload; b.mu is held.
func (b *buffer) seal() {
	c := b.cur
	if c == nil {
		return
	}
	b.cur = nil
	before := int64(c.buf.Len())
	if err := c.enc.Close(); err != nil {
		b.a.log.Error("archive: end object", "type", b.key.typ, "err", err)
	}
	grown := int64(c.buf.Len()) - before
	c.heldBytes += grown
	b.a.hold(grown)
	b.queue = append(b.queue, c)
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// drop forgets the buffer's objects: its shard's processing ended without them.
func (b *buffer) drop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dropped = true
	var n int64
	if b.cur != nil {
		n += b.cur.heldBytes
		b.cur = nil
	}
	for _, o := range b.queue {
		n += o.heldBytes
	}
	b.queue = nil
	if n > 0 {
		b.a.hold(-n)
	}
}

func (b *buffer) attrs() metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String("type", b.key.typ)))
}

// upload uploads the sealed objects in order, each retried until it succeeds or the
// shard's processing ends, and acknowledges their batches.
func (b *buffer) upload() {
	a := b.a
	for {
		b.mu.Lock()
		var o *object
		if len(b.queue) > 0 && !b.dropped {
			o = b.queue[0]
		}
		b.mu.Unlock()
		if o == nil {
			select {
			case <-b.kick:
				continue
			case <-b.ctx.Done():
			case <-a.stop:
			}
			a.mu.Lock()
			if a.bufs[b.key] == b {
				delete(a.bufs, b.key)
			}
			a.mu.Unlock()
			b.drop()
			return
		}
		key := objectKey(a.cfg.Prefix, o.part, b.key.stream, b.key.shard, o.first, o.last, a.cfg.ending())
		if o.forced != nil {
			key = o.forcedKey // the object it replaces, ended where that one did or earlier
		}
		body := o.buf.Bytes()
		for attempt := 0; ; attempt++ {
			start := time.Now()
			err := a.upload(b.ctx, key, body)
			if err == nil {
				a.uploadSeconds.Record(b.ctx, time.Since(start).Seconds())
				break
			}
			if b.ctx.Err() != nil {
				break
			}
			a.failures.Add(context.Background(), 1, b.attrs())
			wait := retry.Jitter(retry.Ceiling(a.cfg.RetryBase, a.cfg.RetryMax, attempt))
			a.log.Warn("archive upload failed, retrying", "key", key, "attempt", attempt+1, "backoff", wait, "err", err)
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-b.ctx.Done():
			case <-a.stop:
			}
			t.Stop()
			if b.ctx.Err() != nil || isClosed(a.stop) {
				break
			}
		}
		if b.ctx.Err() != nil || isClosed(a.stop) {
			continue // dropped above
		}
		b.mu.Lock()
		if b.dropped || len(b.queue) == 0 {
			// A later processing of the shard replaced this buffer while the object was
			// on its way: drop released its bytes, and its batches are delivered again.
			b.mu.Unlock()
			continue
		}
		b.queue = b.queue[1:]
		b.mu.Unlock()
		a.hold(-o.heldBytes)
		ctx := context.Background()
		a.objects.Add(ctx, 1, b.attrs())
		a.bytesOut.Add(ctx, int64(len(body)), b.attrs())
		a.events.Add(ctx, o.events, b.attrs())
		for _, p := range o.acks {
			p.done()
		}
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
