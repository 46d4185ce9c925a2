package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-siem/sluice/config"
	"github.com/sluice-siem/sluice/sink"
	"github.com/sluice-siem/sluice/sink/deadletter"
	"github.com/sluice-siem/sluice/sink/file"
	"github.com/sluice-siem/sluice/sink/search"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/kinesis"
	"github.com/sluice-siem/sluice/transform"
	"github.com/sluice-siem/sluice/transform/enrich"
	"github.com/sluice-siem/sluice/transform/pipeline"
)

// replayBatch is how many documents a replay hands the search sink at once.
const replayBatch = 500

// replayFlags are the flags of `sluice replay`.
type replayFlags struct {
	configPath string
	role       string
	from       string
	types      string
	errorTypes string
	since      string
	until      string
	limit      int
	pipeline   bool
	dryRun     bool
}

// replayCounts is what a replay did, printed as its progress and summary.
type replayCounts struct {
	read, matched, indexed, conflicts, refused, dropped, skipped, unreadable int
}

func (c replayCounts) String() string {
	return fmt.Sprintf("read %d, matched %d, indexed %d, conflicts (already present) %d, refused again %d, dropped by pipeline %d, skipped %d, unreadable %d",
		c.read, c.matched, c.indexed, c.conflicts, c.refused, c.dropped, c.skipped, c.unreadable)
}

// replay is `sluice replay`: it reads the dead letters present when it starts (from
// the Kinesis dead-letter stream or a file sink directory), keeps those the filters
// match, and indexes them again under their own ids, so that replaying twice never
// duplicates: the stored document by default, or with --pipeline the original event
// run through its log type's current pipeline. Documents the engine refuses again
// are written to the dead-letter destination again, marked as replayed (so a replay
// never reads its own), and the exit status is 1.
func replay(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) (string, bool)) int {
	fs := flag.NewFlagSet("sluice replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f replayFlags
	fs.StringVar(&f.configPath, "c", "", "configuration `file` (YAML): the search sink, the dead-letter destination, the pipelines")
	fs.StringVar(&f.configPath, "config", "", "same as -c")
	fs.StringVar(&f.role, "role", string(config.RoleTransform), "`role` whose defaults the configuration starts from: transform or dev")
	fs.StringVar(&f.from, "from", "", "where to read dead letters: kinesis:`STREAM` or file:DIR (a file sink directory); default: sink.dead_letters")
	fs.StringVar(&f.types, "type", "", "replay only these log `types` (comma-separated)")
	fs.StringVar(&f.errorTypes, "error-type", "", "replay only these error `types` (comma-separated), e.g. mapper_parsing_exception, transform_failed")
	fs.StringVar(&f.since, "since", "", "replay only dead letters written at or after `TIME` (RFC 3339, or a duration ago such as 24h)")
	fs.StringVar(&f.until, "until", "", "replay only dead letters written at or before `TIME` (RFC 3339, or a duration ago)")
	fs.IntVar(&f.limit, "limit", 0, "replay at most `N` dead letters (0: all)")
	fs.BoolVar(&f.pipeline, "pipeline", false, "run the original event through its log type's current pipeline instead of re-indexing the stored document")
	fs.BoolVar(&f.dryRun, "dry-run", false, "read, filter and transform, but write nothing")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sluice replay [-c FILE] [--from kinesis:STREAM|file:DIR] [--type T] [--error-type E] [--since TIME] [--until TIME] [--limit N] [--pipeline] [--dry-run]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sluice replay: unexpected arguments %q\n", fs.Args())
		return 2
	}
	now := time.Now()
	var opts deadletter.ReadOptions
	var err error
	if opts.Since, err = parseWhen(f.since, now); err != nil {
		fmt.Fprintf(stderr, "sluice replay: --since: %v\n", err)
		return 2
	}
	if opts.Until, err = parseWhen(f.until, now); err != nil {
		fmt.Fprintf(stderr, "sluice replay: --until: %v\n", err)
		return 2
	}
	if opts.Until.IsZero() || opts.Until.After(now) {
		// Nothing written after the start is read: not what this replay refuses again,
		// not what keeps arriving.
		opts.Until = now
	}
	if !opts.Since.IsZero() && opts.Since.After(opts.Until) {
		fmt.Fprintln(stderr, "sluice replay: --since is after --until")
		return 2
	}
	if f.limit < 0 {
		fmt.Fprintf(stderr, "sluice replay: --limit must be 0 or more, not %d\n", f.limit)
		return 2
	}
	if f.from != "" {
		if _, _, err := replaySource(f.from, config.Config{}); err != nil {
			fmt.Fprintf(stderr, "sluice replay: --from: %v\n", err)
			return 2
		}
	}
	role := config.Role(f.role)
	if role != config.RoleTransform && role != config.RoleDev {
		fmt.Fprintf(stderr, "sluice replay: --role must be transform or dev, not %q\n", f.role)
		return 2
	}
	cfg, err := config.Load(role, f.configPath, env)
	if err == nil {
		err = cfg.Validate(role)
	}
	if err != nil {
		printProblems(stderr, "sluice replay: configuration", err)
		return 1
	}
	if cfg.Sink.EffectiveKind() != "search" {
		fmt.Fprintln(stderr, "sluice replay: dead letters are replayed into the search engine: set sink.search.addresses")
		return 1
	}
	kind, where, _ := replaySource(f.from, cfg) // --from is checked above
	log := newLogger(stderr, config.Log{Level: "warn", Format: "text"})
	r := &replayer{
		flags: f, cfg: cfg, log: log, stderr: stderr, start: now,
		types: splitList(f.types), errorTypes: splitList(f.errorTypes),
	}
	defer r.close()
	if err := r.open(ctx); err != nil {
		fmt.Fprintf(stderr, "sluice replay: %v\n", err)
		return 1
	}
	err = r.read(ctx, kind, where, opts)
	if err == nil {
		err = r.flush(ctx)
	}
	r.progress(true)
	if cerr := r.close(); err == nil {
		err = cerr
	}
	mode := "stored documents"
	if f.pipeline {
		mode = "current pipelines"
	}
	if f.dryRun {
		fmt.Fprintf(stdout, "sluice replay (dry run, %s) from %s:%s: %s; would index %d\n", mode, kind, where, r.counts, r.wouldIndex)
	} else {
		fmt.Fprintf(stdout, "sluice replay (%s) from %s:%s: %s\n", mode, kind, where, r.counts)
	}
	if err != nil {
		fmt.Fprintf(stderr, "sluice replay: %v\n", err)
		return 1
	}
	if r.counts.refused > 0 || r.counts.skipped > 0 || r.counts.unreadable > 0 {
		return 1
	}
	return 0
}

