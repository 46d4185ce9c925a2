package embedded

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults and hard limits of Config. A zero field of Config takes its default.
const (
	// DefaultShards is the number of shards per stream when Config.Shards is zero.
	DefaultShards = 4
	// DefaultMaxBytes is the retained-bytes bound when Config.MaxBytes is zero.
	DefaultMaxBytes = 64 << 20
	// DefaultMaxRecordBytes is the largest accepted record when Config.MaxRecordBytes
	// is zero: 1 MiB, the Kinesis record limit.
	DefaultMaxRecordBytes = 1 << 20
	// DefaultBatchRecords is the most records per delivered batch when
	// Config.BatchRecords is zero.
	DefaultBatchRecords = 500
	// DefaultBatchBytes is the most bytes per delivered batch when Config.BatchBytes is
	// zero.
	DefaultBatchBytes = 4 << 20
	// DefaultRetryBackoff is the first wait before redelivering a failed batch when
	// Config.RetryBackoff is zero.
	DefaultRetryBackoff = 100 * time.Millisecond
	// MaxRetryBackoff caps the doubling redelivery wait, so that a consumer recovers
	// within seconds once its handler works again. A larger Config.RetryBackoff is used
	// as it is, without doubling.
	MaxRetryBackoff = 5 * time.Second
	// MaxShards bounds Config.Shards: every shard costs a goroutine while consuming,
	// and a typo must not turn into millions of them.
	MaxShards = 4096
	// MaxPartitionKeyChars is the longest partition key, in Unicode characters, as in
	// Kinesis, so that keys that Kinesis would reject fail in `sluice dev` too.
	MaxPartitionKeyChars = 256
)

// Config is the plain-data configuration of an embedded stream. Zero fields take the
// defaults above; negative values are errors.
type Config struct {
	// Streams names the streams (one per log type). Put and Consume know only these.
	// Names follow the Kinesis rule: 1 to 128 characters of a-z, A-Z, 0-9, '_', '.', '-'.
	Streams []string
	// Shards is the number of shards of each stream (default 4, at most MaxShards).
	Shards int
	// MaxBytes bounds the bytes retained across all streams: the sum of
	// stream.Record.Size() of every record put and not yet acknowledged (default
	// 64 MiB). Put blocks while it would be exceeded.
	MaxBytes int64
	// MaxRecordBytes is the largest accepted record, by stream.Record.Size() (default
	// 1 MiB). It may not exceed MaxBytes.
	MaxRecordBytes int
	// BatchRecords is the most records per delivered batch (default 500).
	BatchRecords int
	// BatchBytes is the most bytes per delivered batch (default 4 MiB); a single record
	// larger than this is still delivered, alone.
	BatchBytes int
	// RetryBackoff is the wait before redelivering a batch whose handler failed
	// (default 100ms). It doubles on each further failure of the same shard, up to
	// MaxRetryBackoff, and is reset by a success.
	RetryBackoff time.Duration
	// Logger receives handler failures and lifecycle events; nil discards them.
	Logger *slog.Logger
	// Now is the clock that stamps stream.Delivered.Arrival and seeds sequence
	// numbers; nil means time.Now.
	Now func() time.Time
}

// withDefaults returns c with every zero field set to its default. Negative fields are
// left for Validate to report.
func (c Config) withDefaults() Config {
	if c.Shards == 0 {
		c.Shards = DefaultShards
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if c.BatchRecords == 0 {
		c.BatchRecords = DefaultBatchRecords
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = DefaultBatchBytes
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = DefaultRetryBackoff
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports every problem of c at once (errors.Join), treating zero fields as
// their defaults. Each problem starts with the path of its field in snake case
// ("max_bytes: ..."), as in the durable stream's Config, so that a caller can prefix
// where the config sits. New calls it; callers may call it earlier, e.g. in
// `sluice validate`.
func (c Config) Validate() error {
	c = c.withDefaults()
	errs := []error{
		ValidateStreams(c.Streams, c.Shards),
		ValidateByteLimits(c.MaxBytes, c.MaxRecordBytes),
	}
	if c.BatchRecords < 0 {
		errs = append(errs, fmt.Errorf("batch_records: %d is negative", c.BatchRecords))
	}
	if c.BatchBytes < 0 {
		errs = append(errs, fmt.Errorf("batch_bytes: %d is negative", c.BatchBytes))
	}
	if c.RetryBackoff < 0 {
		errs = append(errs, fmt.Errorf("retry_backoff: %v is negative", c.RetryBackoff))
	}
	return errors.Join(errs...)
}
