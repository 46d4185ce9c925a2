// Package search is the search-engine destination of the index step (the last step of
// the data path): it writes transformed documents to Elasticsearch or OpenSearch with
// the _bulk API, so that analysts can query them.
//
// Every document is sent with op_type create under a deterministic _id (a hash of
// Document.ID, the event's identity or else its stream position), so neither a
// replayed batch nor an event its shipper sent twice duplicates: the engine answers 409
// for a document it already holds, which counts as success. Items the engine throttles (429) or fails (5xx) are retried alone, with
// capped exponential backoff and full jitter; items it refuses for good (mapping errors
// and other 4xx) go to a dead-letter destination with the reason. Write returns nil
// only once every document is indexed or dead-lettered, so the consumer's checkpoint
// holds while the engine is down.
//
// Documents go to the data stream logs-<type>-<namespace> (the default) or to daily
// indices <prefix>-<type>-YYYY.MM.DD; New installs the matching index template and the
// lifecycle that rolls them over and deletes them after the retention: the engine's
// policy (ILM or ISM), or sluice's own sweeper (RunLifecycle) where the engine has none.
package search

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/sluice-siem/sluice/internal/background"
	"github.com/sluice-siem/sluice/internal/chunks"
	"github.com/sluice-siem/sluice/internal/instruments"
	"github.com/sluice-siem/sluice/internal/jsonx"
	"github.com/sluice-siem/sluice/internal/retry"
	"github.com/sluice-siem/sluice/sink"
	"github.com/sluice-siem/sluice/sink/deadletter"
)

// DeadLetterType is the document type of dead letters: the transformer's records that
// could not be decoded (which the sink passes straight to DeadLetters) and the
// documents the engine refused.
const DeadLetterType = "_dead_letter"

// DeadLetters is where the sink sends documents the engine refuses for good. Write
// must return nil only once the documents are durably stored: the Kinesis dead-letter
// stream (sink/deadletter) in production, the file sink in `sluice dev`.
type DeadLetters interface {
	Write(ctx context.Context, docs []sink.Document) error
}

// Options holds the sink's optional dependencies, except DeadLetters, which is
// required.
type Options struct {
	// DeadLetters receives refused documents; required.
	DeadLetters DeadLetters
	// Logger receives a warning per dead-lettered batch and per retry round. Nil
	// discards logs.
	Logger *slog.Logger
	// Meter creates the sink's instruments. Nil means a no-op meter.
	Meter metric.Meter
	// Now is the clock of dead letters and of the retention sweeper. Nil means
	// time.Now.
	Now func() time.Time
}

// Sink writes documents to a search engine. It is safe for concurrent use; the number
// of _bulk requests in flight across all Write calls is bounded by Config.Workers.
type Sink struct {
	cfg   Config
	eng   engine
	close func() error
	dead  DeadLetters
	log   *slog.Logger
	now   func() time.Time
	// sem holds one token per _bulk request in flight.
	sem chan struct{}
	// batch gathers concurrent Writes into shared requests (Config.FlushInterval > 0).
	batch *batcher

	indexed, conflicts, retried, deadLettered metric.Int64Counter
	latency                                   metric.Float64Histogram

	// lifecycle is the effective lifecycle (Lifecycle), set by New.
	lifecycle                               string
	rolledOver, indicesDeleted, sweepErrors metric.Int64Counter
	// stop is closed by Close to end RunLifecycle; running counts RunLifecycle calls,
	// which Close waits for. stopMu orders them against Close.
	stop    chan struct{}
	stopMu  sync.Mutex
	stopped bool
	running sync.WaitGroup
	// sweeper runs RunLifecycle between Start and Shutdown.
	sweeper background.Work

	closeOnce sync.Once // Close's work is done once
	closeErr  error     // and its result returned to every call
}