// replaySource is where a replay reads: --from, or the configured dead-letter
// destination.
func replaySource(from string, cfg config.Config) (kind, where string, err error) {
	if from == "" {
		if cfg.Sink.DeadLetters.Kind == "kinesis" {
			return "kinesis", cfg.Sink.DeadLetters.Stream, nil
		}
		return "file", cfg.Sink.File.Dir, nil
	}
	kind, where, ok := strings.Cut(from, ":")
	switch {
	case !ok || where == "":
		return "", "", fmt.Errorf("%q: want kinesis:STREAM or file:DIR", from)
	case kind == "kinesis":
		if !kinesis.ValidStreamName(where) {
			return "", "", fmt.Errorf("%q is not a Kinesis stream name", where)
		}
	case kind == "file":
	default:
		return "", "", fmt.Errorf("%q: unknown source %q, want kinesis:STREAM or file:DIR", from, kind)
	}
	return kind, where, nil
}

// parseWhen reads a time flag: RFC 3339, or a duration before now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-11-26T10:00:00Z) nor a positive duration ago (24h)", s)
	}
	return now.Add(-d), nil
}

func splitList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// replayer holds the parts of one replay.
type replayer struct {
	flags             replayFlags
	cfg               config.Config
	log               *slog.Logger
	stderr            io.Writer
	start             time.Time
	types, errorTypes []string

	// transformer runs the current pipelines (--pipeline); its documents land in
	// captured.
	transformer *transform.Transformer
	captured    captureSink
	resources   *enrich.Resources

	search   *search.Sink
	producer *kinesis.Producer
	files    *file.Sink
	reader   *kinesis.Reader

	pending      []sink.Document
	counts       replayCounts
	wouldIndex   int
	lastProgress time.Time
	closed       bool
}

