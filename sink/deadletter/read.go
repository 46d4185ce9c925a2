package deadletter

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sluice-siem/sluice/internal/retry"
	"github.com/sluice-siem/sluice/stream"
)

// Visit receives each dead letter read, or the reason one could not be parsed (err,
// with l.Source set). Returning an error stops the reading, which returns it.
type Visit func(l Letter, err error) error

// ErrStop, returned by a Visit, ends the reading early without an error, as when a
// replay's --limit is reached.
var ErrStop = errors.New("stop reading")

// ReadOptions bound a reading.
type ReadOptions struct {
	// Since skips dead letters written before it; zero reads from the oldest. On a
	// stream, reading starts at it (AT_TIMESTAMP).
	Since time.Time
	// Until is where the reading ends: dead letters written after it are not read, so
	// that a reading ends even while dead letters keep coming. Zero means now.
	Until time.Time
	// MaxLineBytes bounds one line of a dead-letter file; a longer line is reported
	// to Visit as unreadable. Zero means 16 MiB.
	MaxLineBytes int
	// PageRecords is the most records per GetRecords call. Zero means 1000.
	PageRecords int
	// EmptyWait is the pause after an empty page of a shard that is still behind (a
	// shard allows 5 reads a second). Zero means 200ms.
	EmptyWait time.Duration
}

func (o *ReadOptions) defaults(now time.Time) {
	if o.Until.IsZero() {
		o.Until = now
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = 16 << 20
	}
	if o.PageRecords <= 0 {
		o.PageRecords = 1000
	}
	if o.EmptyWait <= 0 {
		o.EmptyWait = 200 * time.Millisecond
	}
}

// Dir is the directory of the dead letters of the file sink rooted at root: the file
// sink writes them as documents of type Type, under root/_dead_letter.
func Dir(root string) string { return filepath.Join(root, Type) }

// ReadFiles reads the dead letters of the file sink rooted at root (or, if root has
// no _dead_letter directory, the .ndjson files of root itself), file by file in date
// order, and gives each to visit. Files of days outside Since and Until are skipped.
func ReadFiles(ctx context.Context, root string, opts ReadOptions, visit Visit) error {
	opts.defaults(time.Now())
	dir := Dir(root)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		dir = root
	}
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("read dead letters: %w", err)
	}
	names, err := filepath.Glob(filepath.Join(dir, "*.ndjson"))
	if err != nil {
		return fmt.Errorf("list dead letters in %s: %w", dir, err)
	}
	slices.Sort(names)
	for _, name := range names {
		if day, err := time.Parse(time.DateOnly, strings.TrimSuffix(filepath.Base(name), ".ndjson")); err == nil {
			if !opts.Since.IsZero() && day.Add(24*time.Hour).Before(opts.Since) || day.After(opts.Until) {
				continue
			}
		}
		if err := readFile(ctx, name, opts, visit); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

func readFile(ctx context.Context, name string, opts ReadOptions, visit Visit) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("read dead letters: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), opts.MaxLineBytes)
	line := 0
	for sc.Scan() {
		line++
		if err := ctx.Err(); err != nil {
			return err
		}
		if len(sc.Bytes()) == 0 {
			continue
		}
		l, err := Parse(sc.Bytes())
		l.Source = fmt.Sprintf("%s:%d", name, line)
		if err == nil && !within(l.At, opts) {
			continue
		}
		if err := visit(l, err); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("read %s after line %d: a line is longer than %d bytes", name, line, opts.MaxLineBytes)
		}
		return fmt.Errorf("read %s after line %d: %w", name, line, err)
	}
	return nil
}

// within reports whether a dead letter written at t is in the reading's time range.
func within(t time.Time, opts ReadOptions) bool {
	if t.IsZero() {
		return true
	}
	return !t.Before(opts.Since) && !t.After(opts.Until)
}

// StreamReader reads the shards of a Kinesis stream: stream/kinesis's Reader.
type StreamReader interface {
	Shards(ctx context.Context, streamName string) ([]stream.Shard, error)
	Open(ctx context.Context, streamName, shard string, from stream.Checkpoint, start stream.Start) (stream.ShardReader, error)
}

// ReadStream reads the dead letters of a Kinesis stream, every shard (closed ones
// included) from its oldest record (TRIM_HORIZON) or from Since (AT_TIMESTAMP), and
// gives each to visit. A shard is read up to the first record that arrived after
// Until, or until it is read to its end (closed) or caught up (an empty page with
// nothing behind it), so that a reading ends at the data present when it began.
func ReadStream(ctx context.Context, r StreamReader, streamName string, opts ReadOptions, visit Visit) error {
	opts.defaults(time.Now())
	shards, err := r.Shards(ctx, streamName)
	if err != nil {
		return fmt.Errorf("read dead letters of stream %s: %w", streamName, err)
	}
	start := stream.Start{Position: stream.TrimHorizon}
	if !opts.Since.IsZero() {
		start = stream.Start{Position: stream.AtTimestamp, Timestamp: opts.Since}
	}
	for _, sh := range shards {
		if err := readShard(ctx, r, streamName, sh.ID, start, opts, visit); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

func readShard(ctx context.Context, r StreamReader, streamName, shard string, start stream.Start, opts ReadOptions, visit Visit) error {
	sr, err := r.Open(ctx, streamName, shard, stream.Checkpoint{}, start)
	if err != nil {
		return fmt.Errorf("read dead letters of %s/%s: %w", streamName, shard, err)
	}
	for {
		page, err := sr.Read(ctx, opts.PageRecords)
		if err != nil {
			return fmt.Errorf("read dead letters of %s/%s: %w", streamName, shard, err)
		}
		for i := range page.Records {
			rec := &page.Records[i]
			if !rec.Arrival.IsZero() && rec.Arrival.After(opts.Until) {
				return nil
			}
			l, err := Parse(rec.Data)
			l.Source = rec.Stream + "/" + rec.Shard + "/" + rec.Sequence
			if err == nil && !within(l.At, opts) {
				continue
			}
			if err := visit(l, err); err != nil {
				return err
			}
		}
		if page.End || len(page.Records) == 0 && page.MillisBehind <= 0 {
			return nil
		}
		if len(page.Records) == 0 && !retry.Sleep(ctx, opts.EmptyWait) {
			return ctx.Err()
		}
	}
}
