package main

import (
	"context"
	"fmt"
	"log/slog"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluice-siem/sluice/config"
	"github.com/sluice-siem/sluice/sink/archive"
	"github.com/sluice-siem/sluice/sink/deadletter"
	"github.com/sluice-siem/sluice/sink/file"
	"github.com/sluice-siem/sluice/sink/search"
	"github.com/sluice-siem/sluice/stream/kinesis"
	"github.com/sluice-siem/sluice/transform"
	"github.com/sluice-siem/sluice/transform/enrich"
	"github.com/sluice-siem/sluice/transform/pipeline"
)

// This file holds the builders `sluice dev`/`transform` (app.go) and `sluice replay`
// (replay.go) share, so that both make the pipelines, the file sink, the dead-letter
// destination and the search sink the same way from the same configuration.

// buildTransformer opens the lookups and compiles the pipelines of cfg into a
// transformer writing to out. The caller owns the resources (Close, and Run to reload
// them); on error nothing is left open.
func buildTransformer(ctx context.Context, cfg config.Config, out transform.Sink, log *slog.Logger, meter metric.Meter, tracer trace.Tracer, watch transform.Watcher) (*transform.Transformer, *enrich.Resources, error) {
	// The sample pipelines bring the sample lookups they enrich with (lookupsConfig).
	res, err := enrich.NewResources(ctx, lookupsConfig(cfg), log.With("component", "enrich"), meter)
	if err != nil {
		return nil, nil, fmt.Errorf("open lookups: %w", err)
	}
	pipes, err := buildPipelines(cfg, pipeline.Deps{Logger: log.With("component", "pipeline"), Meter: meter, Enrich: res.Processor})
	if err != nil {
		res.Close()
		return nil, nil, fmt.Errorf("build pipelines: %w", err)
	}
	t, err := transform.New(out, transform.Options{Logger: log.With("component", "transform"), Meter: meter, Pipelines: pipes,
		MaxDepth: cfg.Limits.MaxDepth, Tracer: tracer, Watch: watch})
	if err != nil {
		res.Close()
		return nil, nil, fmt.Errorf("create transformer: %w", err)
	}
	return t, res, nil
}

// buildFileSink opens the file sink of cfg (sink.file).
func buildFileSink(cfg config.Config, log *slog.Logger) (*file.Sink, error) {
	fcfg := cfg.Sink.File
	fcfg.Logger = log.With("component", "file")
	s, err := file.New(fcfg)
	if err != nil {
		return nil, fmt.Errorf("create file sink: %w", err)
	}
	return s, nil
}

// deadLetters is the search sink's dead-letter destination as built: dest to write
// to, where to name it in logs, and the Kinesis producer behind it (nil for files),
// which the caller lists below the search sink, so that it shuts down (flushes) after
// it.
type deadLetters struct {
	dest     search.DeadLetters
	where    string
	producer *kinesis.Producer
}

// buildDeadLetters makes the dead-letter destination of sink.dead_letters: the
// Kinesis dead-letter stream, which must exist (a missing stream fails the start, not
// the first refused document), or files, the file sink files (which the caller opened).
func buildDeadLetters(ctx context.Context, cfg config.Config, files *file.Sink, log *slog.Logger, meter metric.Meter) (deadLetters, error) {
	if cfg.Sink.DeadLetters.Kind == "file" {
		return deadLetters{dest: files, where: deadletter.Dir(cfg.Sink.File.Dir)}, nil
	}
	name := cfg.Sink.DeadLetters.Stream
	kopts := kinesis.Options{Logger: log.With("component", "kinesis", "stream", name), Meter: meter}
	r, err := kinesis.NewReader(ctx, cfg.Stream.Kinesis, kopts)
	if err != nil {
		return deadLetters{}, fmt.Errorf("create dead-letter stream reader: %w", err)
	}
	_, err = r.Shards(ctx, name)
	r.Close()
	if err != nil {
		return deadLetters{}, fmt.Errorf("check dead-letter stream (sink.dead_letters.stream): %w", err)
	}
	p, err := kinesis.New(ctx, cfg.Stream.Kinesis, kopts)
	if err != nil {
		return deadLetters{}, fmt.Errorf("create dead-letter producer: %w", err)
	}
	k, err := deadletter.NewKinesis(p, name, deadletter.KinesisOptions{
		MaxRecordBytes: int(cfg.Stream.Kinesis.MaxRecordBytes), Logger: log.With("component", "deadletter"), Meter: meter,
	})
	if err != nil {
		_ = p.Close(ctx)
		return deadLetters{}, err
	}
	return deadLetters{dest: k, where: "kinesis:" + name, producer: p}, nil
}

// buildSearchSink makes the search sink of cfg, refused documents going to dead.
func buildSearchSink(ctx context.Context, cfg config.Config, dead search.DeadLetters, log *slog.Logger, meter metric.Meter) (*search.Sink, error) {
	s, err := search.New(ctx, cfg.Sink.Search, search.Options{DeadLetters: dead, Logger: log.With("component", "search"), Meter: meter})
	if err != nil {
		return nil, fmt.Errorf("create search sink: %w", err)
	}
	return s, nil
}

// buildArchive makes the S3 archive of cfg (sink.archive), which is on.
func buildArchive(ctx context.Context, cfg config.Config, log *slog.Logger, meter metric.Meter) (*archive.Archive, error) {
	ac := cfg.Sink.Archive
	if ac.MaxObjectRecords == 0 {
		// Objects end before the consumer stops reading a shard for want of
		// acknowledgements (stream.consumer.max_unacked_records).
		ac.MaxObjectRecords = max(cfg.Stream.Consumer.MaxUnackedRecords/2, 1)
	}
	if ac.MaxObjectRecordBytes == 0 {
		// Likewise for its bound on bytes (stream.consumer.max_unacked_bytes).
		ac.MaxObjectRecordBytes = max(cfg.Stream.Consumer.MaxUnackedBytes/2, 1)
	}
	arch, err := archive.New(ctx, ac, archive.Options{Logger: log.With("component", "archive"), Meter: meter})
	if err != nil {
		return nil, fmt.Errorf("create archive: %w", err)
	}
	log.Info("archive", "bucket", ac.Bucket, "prefix", ac.Prefix, "content", ac.Content, "compression", ac.Compression, "types", ac.Types)
	return arch, nil
}
