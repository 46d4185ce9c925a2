// Package replay is the engine of `sluice replay`: it takes the dead letters a reader
// visits (deadletter.ReadFiles, deadletter.ReadStream), keeps those the filters match,
// makes each into a document again, under the id of its first attempt so that
// replaying twice never duplicates, and indexes them in batches, counting what became
// of every one. The document is the stored one, or, with a Transform, the original
// event run through its log type's current pipeline. Where the letters come from and
// where the documents go are the caller's (cmd/sluice wires both).
package replay

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-siem/sluice/sink"
	"github.com/sluice-siem/sluice/sink/deadletter"
	"github.com/sluice-siem/sluice/sink/search"
	"github.com/sluice-siem/sluice/stream"
)

// DefaultBatch is how many documents a replay hands the indexer at once.
const DefaultBatch = 500

// Indexer writes documents and says what became of them: the search sink.
type Indexer interface {
	WriteStats(ctx context.Context, docs []sink.Document) (search.Stats, error)
}

// Transform runs the original event rec (placed at the stream position its dead
// letter's id names) through the current pipeline of its log type and returns the
// document, or ok false when the pipeline drops the event.
type Transform func(ctx context.Context, rec stream.Delivered) (doc sink.Document, ok bool, err error)

// Options say which dead letters a replay takes and what it does with them.
type Options struct {
	// Types and ErrorTypes keep only dead letters of these log types and error types
	// (such as mapper_parsing_exception); empty keeps all.
	Types, ErrorTypes []string
	// Limit replays at most this many dead letters; 0 replays all.
	Limit int
	// Start is when the replay began: dead letters it refused again are marked with
	// it and are not read back.
	Start time.Time
	// Transform, when set, makes each document from the original event (--pipeline);
	// otherwise the stored document is indexed again.
	Transform Transform
	// Index writes the documents; nil is a dry run, which counts what would be
	// indexed.
	Index Indexer
	// Batch is how many documents are indexed at once (default DefaultBatch).
	Batch int
	// Logger receives the dead letters that cannot be replayed; nil discards.
	Logger *slog.Logger
	// Progress is called with the counts as the replay goes, at most once a second
	// (the caller reports the final counts); nil reports nothing.
	Progress func(Counts)
}

// Counts is what a replay did.
type Counts struct {
	// Read dead letters; Matched by the filters.
	Read, Matched int
	// Indexed documents; Conflicts were already present (the replay of an earlier
	// replay); Refused again by the engine, and written as dead letters again.
	Indexed, Conflicts, Refused int
	// Dropped by the pipeline (Transform); Skipped for lack of what the mode needs
	// (no stored document, no original event, an invalid log type); Unreadable
	// letters that did not parse.
	Dropped, Skipped, Unreadable int
	// WouldIndex is what a dry run would have indexed.
	WouldIndex int
}

func (c Counts) String() string {
	return fmt.Sprintf("read %d, matched %d, indexed %d, conflicts (already present) %d, refused again %d, dropped by pipeline %d, skipped %d, unreadable %d",
		c.Read, c.Matched, c.Indexed, c.Conflicts, c.Refused, c.Dropped, c.Skipped, c.Unreadable)
}

// Failed reports whether anything matched was not replayed: refused again, skipped or
// unreadable.
func (c Counts) Failed() bool { return c.Refused > 0 || c.Skipped > 0 || c.Unreadable > 0 }

// Replay is one replay: Visit takes the dead letters, Flush indexes what is queued.
// It is used by one goroutine.
type Replay struct {
	opts         Options
	log          *slog.Logger
	pending      []sink.Document
	counts       Counts
	lastProgress time.Time
}

// New returns a replay with opts.
func New(opts Options) *Replay {
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Replay{opts: opts, log: log}
}

// Counts returns what the replay did so far.
func (r *Replay) Counts() Counts { return r.counts }

