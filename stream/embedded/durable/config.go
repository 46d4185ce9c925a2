package durable

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/sluice-siem/sluice/stream/embedded"
)

// SyncMode says when Put's records are fsynced to disk.
type SyncMode string

// The sync modes of Config.Sync.
const (
	// SyncAlways makes Put return only after its records are fsynced: neither a crash
	// of the process nor one of the machine loses an acknowledged record. Concurrent
	// Puts share fsyncs (group commit), so the cost per Put falls as producers are
	// added.
	SyncAlways SyncMode = "always"
	// SyncOnInterval makes Put return once its records are applied and queued in the
	// write-ahead log's buffer in memory; a background goroutine writes and fsyncs the
	// log every Config.SyncInterval. A crash, of the process or of the machine, loses
	// at most the records acknowledged in the last interval.
	SyncOnInterval SyncMode = "interval"
	// SyncNone never fsyncs explicitly: Pebble writes its log buffer to the file when
	// a 32 KiB block of it fills and when the log is rotated or closed, so a crash may
	// lose acknowledged records, however old, up to that much. For tests and
	// benchmarks.
	SyncNone SyncMode = "none"
)

// Defaults and bounds of Config. A zero field of Config takes its default.
const (
	// DefaultShards is the number of shards of a new stream when Config.Shards is zero.
	DefaultShards = embedded.DefaultShards
	// DefaultSyncInterval is Config.SyncInterval's default for SyncOnInterval.
	DefaultSyncInterval = 100 * time.Millisecond
	// MaxSyncInterval bounds Config.SyncInterval: beyond a second the window of
	// acknowledged records a machine crash loses stops being small.
	MaxSyncInterval = time.Second
	// DefaultMaxBytes is the retained-bytes budget when Config.MaxBytes is zero.
	DefaultMaxBytes = 1 << 30
	// DefaultMaxRecordBytes is the largest accepted record when Config.MaxRecordBytes
	// is zero: 1 MiB, the Kinesis record limit.
	DefaultMaxRecordBytes = embedded.DefaultMaxRecordBytes
	// DefaultRetention is how long a record is kept, consumed or not, when
	// Config.Retention is zero: 7 days, like a Kinesis stream with extended retention.
	DefaultRetention = 168 * time.Hour
	// MinRetention and MaxRetention bound Config.Retention: shorter would expire
	// records a consumer is about to read, longer than a year is what Kinesis allows.
	MinRetention = time.Minute
	MaxRetention = 365 * 24 * time.Hour
)

// Config is the plain-data configuration of a durable stream. Zero fields take the
// defaults above; Validate reports every problem at once.
type Config struct {
	// Dir is the directory the stream keeps its Pebble database in; it is created if
	// missing. Only one process may open it at a time.
	Dir string
	// Streams names the streams (one per log type), with the Kinesis rule: 1 to 128
	// characters of a-z, A-Z, 0-9, '_', '.', '-'. Streams found in Dir that are not
	// listed stay readable and writable (their records count against MaxBytes) and
	// are reported at Open with a warning.
	Streams []string
	// Shards is the number of shards of a stream created by Open (default 4, at most
	// embedded.MaxShards). A stream that exists in Dir keeps the shard count it was
	// created with, whatever Shards says now: partitioning changes only with a new
	// directory.
	Shards int
	// Sync is when records are fsynced: always (default), interval or none.
	Sync SyncMode
	// SyncInterval is the period of the background fsync of SyncOnInterval (default
	// 100ms, at most MaxSyncInterval). It must be zero for the other modes.
	SyncInterval time.Duration
	// MaxBytes bounds the record bytes retained across all streams: the sum of
	// stream.Record.Size() of every record put and not yet deleted (default 1 GiB).
	// Records are deleted once their shard's lease is checkpointed past them, or when
	// they are older than Retention. Put blocks while the budget is used up. The space
	// on disk is larger by the database's overhead (keys, indexes, deleted records
	// not yet compacted away) and by its write-ahead logs (the one in use and up to
	// three kept for reuse, each up to about 16 MiB); the database does not compress
	// the records (see pebbleOptions).
	MaxBytes int64
	// MaxRecordBytes is the largest accepted record, by stream.Record.Size() (default
	// 1 MiB). It may not exceed MaxBytes.
	MaxRecordBytes int
	// Retention is the age at which a record is deleted even if no consumer
	// checkpointed past it, as in Kinesis (default 168h). Such records are counted in
	// sluice_stream_records_expired_total and logged at warn level.
	Retention time.Duration
	// RecoverCorruptWAL lets Open drop the records after damage found in the middle
	// of the newest write-ahead log (records that read intact follow it), which are
	// records acknowledged to a shipper: Open then logs the offset and the bytes
	// dropped as an error, saves them in a file beside the log and opens. By default
	// Open refuses such a log, naming the damage. A torn tail (nothing intact after
	// the damage: a write cut short by a crash) is dropped either way, with a warning.
	// A power loss may also leave the log so, its unsynced tail written out of order:
	// with Sync always, those records were not acknowledged and dropping them loses
	// nothing acknowledged.
	RecoverCorruptWAL bool
	// Logger receives lifecycle events, retention warnings, storage errors and the
	// messages of Pebble itself; nil discards them.
	Logger *slog.Logger
	// Meter creates the stream's instruments; nil means none.
	Meter metric.Meter
	// Now is the clock that stamps stream.Delivered.Arrival, seeds sequence numbers of
	// new shards and ages records for Retention; nil means time.Now.
	Now func() time.Time
}

// withDefaults returns c with every zero field set to its default. Bad values are
// left for Validate to report.
func (c Config) withDefaults() Config {
	if c.Shards == 0 {
		c.Shards = DefaultShards
	}
	if c.Sync == "" {
		c.Sync = SyncAlways
	}
	if c.Sync == SyncOnInterval && c.SyncInterval == 0 {
		c.SyncInterval = DefaultSyncInterval
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
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
// ("max_bytes: ..."), so that a caller can prefix where the config sits. Open calls
// it; callers may call it earlier, e.g. in `sluice validate`.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("dir: a directory is required"))
	}
	errs = append(errs, embedded.ValidateStreams(c.Streams, c.Shards), c.validateSync(),
		embedded.ValidateByteLimits(c.MaxBytes, c.MaxRecordBytes), c.validateRetention())
	return errors.Join(errs...)
}

// validateSync reports the problem of Sync and SyncInterval (with their defaults), if
// any.
func (c Config) validateSync() error {
	switch c.Sync {
	case SyncAlways, SyncNone:
		if c.SyncInterval != 0 {
			return fmt.Errorf("sync_interval: only for sync %q, not %q", SyncOnInterval, c.Sync)
		}
	case SyncOnInterval:
		if c.SyncInterval < time.Millisecond || c.SyncInterval > MaxSyncInterval {
			return fmt.Errorf("sync_interval: %v is outside 1ms..%v", c.SyncInterval, MaxSyncInterval)
		}
	default:
		return fmt.Errorf("sync: must be %q, %q or %q, not %q", SyncAlways, SyncOnInterval, SyncNone, c.Sync)
	}
	return nil
}

// validateRetention reports the problem of Retention (with its default), if any.
func (c Config) validateRetention() error {
	if c.Retention < MinRetention || c.Retention > MaxRetention {
		return fmt.Errorf("retention: %v is outside %v..%v", c.Retention, MinRetention, MaxRetention)
	}
	return nil
}