// New validates cfg, connects a client of cfg.Engine, sets up the lifecycle of
// cfg.Lifecycle (installing the engine's ILM or ISM policy, or choosing sluice's
// sweeper, which RunLifecycle runs) and, with cfg.Template, installs the index
// template. Policy and template are read first and written only when they differ, so
// starting again changes nothing. It fails if the engine cannot be reached, so that a
// wrong address fails the start.
func New(ctx context.Context, cfg Config, opts Options) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("search sink config: %w", err)
	}
	if opts.DeadLetters == nil {
		return nil, errors.New("search sink: dead letters destination is nil")
	}
	eng, err := newEngine(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &Sink{cfg: cfg, eng: eng, close: sync.OnceValue(eng.close), dead: opts.DeadLetters, log: opts.Logger, now: opts.Now,
		sem: make(chan struct{}, cfg.Workers), stop: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if cfg.FlushInterval > 0 {
		s.batch = &batcher{s: s, interval: cfg.FlushInterval}
	}
	if err := s.instruments(opts.Meter); err != nil {
		_ = eng.close()
		return nil, err
	}
	if err := s.setupLifecycle(ctx); err != nil {
		_ = eng.close()
		return nil, err
	}
	if cfg.Template {
		if err := s.installTemplate(ctx); err != nil {
			_ = eng.close()
			return nil, err
		}
	}
	return s, nil
}

// Close ends RunLifecycle, waits for the _bulk requests in flight and releases the
// client. Write must not be called after Close. A second call returns what the first
// did.
func (s *Sink) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.closeFirst() })
	return s.closeErr
}

// closeFirst is Close's work, done once.
func (s *Sink) closeFirst() error {
	s.stopMu.Lock()
	if !s.stopped {
		s.stopped = true
		close(s.stop)
	}
	s.stopMu.Unlock()
	s.running.Wait()
	if s.batch != nil {
		s.batch.close()
	}
	if err := s.close(); err != nil {
		return fmt.Errorf("close search client: %w", err)
	}
	return nil
}

// instruments creates the sink's and its sweeper's instruments.
func (s *Sink) instruments(meter metric.Meter) error {
	in := instruments.New(meter, "github.com/sluice-siem/sluice/sink/search")
	s.indexed = in.Counter("sluice_search_documents_indexed_total", "{document}", "Documents the search engine created.")
	s.conflicts = in.Counter("sluice_search_conflicts_total", "{document}", "Documents the engine already held (409 on create): duplicates avoided.")
	s.retried = in.Counter("sluice_search_retried_total", "{document}", "Document sends retried after a 429, a 5xx or a failed request.")
	s.deadLettered = in.Counter("sluice_search_dead_lettered_total", "{document}", "Documents refused by the engine and written as dead letters.")
	s.latency = in.Histogram("sluice_search_bulk_duration_seconds", "s", "Duration of _bulk requests.")
	s.rolledOver = in.Counter("sluice_search_lifecycle_rollovers_total", "{rollover}", "Data streams the retention sweeper rolled over.")
	s.indicesDeleted = in.Counter("sluice_search_lifecycle_deleted_indices_total", "{index}",
		"Indices the retention sweeper deleted as older than the retention (one deleted by two tasks at the same instant counts twice).")
	s.sweepErrors = in.Counter("sluice_search_lifecycle_sweep_errors_total", "{error}",
		"Requests of the retention sweeper that failed (rollover, listing or deletion).")
	return in.Err("search sink")
}

// item is one document on its way to the engine.
type item struct {
	doc   *sink.Document
	index string
	// line is the action line and the source, each ending in a newline.
	line []byte
}

// outcome kinds of one item after a send.
type outcome uint8

const (
	outDone outcome = iota
	outRetry
	outDead
)

// result is what became of one item in one send.
type result struct {
	out     outcome
	status  int
	errType string
	reason  string
}

