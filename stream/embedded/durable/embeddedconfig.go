package durable

import (
	"errors"
	"fmt"
	"time"

	"github.com/sluice-siem/sluice/internal/bytesize"
	"github.com/sluice-siem/sluice/stream/embedded"
)

// MaxEmbeddedShards bounds EmbeddedConfig.Shards, well below embedded.MaxShards: a
// stream of `sluice dev` on one machine gains nothing from more.
const MaxEmbeddedShards = 1024

// EmbeddedConfig is the embedded stream of `sluice dev` as the configuration file
// holds it (stream.embedded): durable on local disk by default (this package, a Pebble
// database under Dir), so that what a receiver acknowledged survives a crash of the
// process or the machine; or, with Durable off, in memory (package embedded), for tests
// and benchmarks. The streams and the largest record are not set here but given by
// whoever opens the stream (they are the gateway's routing and limits); see
// DurableConfig and MemoryConfig.
type EmbeddedConfig struct {
	// Durable keeps the stream on local disk; false keeps it in memory, where events
	// acknowledged but not yet written are lost when the process stops.
	Durable bool `yaml:"durable" doc:"keep the stream on local disk (dir): what a receiver acknowledged survives a crash; false: in memory (tests, benchmarks), events not yet written are lost when the process stops"`
	// Dir is where the durable stream lives; empty is _stream under sink.file.dir (a
	// name no log type's directory can have), which the configuration resolves.
	Dir string `yaml:"dir" doc:"directory of the durable stream; empty: sink.file.dir/_stream"`
	// Sync is when appended events are fsynced (durable only).
	Sync SyncMode `yaml:"sync" doc:"always: acknowledge after fsync, concurrent batches sharing one (survives a machine crash) | interval: acknowledge at once, fsync every sync_interval (a crash loses up to that much) | none: never fsync; up to 32 KiB of acknowledged events wait in process memory, so even a killed process loses them (tests and benchmarks)"`
	// SyncInterval is the fsync period of sync interval; other modes ignore it.
	SyncInterval time.Duration `yaml:"sync_interval" doc:"fsync period with sync: interval (1ms to 1s)"`
	// Retention is how long an event is kept even if the transform tier never
	// checkpoints past it (durable only).
	Retention time.Duration `yaml:"retention" doc:"age at which an event is deleted even if not yet transformed (counted and logged), as Kinesis retention"`
	Shards    int           `yaml:"shards" doc:"shards per stream (a durable stream keeps the count it was created with)"`
	MaxBytes  bytesize.Size `yaml:"max_bytes" doc:"bytes of events held, on disk when durable, in memory otherwise; when full the receivers push back (HTTP 429, gRPC RESOURCE_EXHAUSTED, lumberjack stops reading)"`
	// RecoverCorruptWAL lets the durable stream open when its write-ahead log is
	// damaged before its end, dropping the acknowledged records after the damage
	// (Config.RecoverCorruptWAL).
	RecoverCorruptWAL bool `yaml:"recover_corrupt_wal" doc:"durable only: when the write-ahead log is damaged before its end (intact records follow the damage), drop everything from the damage on (kept in a file beside the log, logged as an error) and start; false: refuse to start, naming the offset and the bytes it would drop"`
}

// DefaultEmbeddedConfig returns the defaults: durable, fsynced before each
// acknowledgement, 4 shards, 1 GiB, kept 7 days at most.
func DefaultEmbeddedConfig() EmbeddedConfig {
	return EmbeddedConfig{
		Durable:      true,
		Sync:         SyncAlways,
		SyncInterval: DefaultSyncInterval,
		Retention:    DefaultRetention,
		Shards:       DefaultShards,
		MaxBytes:     DefaultMaxBytes,
	}
}

// Validate reports every problem of c at once, each with its path in the section
// ("shards: ..."); the settings of the durable stream only when Durable is set. The
// configuration adds the section's path, and checks max_bytes against the gateway's
// limits.
func (c EmbeddedConfig) Validate() error {
	var errs []error
	if c.Shards < 1 || c.Shards > MaxEmbeddedShards {
		errs = append(errs, fmt.Errorf("shards: must be 1 to %d, not %d", MaxEmbeddedShards, c.Shards))
	}
	if c.MaxBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_bytes: must be positive, not %s", c.MaxBytes))
	}
	if c.Durable {
		d := Config{Sync: c.Sync, SyncInterval: c.syncInterval(), Retention: c.Retention}.withDefaults()
		errs = append(errs, d.validateSync(), d.validateRetention())
	}
	return errors.Join(errs...)
}

// syncInterval is SyncInterval where the sync mode uses it, zero otherwise.
func (c EmbeddedConfig) syncInterval() time.Duration {
	if c.Sync == SyncOnInterval {
		return c.SyncInterval
	}
	return 0
}

// DurableConfig returns the configuration of the durable stream c describes, in dir
// (Dir, or the default the caller resolves for an empty one), with the streams and
// the largest record the gateway puts; the caller adds its logger and meter.
func (c EmbeddedConfig) DurableConfig(dir string, streams []string, maxRecordBytes int) Config {
	return Config{
		Dir:               dir,
		Streams:           streams,
		Shards:            c.Shards,
		Sync:              c.Sync,
		SyncInterval:      c.syncInterval(),
		MaxBytes:          int64(c.MaxBytes),
		MaxRecordBytes:    maxRecordBytes,
		Retention:         c.Retention,
		RecoverCorruptWAL: c.RecoverCorruptWAL,
	}
}

// MemoryConfig returns the configuration of the in-memory stream c describes (Durable
// off), with the streams and the largest record the gateway puts; the caller adds its
// logger.
func (c EmbeddedConfig) MemoryConfig(streams []string, maxRecordBytes int) embedded.Config {
	return embedded.Config{
		Streams:        streams,
		Shards:         c.Shards,
		MaxBytes:       int64(c.MaxBytes),
		MaxRecordBytes: maxRecordBytes,
	}
}
