package durable

import (
	"context"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sluice-siem/sluice/internal/instruments"
)

// metrics are the stream's instruments. The observable ones are read from the stream
// by one callback, unregistered by Close.
type metrics struct {
	syncSeconds metric.Float64Histogram
	expired     metric.Int64Counter
	reg         metric.Registration
}

// syncBuckets are the bounds of the fsync wait histogram, in seconds: from a fast SSD
// to a slow, shared disk.
var syncBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

func newMetrics(s *Stream) (*metrics, error) {
	in := instruments.New(s.cfg.Meter, "github.com/sluice-siem/sluice/stream/embedded/durable")
	m := &metrics{}
	m.syncSeconds = in.Histogram("sluice_stream_sync_seconds", "s",
		"Time a Put of the durable embedded stream waited for the fsync of its records (sync always).", syncBuckets...)
	m.expired = in.Counter("sluice_stream_records_expired_total", "{record}",
		"Records the durable embedded stream deleted for their age before a consumer checkpointed them (lost to the transform tier), by stream.")
	meter := in.Meter()
	used, err := meter.Int64ObservableGauge("sluice_stream_used_bytes", metric.WithUnit("By"),
		metric.WithDescription("Bytes held in the embedded stream, not yet acknowledged by the transform tier."))
	in.Add(err)
	disk, err := meter.Int64ObservableGauge("sluice_stream_disk_bytes", metric.WithUnit("By"),
		metric.WithDescription("Disk space the durable embedded stream's database uses: records, indexes, deleted records not yet compacted away, write-ahead logs (in use and kept for reuse) and files awaiting deletion."))
	in.Add(err)
	oldest, err := meter.Float64ObservableGauge("sluice_stream_oldest_record_age_seconds", metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest record the durable embedded stream retains: not yet checkpointed by a consumer, or checkpointed since the last trim pass (every second), by stream."))
	in.Add(err)
	syncs, err := meter.Int64ObservableCounter("sluice_stream_wal_syncs_total", metric.WithUnit("{sync}"),
		metric.WithDescription("Fsyncs of the durable embedded stream's write-ahead log; concurrent Puts share them."))
	in.Add(err)
	flushed, err := meter.Int64ObservableCounter("sluice_stream_flushed_bytes_total", metric.WithUnit("By"),
		metric.WithDescription("Bytes the durable embedded stream's database wrote to tables when it flushed a full memtable: the records (and deletions) still there. Records consumed and trimmed before their memtable fills are written to the write-ahead log only."))
	in.Add(err)
	compacted, err := meter.Int64ObservableCounter("sluice_stream_compacted_bytes_total", metric.WithUnit("By"),
		metric.WithDescription("Bytes the durable embedded stream's database wrote to tables in compactions: flushed records rewritten, in the main to drop the deleted ones."))
	in.Add(err)
	if err := in.Err("durable stream"); err != nil {
		return nil, err
	}
	m.reg, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(used, s.Used())
		o.ObserveInt64(syncs, s.syncs.Load())
		if db, ok := s.dbMetrics(); ok {
			o.ObserveInt64(disk, db.disk)
			o.ObserveInt64(flushed, db.flushed)
			o.ObserveInt64(compacted, db.compacted)
		}
		now := s.cfg.Now()
		for name, shards := range s.streams {
			var first int64
			for _, sh := range shards {
				sh.mu.Lock()
				if n, _ := sh.retainedLocked(); n > 0 && sh.firstArrival != 0 && (first == 0 || sh.firstArrival < first) {
					first = sh.firstArrival
				}
				sh.mu.Unlock()
			}
			if first != 0 {
				o.ObserveFloat64(oldest, max(0, now.Sub(time.Unix(0, first)).Seconds()),
					metric.WithAttributes(attribute.String("stream", name)))
			}
		}
		return nil
	}, used, disk, oldest, syncs, flushed, compacted)
	if err != nil {
		return nil, fmt.Errorf("create durable stream metrics: %w", err)
	}
	return m, nil
}

// unregister stops the observations of the stream.
func (m *metrics) unregister() {
	if m != nil && m.reg != nil {
		_ = m.reg.Unregister()
	}
}

// dbStats are the database's figures the metrics show.
type dbStats struct {
	disk               int64 // disk space (see diskUsage)
	flushed, compacted int64 // bytes written to tables by flushes and by compactions
}

// dbMetrics reads the database's figures; ok is false once it is closed.
func (s *Stream) dbMetrics() (dbStats, bool) {
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return dbStats{}, false
	}
	m := s.db.Metrics()
	st := dbStats{disk: diskUsage(m)}
	for _, l := range m.Levels {
		st.flushed += int64(l.TableBytesFlushed + l.BlobBytesFlushed)
		st.compacted += int64(l.TableBytesCompacted + l.BlobBytesCompacted)
	}
	return st, true
}

// diskUsage returns the disk space of the database. Pebble counts the write-ahead log
// in use at the size it had when it was opened; its live data, when larger, is counted
// instead.
func diskUsage(m *pebble.Metrics) int64 {
	usage := m.DiskSpaceUsage()
	if m.WAL.Size > m.WAL.PhysicalSize {
		usage += m.WAL.Size - m.WAL.PhysicalSize
	}
	return int64(usage)
}