// Write indexes docs and returns nil once every document is in the engine (created,
// or already there) or written to the dead-letter destination. Documents of type
// DeadLetterType go to the dead-letter destination directly. Throttled and failed
// items are retried alone until ctx ends; Write then returns an error and the caller
// must deliver the batch again (documents already created answer 409 next time). Write
// does not keep docs after it returns.
func (s *Sink) Write(ctx context.Context, docs []sink.Document) error {
	_, err := s.WriteStats(ctx, docs)
	return err
}

// Stats counts what became of the documents of one WriteStats call.
type Stats struct {
	// Indexed documents were created by the engine.
	Indexed int
	// Conflicts were already in the engine (409 on create): duplicates avoided.
	Conflicts int
	// DeadLettered documents were refused for good (or were dead letters already) and
	// written to the dead-letter destination.
	DeadLettered int
}

// WriteStats is Write, and also says how many documents were indexed, already present
// or dead-lettered, for callers that report them (`sluice replay`). The counts are
// valid when the error is nil.
func (s *Sink) WriteStats(ctx context.Context, docs []sink.Document) (Stats, error) {
	var st Stats
	var dead []sink.Document
	items := make([]item, 0, len(docs))
	// The items' lines live until this call returns (the batcher and sendAll copy them
	// into request bodies): they share pooled chunks, given back then.
	enc := encoder{s: s}
	defer enc.lines.Release()
	for i := range docs {
		d := &docs[i]
		if d.Type == DeadLetterType {
			dead = append(dead, *d)
			continue
		}
		it, err := enc.encode(d)
		if err != nil {
			dead = append(dead, s.deadLetter(it, result{out: outDead, errType: "invalid_document", reason: err.Error()}))
			continue
		}
		items = append(items, it)
	}
	pending := make([]int, len(items))
	for i := range pending {
		pending[i] = i
	}
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt > 0 {
			if err := s.wait(ctx, attempt); err != nil {
				return st, fmt.Errorf("index %d documents, %d not yet indexed: %w", len(docs), len(pending), err)
			}
		}
		var results []result
		if s.batch != nil {
			results = s.batch.submit(ctx, items, pending)
		} else {
			results = s.sendAll(ctx, items, pending)
		}
		var next []int
		var lastErr string
		for j, i := range pending {
			r := results[j]
			switch r.out {
			case outDone:
				if r.status == http.StatusConflict {
					st.Conflicts++
				} else {
					st.Indexed++
				}
			case outRetry:
				next = append(next, i)
				lastErr = fmt.Sprintf("status %d %s: %s", r.status, r.errType, r.reason)
			case outDead:
				dead = append(dead, s.deadLetter(items[i], r))
			}
		}
		if len(next) > 0 {
			s.retried.Add(ctx, int64(len(next)))
			s.log.WarnContext(ctx, "retrying documents", "count", len(next), "attempt", attempt+1, "last_error", lastErr)
		}
		pending = next
	}
	if len(dead) > 0 {
		if err := s.dead.Write(ctx, dead); err != nil {
			return st, fmt.Errorf("write %d dead letters: %w", len(dead), err)
		}
		s.deadLettered.Add(ctx, int64(len(dead)))
		s.log.WarnContext(ctx, "documents sent to dead letters", "count", len(dead))
		st.DeadLettered = len(dead)
	}
	return st, nil
}

// wait sleeps before retry round attempt (1, 2, ...): a random duration up to
// min(RetryMax, RetryBase * 2^(attempt-1)) (full jitter), or until ctx ends.
func (s *Sink) wait(ctx context.Context, attempt int) error {
	if !retry.Sleep(ctx, retry.Full(retry.Ceiling(s.cfg.RetryBase, s.cfg.RetryMax, attempt-1))) {
		return ctx.Err()
	}
	return nil
}