// captureSink keeps what the transformer writes, bodies copied (the transformer may
// reuse their memory once Write returns).
type captureSink struct{ docs []sink.Document }

func (c *captureSink) Write(_ context.Context, docs []sink.Document) error {
	for _, d := range docs {
		d.Body = bytes.Clone(d.Body)
		c.docs = append(c.docs, d)
	}
	return nil
}

// replayDeadLetters writes the documents refused again to the dead-letter destination,
// each marked with the replay's start, so that this replay does not read them back.
type replayDeadLetters struct {
	dest search.DeadLetters
	at   time.Time
}

func (d *replayDeadLetters) Write(ctx context.Context, docs []sink.Document) error {
	marked := make([]sink.Document, len(docs))
	for i, doc := range docs {
		doc.Body = deadletter.MarkReplayed(doc.Body, d.at)
		marked[i] = doc
	}
	return d.dest.Write(ctx, marked)
}

// open builds the pipelines (--pipeline) and, unless it is a dry run, the search sink
// and the dead-letter destination.
func (r *replayer) open(ctx context.Context) error {
	cfg := r.cfg
	if r.flags.pipeline {
		var err error
		r.resources, err = enrich.NewResources(ctx, lookupsConfig(cfg), r.log.With("component", "enrich"), nil)
		if err != nil {
			return fmt.Errorf("open lookups: %w", err)
		}
		pipes, err := buildPipelines(cfg, pipeline.Deps{Logger: r.log.With("component", "pipeline"), Enrich: r.resources.Processor})
		if err != nil {
			return fmt.Errorf("build pipelines: %w", err)
		}
		r.transformer, err = transform.New(&r.captured, transform.Options{Logger: r.log.With("component", "transform"), Pipelines: pipes,
			MaxDepth: cfg.Limits.MaxDepth})
		if err != nil {
			return err
		}
	}
	if r.flags.dryRun {
		return nil
	}
	var dest search.DeadLetters
	switch cfg.Sink.DeadLetters.Kind {
	case "kinesis":
		var err error
		r.producer, err = kinesis.New(ctx, cfg.Stream.Kinesis, kinesis.Options{Logger: r.log.With("component", "kinesis")})
		if err != nil {
			return fmt.Errorf("create dead-letter producer: %w", err)
		}
		dest, err = deadletter.NewKinesis(r.producer, cfg.Sink.DeadLetters.Stream, deadletter.KinesisOptions{
			MaxRecordBytes: int(cfg.Stream.Kinesis.MaxRecordBytes), Logger: r.log,
		})
		if err != nil {
			return err
		}
	default:
		var err error
		r.files, err = file.New(file.Config{Dir: cfg.Sink.File.Dir, Fsync: cfg.Sink.File.Fsync, IDField: cfg.Sink.File.IDField})
		if err != nil {
			return fmt.Errorf("create file sink for dead letters: %w", err)
		}
		dest = r.files
	}
	var err error
	r.search, err = search.New(ctx, cfg.Sink.Search, search.Options{
		DeadLetters: &replayDeadLetters{dest: dest, at: r.start}, Logger: r.log.With("component", "search"),
	})
	if err != nil {
		return fmt.Errorf("create search sink: %w", err)
	}
	return nil
}

// close releases what open made, flushing the dead-letter producer. Calling it again
// does nothing.
func (r *replayer) close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	var errs []error
	if r.search != nil {
		errs = append(errs, r.search.Close())
	}
	if r.producer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Shutdown.Timeout)
		errs = append(errs, r.producer.Close(ctx))
		cancel()
	}
	if r.files != nil {
		errs = append(errs, r.files.Close())
	}
	if r.reader != nil {
		r.reader.Close()
	}
	if r.resources != nil {
		r.resources.Close()
	}
	return errors.Join(errs...)
}