// Visitor returns the deadletter.Visit the readers call with each dead letter; it
// stops the reading (deadletter.ErrStop) at the limit.
func (r *Replay) Visitor(ctx context.Context) deadletter.Visit {
	return func(l deadletter.Letter, err error) error {
		r.counts.Read++
		if err != nil {
			r.counts.Unreadable++
			r.log.Warn("unreadable dead letter", "source", l.Source, "err", err)
			return nil
		}
		if !l.ReplayedAt.IsZero() && !l.ReplayedAt.Before(r.opts.Start) {
			return nil // refused again by this very replay
		}
		if len(r.opts.Types) > 0 && !slices.Contains(r.opts.Types, l.LogType) ||
			len(r.opts.ErrorTypes) > 0 && !slices.Contains(r.opts.ErrorTypes, l.ErrorType) {
			return nil
		}
		if r.opts.Limit > 0 && r.counts.Matched >= r.opts.Limit {
			return deadletter.ErrStop
		}
		r.counts.Matched++
		if err := r.add(ctx, &l); err != nil {
			return err
		}
		r.progress()
		return nil
	}
}

// add makes the document of l and queues it, indexing a full batch.
func (r *Replay) add(ctx context.Context, l *deadletter.Letter) error {
	var doc sink.Document
	if r.opts.Transform != nil {
		if len(l.Original) == 0 {
			r.counts.Skipped++
			r.log.Warn("dead letter has no original event to run through the pipeline", "source", l.Source, "id", l.ID)
			return nil
		}
		d, ok, err := r.opts.Transform(ctx, Position(l))
		if err != nil {
			return fmt.Errorf("transform %s: %w", l.Source, err)
		}
		if !ok {
			r.counts.Dropped++
			return nil
		}
		doc = d
		doc.Original = l.Original
	} else {
		if l.Document == nil {
			r.counts.Skipped++
			r.log.Warn("dead letter has no document (the transformer could not make one): replay it with --pipeline", "source", l.Source, "id", l.ID)
			return nil
		}
		t := l.Time
		if t.IsZero() {
			t = l.At
		}
		doc = sink.Document{Type: l.LogType, Time: t, Body: l.Document, Original: l.Original}
		if !stream.ValidType(doc.Type) {
			r.counts.Skipped++
			r.log.Warn("dead letter has an invalid log type", "source", l.Source, "log_type", l.LogType)
			return nil
		}
	}
	// The id of the first attempt, so that replaying again never duplicates.
	doc.ID = l.ReplayID()
	if r.opts.Index == nil {
		if doc.Type == deadletter.Type {
			r.counts.Refused++ // the pipeline would dead-letter it again
		} else {
			r.counts.WouldIndex++
		}
		return nil
	}
	r.pending = append(r.pending, doc)
	if len(r.pending) >= r.opts.Batch {
		return r.Flush(ctx)
	}
	return nil
}

// Position is the original event of l as a stream record at the position its replay
// id names (stream/shard/sequence[/sub-sequence]), so that a dead letter the
// transformer makes of it again keeps the id; an id of another shape becomes the
// stream name.
func Position(l *deadletter.Letter) stream.Delivered {
	rec := stream.Delivered{Record: stream.Record{Data: l.Original}}
	parts := strings.SplitN(l.ReplayID(), "/", 4)
	switch len(parts) {
	case 3, 4:
		rec.Stream, rec.Shard, rec.Sequence = parts[0], parts[1], parts[2]
		if len(parts) == 4 {
			if n, err := strconv.Atoi(parts[3]); err == nil {
				rec.SubSequence, rec.Aggregated = n, true
			}
		}
	default:
		rec.Stream = l.ReplayID()
	}
	return rec
}

// Flush indexes the queued documents.
func (r *Replay) Flush(ctx context.Context) error {
	if len(r.pending) == 0 || r.opts.Index == nil {
		return nil
	}
	st, err := r.opts.Index.WriteStats(ctx, r.pending)
	if err != nil {
		return fmt.Errorf("index %d documents: %w", len(r.pending), err)
	}
	r.counts.Indexed += st.Indexed
	r.counts.Conflicts += st.Conflicts
	r.counts.Refused += st.DeadLettered
	r.pending = r.pending[:0]
	r.progress()
	return nil
}

// progress reports the counts, at most once a second.
func (r *Replay) progress() {
	if r.opts.Progress == nil || time.Since(r.lastProgress) < time.Second {
		return
	}
	r.lastProgress = time.Now()
	r.opts.Progress(r.counts)
}