// sendAll sends the pending items in _bulk requests of at most BulkMaxDocs documents
// and BulkMaxBytes bytes (a larger document goes alone), at most Workers at a time
// across the sink, and returns each pending item's result.
func (s *Sink) sendAll(ctx context.Context, items []item, pending []int) []result {
	results := make([]result, len(pending))
	var wg sync.WaitGroup
	start := 0
	for start < len(pending) {
		end, size := start, 0
		for end < len(pending) && end-start < s.cfg.BulkMaxDocs {
			n := len(items[pending[end]].line)
			if end > start && size+n > int(s.cfg.BulkMaxBytes) {
				break
			}
			size += n
			end++
		}
		chunk, res := pending[start:end], results[start:end]
		start = end
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			for k := range res {
				res[k] = result{out: outRetry, reason: ctx.Err().Error()}
			}
			continue
		}
		wg.Go(func() {
			defer func() { <-s.sem }()
			body := make([]byte, 0, size)
			for _, i := range chunk {
				body = append(body, items[i].line...)
			}
			s.send(ctx, body, res)
		})
	}
	wg.Wait()
	return results
}

// send sends one _bulk request of len(res) items and fills res.
func (s *Sink) send(ctx context.Context, body []byte, res []result) {
	rctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	began := time.Now()
	answers, err := s.eng.Bulk(rctx, body)
	s.latency.Record(ctx, time.Since(began).Seconds())
	if err == nil && len(answers) != len(res) {
		err = &requestError{Status: http.StatusOK, Err: fmt.Errorf("answer has %d items for %d documents", len(answers), len(res))}
	}
	if err != nil {
		var re *requestError
		r := result{out: outRetry, reason: err.Error()}
		if errors.As(err, &re) {
			r.status = re.Status
			// A request refused as a whole for a reason that retrying cannot fix (400,
			// 413) dead-letters its documents; an authentication or authorization
			// failure (401, 403) or a missing endpoint (404) is the deployment's to fix,
			// so the documents wait for it.
			if !re.retryable() && re.Status != http.StatusUnauthorized && re.Status != http.StatusForbidden && re.Status != http.StatusNotFound {
				r.out, r.errType = outDead, "bulk_request_rejected"
			}
		}
		for k := range res {
			res[k] = r
		}
		return
	}
	var created, conflicts int64
	for k, a := range answers {
		r := result{status: a.Status, errType: a.ErrType, reason: a.Reason}
		switch {
		case a.Status >= 200 && a.Status < 300:
			r.out = outDone
			created++
		case a.Status == http.StatusConflict:
			r.out = outDone
			conflicts++
		case a.Status == http.StatusTooManyRequests || a.Status >= 500:
			r.out = outRetry
		default:
			r.out = outDead
		}
		res[k] = r
	}
	s.indexed.Add(ctx, created)
	s.conflicts.Add(ctx, conflicts)
}

// encoder makes the items of one Write: their lines in an arena, and the index names
// of a run of documents of one log type (and day) worked out once.
type encoder struct {
	s     *Sink
	lines chunks.Arena
	// The last document's type and day (Unix days; the daily layout only), and its
	// index's name and JSON string (nil before the first document).
	typ       string
	day       int64
	index     string
	indexJSON []byte
}

// encode makes the item of d: its index, id and bulk lines. It refuses a body that is
// not one line holding a JSON object, which the engine would misread.
func (e *encoder) encode(d *sink.Document) (item, error) {
	it := item{doc: d, index: e.indexOf(d)}
	if len(d.Body) == 0 || d.Body[0] != '{' {
		return it, errors.New("body is not a JSON object")
	}
	if bytes.IndexByte(d.Body, '\n') >= 0 {
		return it, errors.New("body contains a newline")
	}
	line := e.lines.Next(len(d.Body) + len(e.indexJSON) + documentIDLen + 40)
	line = append(line, `{"create":{"_index":`...)
	line = append(line, e.indexJSON...)
	line = append(line, `,"_id":"`...)
	line = appendDocumentID(line, d)
	line = append(line, "\"}}\n"...)
	line = append(line, d.Body...)
	line = append(line, '\n')
	it.line = e.lines.Keep(line)
	return it, nil
}

