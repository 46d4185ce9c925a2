package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/sluice-siem/sluice/config"
	"github.com/sluice-siem/sluice/sink"
	"github.com/sluice-siem/sluice/sink/archive"
	"github.com/sluice-siem/sluice/sink/deadletter"
	dlreplay "github.com/sluice-siem/sluice/sink/deadletter/replay"
	"github.com/sluice-siem/sluice/sink/file"
	"github.com/sluice-siem/sluice/sink/search"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/kinesis"
	"github.com/sluice-siem/sluice/transform"
	"github.com/sluice-siem/sluice/transform/enrich"
)

// replayFlags are the flags of `sluice replay`.
type replayFlags struct {
	configPath string
	role       string
	from       string
	archive    string
	types      string
	errorTypes string
	since      string
	until      string
	limit      int
	pipeline   bool
	dryRun     bool
}

// replay is `sluice replay`: it reads the dead letters present when it starts (from
// the Kinesis dead-letter stream or a file sink directory), keeps those the filters
// match, and indexes them again under their own ids, so that replaying twice never
// duplicates: the stored document by default, or with --pipeline the original event
// run through its log type's current pipeline. Documents the engine refuses again
// are written to the dead-letter destination again, marked as replayed (so a replay
// never reads its own), and the exit status is 1.
//
// With --from-archive it reads the raw events of the S3 archive (sink.archive)
// received in a time range instead, runs each through its log type's current
// pipeline and indexes it under the id it had (its identity, or its stream
// position), so that re-indexing a range already indexed duplicates nothing.
func replay(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) (string, bool)) int {
	fs := flag.NewFlagSet("sluice replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f replayFlags
	fs.StringVar(&f.configPath, "c", "", "configuration `file` (YAML): the search sink, the dead-letter destination, the pipelines")
	fs.StringVar(&f.configPath, "config", "", "same as -c")
	fs.StringVar(&f.role, "role", string(config.RoleTransform), "`role` whose defaults the configuration starts from: transform or dev")
	fs.StringVar(&f.from, "from", "", "where to read dead letters: kinesis:`STREAM` or file:DIR (a file sink directory); default: sink.dead_letters")
	fs.StringVar(&f.archive, "from-archive", "", "re-index archived raw events instead of dead letters: s3://`BUCKET[/PREFIX]` (sink.archive's bucket and prefix; its region, endpoint and credentials apply); needs --since, implies --pipeline")
	fs.StringVar(&f.types, "type", "", "replay only these log `types` (comma-separated)")
	fs.StringVar(&f.errorTypes, "error-type", "", "replay only these error `types` (comma-separated), e.g. mapper_parsing_exception, transform_failed")
	fs.StringVar(&f.since, "since", "", "replay only dead letters written (archived events received) at or after `TIME` (RFC 3339, or a duration ago such as 24h)")
	fs.StringVar(&f.until, "until", "", "replay only dead letters written (archived events received) at or before `TIME` (RFC 3339, or a duration ago)")
	fs.IntVar(&f.limit, "limit", 0, "replay at most `N` dead letters (0: all)")
	fs.BoolVar(&f.pipeline, "pipeline", false, "run the original event through its log type's current pipeline instead of re-indexing the stored document")
	fs.BoolVar(&f.dryRun, "dry-run", false, "read, filter and transform, but write nothing")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sluice replay [-c FILE] [--from kinesis:STREAM|file:DIR] [--type T] [--error-type E] [--since TIME] [--until TIME] [--limit N] [--pipeline] [--dry-run]")
		fmt.Fprintln(stderr, "       sluice replay [-c FILE] --from-archive s3://BUCKET[/PREFIX] --since TIME [--until TIME] [--type T] [--limit N] [--dry-run]")
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
	if f.archive != "" {
		if msg := archiveFlagProblem(f); msg != "" {
			fmt.Fprintf(stderr, "sluice replay: %s\n", msg)
			return 2
		}
		f.pipeline = true // archived events are raw: only a pipeline makes documents of them
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
		fmt.Fprintln(stderr, "sluice replay: a replay indexes into the search engine: set sink.search.addresses")
		return 1
	}
	kind, where, _ := replaySource(f.from, cfg) // --from is checked above
	if f.archive != "" {
		kind, where = "archive", f.archive
	}
	log := newLogger(stderr, config.Log{Level: "warn", Format: "text"})
	r := &replayer{flags: f, cfg: cfg, log: log, start: now}
	defer func() { _ = r.shutdown() }()
	if err := r.open(ctx); err != nil {
		fmt.Fprintf(stderr, "sluice replay: %v\n", err)
		return 1
	}
	ropts := dlreplay.Options{
		Types: splitList(f.types), ErrorTypes: splitList(f.errorTypes), Limit: f.limit, Start: now,
		Index: r.index(), Logger: log,
		Progress: func(c dlreplay.Counts) { fmt.Fprintf(stderr, "replay: %s\n", c) },
	}
	if f.pipeline {
		ropts.Transform = r.transform
	}
	run := dlreplay.New(ropts)
	if kind == "archive" {
		err = r.readArchive(ctx, opts, splitList(f.types), run.Visitor(ctx))
	} else {
		err = r.read(ctx, kind, where, opts, run.Visitor(ctx))
	}
	if err == nil {
		err = run.Flush(ctx)
	}
	counts := run.Counts()
	fmt.Fprintf(stderr, "replay: %s\n", counts)
	if serr := r.shutdown(); err == nil {
		err = serr
	}
	mode := "stored documents"
	if f.pipeline {
		mode = "current pipelines"
	}
	if f.dryRun {
		fmt.Fprintf(stdout, "sluice replay (dry run, %s) from %s: %s; would index %d\n", mode, sourceName(kind, where), counts, counts.WouldIndex)
	} else {
		fmt.Fprintf(stdout, "sluice replay (%s) from %s: %s\n", mode, sourceName(kind, where), counts)
	}
	if err != nil {
		fmt.Fprintf(stderr, "sluice replay: %v\n", err)
		return 1
	}
	if counts.Failed() {
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

// archiveFlagProblem checks --from-archive against the other flags: what is wrong, or
// "".
func archiveFlagProblem(f replayFlags) string {
	if _, _, err := archive.ParseURL(f.archive); err != nil {
		return "--from-archive: " + err.Error()
	}
	switch {
	case f.from != "":
		return "--from and --from-archive: choose one source"
	case f.errorTypes != "":
		return "--error-type selects dead letters; archived events have no error"
	case f.since == "":
		return "--from-archive needs --since: an archive holds years of events"
	}
	for _, t := range splitList(f.types) {
		if !stream.ValidType(t) {
			return fmt.Sprintf("--type: %q is not a log type", t)
		}
	}
	return ""
}

// sourceName names where a replay read, for its summary line.
func sourceName(kind, where string) string {
	if kind == "archive" {
		return where
	}
	return kind + ":" + where
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

// replayer holds what one replay opens: the pipelines (--pipeline), and unless it is
// a dry run the search sink and the dead-letter destination, built as `sluice
// transform` builds them (build.go).
type replayer struct {
	flags replayFlags
	cfg   config.Config
	log   *slog.Logger
	start time.Time
	// parts are the components the replay opened, listed as they are built, so that
	// shutdown releases them the last first, as `sluice transform` does: the search
	// sink, then the dead-letter producer it writes to (flushed), then the file sink
	// the dead letters may go to. A replay runs none of their background work (no
	// retention sweeper, no reloading of lookups): it never starts them, and their
	// Shutdown, safe without Start, releases them.
	parts lifecycle

	// transformer runs the current pipelines (--pipeline); its documents land in
	// captured.
	transformer *transform.Transformer
	captured    captureSink
	resources   *enrich.Resources

	search *search.Sink
	dead   deadLetters
	files  *file.Sink
	reader *kinesis.Reader
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
		r.transformer, r.resources, err = buildTransformer(ctx, cfg, &r.captured, r.log, nil, nil, nil)
		if err != nil {
			return err
		}
		r.parts.add("lookups", r.resources)
	}
	if r.flags.dryRun {
		return nil
	}
	var err error
	if cfg.Sink.DeadLetters.Kind == "file" {
		if r.files, err = buildFileSink(cfg, r.log); err != nil {
			return err
		}
		r.parts.add("file sink", r.files)
	}
	if r.dead, err = buildDeadLetters(ctx, cfg, r.files, r.log, nil); err != nil {
		return err
	}
	if r.dead.producer != nil {
		r.parts.add("dead-letter producer", r.dead.producer) // Shutdown flushes
	}
	if r.search, err = buildSearchSink(ctx, cfg, &replayDeadLetters{dest: r.dead.dest, at: r.start}, r.log, nil); err != nil {
		return err
	}
	r.parts.add("search sink", r.search)
	return nil
}

// transform is the replay's Transform with --pipeline: the record through the
// transformer, as the transform tier would handle it.
func (r *replayer) transform(ctx context.Context, rec stream.Delivered) (sink.Document, bool, error) {
	r.captured.docs = r.captured.docs[:0]
	if err := r.transformer.Handle(ctx, stream.Batch{Stream: rec.Stream, Shard: rec.Shard, Records: []stream.Delivered{rec}}); err != nil {
		return sink.Document{}, false, err
	}
	if len(r.captured.docs) == 0 {
		return sink.Document{}, false, nil
	}
	return r.captured.docs[0], true, nil
}

// index is where the replay writes: the search sink, or nil in a dry run.
func (r *replayer) index() dlreplay.Indexer {
	if r.search == nil {
		return nil
	}
	return r.search
}

// shutdown shuts down what the replay opened (parts), within shutdown.timeout: the
// dead-letter producer flushes. A second call is harmless: each part's Shutdown is
// safe twice.
func (r *replayer) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Shutdown.Timeout)
	defer cancel()
	return r.parts.Shutdown(ctx)
}

// readArchive reads the archived events of --from-archive received in opts' range,
// handing each to visit as a dead letter with its original event (as its envelope
// was) and its id, so that the replay's pipeline makes the document it made before.
func (r *replayer) readArchive(ctx context.Context, opts deadletter.ReadOptions, types []string, visit deadletter.Visit) error {
	acfg := r.cfg.Sink.Archive
	acfg.Bucket, acfg.Prefix, _ = archive.ParseURL(r.flags.archive) // checked by archiveFlagProblem
	reader, err := archive.NewReader(ctx, acfg, archive.Options{Logger: r.log.With("component", "archive")})
	if err != nil {
		return err
	}
	return reader.Read(ctx, archive.ReadOptions{Types: types, Since: opts.Since, Until: opts.Until}, func(l archive.Line, err error) error {
		letter := deadletter.Letter{At: l.Received, LogType: l.Type, ID: l.ID, Time: l.Received, Source: l.Source}
		if err == nil {
			letter.Original = stream.AppendEnvelope(nil, l.Type, l.EnvelopeID(), l.Received, l.Event)
		}
		if verr := visit(letter, err); verr != nil {
			if errors.Is(verr, deadletter.ErrStop) {
				return archive.ErrStop
			}
			return verr
		}
		return nil
	})
}

// read reads the dead letters of the source, handing each to visit.
func (r *replayer) read(ctx context.Context, kind, where string, opts deadletter.ReadOptions, visit deadletter.Visit) error {
	if kind != "kinesis" {
		return deadletter.ReadFiles(ctx, where, opts, visit)
	}
	var err error
	r.reader, err = kinesis.NewReader(ctx, r.cfg.Stream.Kinesis, kinesis.Options{Logger: r.log.With("component", "kinesis")})
	if err != nil {
		return fmt.Errorf("create kinesis reader: %w", err)
	}
	r.parts.add("kinesis reader", r.reader)
	return deadletter.ReadStream(ctx, r.reader, where, opts, visit)
}
