package consume

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/sluice-siem/sluice/internal/bytesize"
	"github.com/sluice-siem/sluice/stream"
)

// Config is the plain-data configuration of a consumer: who the worker is, which
// streams it reads from where, and the periods and bounds of leasing and reading.
// DefaultConfig holds the defaults; Validate reports every problem at once.
type Config struct {
	// WorkerID names this worker in the lease table; it must be unique among the
	// workers sharing the table. Empty: host name and process id.
	WorkerID string `yaml:"worker_id" doc:"this worker's name in the lease table, unique per process; empty: host name and pid"`
	// Streams are the streams to read. Empty: every stream the gateway's routing names.
	Streams []string `yaml:"streams" doc:"streams to read; empty: every stream gateway.routing names"`
	// InitialPosition is where a shard without a checkpoint is read from when its
	// stream is first seen: trim_horizon, latest or at_timestamp. Shards that appear
	// later (children of a resharding) are always read from their start.
	InitialPosition stream.Position `yaml:"initial_position" doc:"trim_horizon | latest | at_timestamp: where a new stream's shards are first read (child shards: from their start)"`
	// InitialTimestamp is the time of at_timestamp, in RFC 3339.
	InitialTimestamp string `yaml:"initial_timestamp" doc:"RFC 3339 time for initial_position at_timestamp"`

	// RenewPeriod is how often the worker renews its leases. It must be well below
	// FailoverTime (at most a third), so that a few failed renewals do not lose them.
	RenewPeriod time.Duration `yaml:"renew_period" doc:"how often owned leases are renewed (at most failover_time/3)"`
	// FailoverTime is how long a lease's counter must stand still before other
	// workers take it: how long the shards of a worker that died wait. A worker that
	// could not renew for FailoverTime minus RenewPeriod stops processing the shard,
	// before anyone may take it.
	FailoverTime time.Duration `yaml:"failover_time" doc:"a lease not renewed for this long is taken by others"`
	// BalancePeriod is how often the worker reads the lease table to take free and
	// expired leases and to steal one from the most loaded worker.
	BalancePeriod time.Duration `yaml:"balance_period" doc:"how often leases are taken and balanced (at most one steal each time)"`
	// CheckpointPeriod is how often acknowledged progress is written to the lease
	// table (it is also written at hand-off and at a shard's end).
	CheckpointPeriod time.Duration `yaml:"checkpoint_period" doc:"how often acknowledged progress is checkpointed"`
	// ShardRefresh is how often shards are listed to find new streams and shards; a
	// shard's end also triggers a listing.
	ShardRefresh time.Duration `yaml:"shard_refresh" doc:"how often shards are listed (also at a shard's end)"`
	// HandoffTimeout bounds a graceful hand-off (shutdown, or a lease stolen for
	// balance): how long in-flight batches may take to be acknowledged before the
	// shard's progress is checkpointed and its lease released anyway.
	HandoffTimeout time.Duration `yaml:"handoff_timeout" doc:"longest wait for in-flight batches when handing a shard off (below shutdown.timeout)"`

	// MaxUnackedRecords bounds, per shard, the stream records read and not yet
	// acknowledged (an aggregated record counts once): reading waits while it is
	// reached (backpressure).
	MaxUnackedRecords int `yaml:"max_unacked_records" doc:"stream records per shard read and not yet acknowledged; reading waits beyond"`
	// MaxUnackedBytes bounds, per shard, the bytes of the records read and not yet
	// acknowledged (their data and partition keys): what the read-ahead holds in
	// memory, whatever the records' sizes. Reading waits while it is reached; one read
	// may pass it by up to a page (the stream's bound on one call: 10 MB on Kinesis,
	// 4 MiB on the embedded stream).
	MaxUnackedBytes bytesize.Size `yaml:"max_unacked_bytes" doc:"record bytes per shard read and not yet acknowledged; reading waits beyond (one read may pass it)"`
	// RecordsPerCall is the Limit of each GetRecords call (at most 10000).
	RecordsPerCall int `yaml:"records_per_call" doc:"most records per GetRecords call (at most 10000)"`
	// CallsPerSecond is the most GetRecords calls per second and shard (at most 5,
	// the Kinesis limit that every consumer of the shard shares).
	CallsPerSecond int `yaml:"calls_per_second" doc:"most GetRecords calls per second per shard (at most 5, shared by all consumers of a shard)"`
	// IdleWait is the pause after a GetRecords call that returned no records: the
	// longest an event that arrives at an idle shard waits to be read, against about
	// 1/IdleWait calls a second on an idle shard (250ms: about 4, within the 5 a shard
	// allows; BENCHMARKS.md, the whole chain at 20 events/s).
	IdleWait time.Duration `yaml:"idle_wait" doc:"pause after a GetRecords call that returned nothing: an idle shard's events wait up to this long"`
	// BatchRecords is the most records per batch handed to the handler.
	BatchRecords int `yaml:"batch_records" doc:"most records per batch handed to the transformer"`
}