// indexOf returns the index of d, and leaves its JSON string in e.indexJSON.
func (e *encoder) indexOf(d *sink.Document) string {
	var day int64
	if e.s.cfg.Layout == LayoutDaily {
		t := d.Time
		if t.IsZero() {
			t = e.s.now()
		}
		day = t.Unix() / 86400
		if t.Unix() < 0 && t.Unix()%86400 != 0 {
			day-- // floor: days before 1970 as the calendar has them
		}
	}
	if e.indexJSON == nil || d.Type != e.typ || day != e.day {
		e.index = e.s.IndexName(d.Type, d.Time)
		e.indexJSON, _ = json.Marshal(e.index) // a string always encodes
		e.typ, e.day = d.Type, day
	}
	return e.index
}

// IndexName is the data stream or daily index of documents of log type typ at time t.
func (s *Sink) IndexName(typ string, t time.Time) string {
	if s.cfg.Layout == LayoutDaily {
		if t.IsZero() {
			t = s.now()
		}
		return s.cfg.IndexPrefix + "-" + typ + "-" + t.UTC().Format("2006.01.02")
	}
	return "logs-" + typ + "-" + s.cfg.Namespace
}

// DocumentID is the engine's _id of d: the first 128 bits of the SHA-256 of d.ID in
// unpadded base64url (22 characters). A document without an ID gets the hash of its
// type and body instead, so that resending the same event in `sluice dev` or through
// HTTP still creates it once.
func DocumentID(d *sink.Document) string {
	return string(appendDocumentID(nil, d))
}

// documentIDLen is the length of DocumentID's ids.
const documentIDLen = 22

// appendDocumentID appends DocumentID(d) to dst.
func appendDocumentID(dst []byte, d *sink.Document) []byte {
	var sum [sha256.Size]byte
	if d.ID != "" {
		sum = sha256.Sum256([]byte(d.ID))
	} else {
		h := sha256.New()
		h.Write([]byte(d.Type))
		h.Write([]byte{0})
		h.Write(d.Body)
		h.Sum(sum[:0])
	}
	return base64.RawURLEncoding.AppendEncode(dst, sum[:16])
}

// deadLetter makes the dead-letter document of it, refused with r (deadletter.Body):
// the document whole and the record it was made from, so that it can be repaired and
// indexed again with `sluice replay`.
func (s *Sink) deadLetter(it item, r result) sink.Document {
	d := it.doc
	now := s.now().UTC()
	b := deadletter.Body{Timestamp: now.Format(time.RFC3339Nano), LogType: d.Type, Index: it.index, ID: d.ID, Status: r.status,
		Error: deadletter.Error{Type: r.errType, Reason: r.reason}, Position: deadletter.ParsePosition(cmp.Or(d.Position, d.ID))}
	// Embedded as JSON where they are one line of it (jsonx, the validator every
	// input of sluice goes through), as text otherwise.
	valid := jsonx.NewScanner(jsonx.MaxDepth)
	if valid.OK(d.Body) && bytes.IndexByte(d.Body, '\n') < 0 {
		b.Event = d.Body
	} else {
		b.EventText = string(d.Body)
	}
	if !d.Time.IsZero() {
		b.Time = d.Time.UTC().Format(time.RFC3339Nano)
	}
	if len(d.Original) > 0 {
		if valid.OK(d.Original) && bytes.IndexByte(d.Original, '\n') < 0 {
			b.Original = d.Original
		} else {
			b.OriginalText = string(d.Original)
		}
	}
	body, err := json.Marshal(b)
	if err != nil { // only strings and valid JSON: cannot happen, but never panic
		body = []byte(`{"error":{"type":"encode_dead_letter"}}`)
	}
	return sink.Document{Type: DeadLetterType, Time: now, ID: d.ID, Body: body}
}