// read reads the dead letters of the source and replays each that matches.
func (r *replayer) read(ctx context.Context, kind, where string, opts deadletter.ReadOptions) error {
	visit := func(l deadletter.Letter, err error) error {
		r.counts.read++
		if err != nil {
			r.counts.unreadable++
			r.log.Warn("unreadable dead letter", "source", l.Source, "err", err)
			return nil
		}
		if !l.ReplayedAt.IsZero() && !l.ReplayedAt.Before(r.start) {
			return nil // refused again by this very replay
		}
		if len(r.types) > 0 && !slices.Contains(r.types, l.LogType) ||
			len(r.errorTypes) > 0 && !slices.Contains(r.errorTypes, l.ErrorType) {
			return nil
		}
		if r.flags.limit > 0 && r.counts.matched >= r.flags.limit {
			return deadletter.ErrStop
		}
		r.counts.matched++
		if err := r.add(ctx, &l); err != nil {
			return err
		}
		r.progress(false)
		return nil
	}
	var err error
	if kind == "kinesis" {
		r.reader, err = kinesis.NewReader(ctx, r.cfg.Stream.Kinesis, kinesis.Options{Logger: r.log.With("component", "kinesis")})
		if err != nil {
			return fmt.Errorf("create kinesis reader: %w", err)
		}
		err = deadletter.ReadStream(ctx, r.reader, where, opts, visit)
	} else {
		err = deadletter.ReadFiles(ctx, where, opts, visit)
	}
	return err
}

// add makes the document of l and queues it, flushing a full batch.
func (r *replayer) add(ctx context.Context, l *deadletter.Letter) error {
	var doc sink.Document
	switch {
	case r.flags.pipeline:
		if len(l.Original) == 0 {
			r.counts.skipped++
			r.log.Warn("dead letter has no original event to run through the pipeline", "source", l.Source, "id", l.ID)
			return nil
		}
		// The record's position is the one its id names, so that a dead letter the
		// transformer makes of it again keeps the id.
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
		r.captured.docs = r.captured.docs[:0]
		if err := r.transformer.Handle(ctx, stream.Batch{Stream: rec.Stream, Shard: rec.Shard, Records: []stream.Delivered{rec}}); err != nil {
			return fmt.Errorf("transform %s: %w", l.Source, err)
		}
		if len(r.captured.docs) == 0 {
			r.counts.dropped++
			return nil
		}
		doc = r.captured.docs[0]
		doc.Original = l.Original
	default:
		if l.Document == nil {
			r.counts.skipped++
			r.log.Warn("dead letter has no document (the transformer could not make one): replay it with --pipeline", "source", l.Source, "id", l.ID)
			return nil
		}
		t := l.Time
		if t.IsZero() {
			t = l.At
		}
		doc = sink.Document{Type: l.LogType, Time: t, Body: l.Document, Original: l.Original}
		if !stream.ValidType(doc.Type) {
			r.counts.skipped++
			r.log.Warn("dead letter has an invalid log type", "source", l.Source, "log_type", l.LogType)
			return nil
		}
	}
	// The id of the first attempt, so that replaying again never duplicates.
	doc.ID = l.ReplayID()
	if r.flags.dryRun {
		if doc.Type == deadletter.Type {
			r.counts.refused++
		} else {
			r.wouldIndex++
		}
		return nil
	}
	r.pending = append(r.pending, doc)
	if len(r.pending) >= replayBatch {
		return r.flush(ctx)
	}
	return nil
}

// flush indexes the queued documents.
func (r *replayer) flush(ctx context.Context) error {
	if len(r.pending) == 0 || r.search == nil {
		return nil
	}
	st, err := r.search.WriteStats(ctx, r.pending)
	if err != nil {
		return fmt.Errorf("index %d documents: %w", len(r.pending), err)
	}
	r.counts.indexed += st.Indexed
	r.counts.conflicts += st.Conflicts
	r.counts.refused += st.DeadLettered
	r.pending = r.pending[:0]
	r.progress(false)
	return nil
}

// progress prints the counts on stderr, at most once a second unless force.
func (r *replayer) progress(force bool) {
	if !force && time.Since(r.lastProgress) < time.Second {
		return
	}
	r.lastProgress = time.Now()
	fmt.Fprintf(r.stderr, "replay: %s\n", r.counts)
}