// DefaultConfig returns the defaults: failover after 10s, renewals every 3s, reading
// at the Kinesis limits from the oldest record.
func DefaultConfig() Config {
	return Config{
		Streams:           []string{},
		InitialPosition:   stream.TrimHorizon,
		RenewPeriod:       3 * time.Second,
		FailoverTime:      10 * time.Second,
		BalancePeriod:     5 * time.Second,
		CheckpointPeriod:  5 * time.Second,
		ShardRefresh:      time.Minute,
		HandoffTimeout:    20 * time.Second,
		MaxUnackedRecords: 10000,
		MaxUnackedBytes:   8 << 20,
		RecordsPerCall:    stream.MaxRecordsPerCall,
		CallsPerSecond:    stream.MaxCallsPerSecond,
		IdleWait:          250 * time.Millisecond,
		BatchRecords:      1000,
	}
}

// DefaultWorkerID is the worker id used when Config.WorkerID is empty: the host name
// and the process id, unique among live processes.
func DefaultWorkerID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "worker"
	}
	return host + "-" + strconv.Itoa(os.Getpid())
}

// Validate reports every problem of c at once, each with its path in
// the section (such as "max_bytes: ..."); the configuration adds the section's path.
func (c Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if len(c.WorkerID) > 256 {
		bad("worker_id", "%d characters, at most 256", len(c.WorkerID))
	}
	seen := map[string]bool{}
	for i, s := range c.Streams {
		if !stream.ValidName(s) {
			bad(fmt.Sprintf("streams[%d]", i), "invalid stream name %q: use 1-128 of A-Z a-z 0-9 _ - .", s)
		} else if seen[s] {
			bad(fmt.Sprintf("streams[%d]", i), "duplicate stream %q", s)
		}
		seen[s] = true
	}
	switch c.InitialPosition {
	case stream.TrimHorizon, stream.Latest:
		if c.InitialTimestamp != "" {
			bad("initial_timestamp", "only for initial_position at_timestamp")
		}
	case stream.AtTimestamp:
		if _, err := time.Parse(time.RFC3339, c.InitialTimestamp); err != nil {
			bad("initial_timestamp", "want an RFC 3339 time such as 2026-01-02T15:04:05Z, not %q", c.InitialTimestamp)
		}
	default:
		bad("initial_position", "must be trim_horizon, latest or at_timestamp, not %q", c.InitialPosition)
	}
	for _, p := range []struct {
		path string
		d    time.Duration
	}{
		{"renew_period", c.RenewPeriod}, {"failover_time", c.FailoverTime}, {"balance_period", c.BalancePeriod},
		{"checkpoint_period", c.CheckpointPeriod}, {"shard_refresh", c.ShardRefresh}, {"handoff_timeout", c.HandoffTimeout},
	} {
		if p.d <= 0 {
			bad(p.path, "must be positive, not %s", p.d)
		}
	}
	if c.RenewPeriod > 0 && c.FailoverTime > 0 && c.FailoverTime < 3*c.RenewPeriod {
		bad("failover_time", "%s is less than 3 x renew_period %s: a worker could lose its leases to one slow renewal", c.FailoverTime, c.RenewPeriod)
	}
	if c.IdleWait < 0 {
		bad("idle_wait", "must not be negative")
	}
	if c.MaxUnackedRecords < 1 {
		bad("max_unacked_records", "must be positive, not %d", c.MaxUnackedRecords)
	}
	if c.MaxUnackedBytes < 1 || int64(c.MaxUnackedBytes) > math.MaxInt32 {
		bad("max_unacked_bytes", "must be 1 byte to 2GiB, not %s", c.MaxUnackedBytes)
	}
	if c.RecordsPerCall < 1 || c.RecordsPerCall > stream.MaxRecordsPerCall {
		bad("records_per_call", "must be 1 to %d, not %d", stream.MaxRecordsPerCall, c.RecordsPerCall)
	}
	if c.CallsPerSecond < 1 || c.CallsPerSecond > stream.MaxCallsPerSecond {
		bad("calls_per_second", "must be 1 to %d, not %d", stream.MaxCallsPerSecond, c.CallsPerSecond)
	}
	if c.BatchRecords < 1 {
		bad("batch_records", "must be positive, not %d", c.BatchRecords)
	}
	return errors.Join(errs...)
}

// start returns where the shards of a stream seen for the first time are read from,
// at now.
func (c Config) start(now time.Time) stream.Start {
	switch c.InitialPosition {
	case stream.Latest:
		// Records put after the lease was made, however long until a worker takes it.
		return stream.Start{Position: stream.AtTimestamp, Timestamp: now}
	case stream.AtTimestamp:
		t, _ := time.Parse(time.RFC3339, c.InitialTimestamp)
		return stream.Start{Position: stream.AtTimestamp, Timestamp: t}
	default:
		return stream.Start{Position: stream.TrimHorizon}
	}
}
