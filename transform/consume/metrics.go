package consume

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sluice-siem/sluice/internal/instruments"
)

// metrics are the consumer's instruments. The gauges are observed from the running
// worker's shards.
type metrics struct {
	taken, stolen, lost metric.Int64Counter
	records, throttles  metric.Int64Counter
}

func newMetrics(m metric.Meter, c *Consumer) (metrics, error) {
	var (
		ms  metrics
		err error
	)
	in := instruments.New(m, "github.com/sluice-siem/sluice/transform/consume")
	ms.taken = in.Counter("sluice_consumer_leases_taken_total", "{lease}", "Leases taken by this worker because they were free or expired, by stream.")
	ms.stolen = in.Counter("sluice_consumer_leases_stolen_total", "{lease}", "Leases handed to this worker by another one for balance, by stream.")
	ms.lost = in.Counter("sluice_consumer_leases_lost_total", "{lease}", "Leases this worker lost without handing them off (not renewed in time, or taken), by stream.")
	ms.records = in.Counter("sluice_consumer_records_read_total", "{record}", "User records read (after de-aggregation), by stream and shard.")
	ms.throttles = in.Counter("sluice_consumer_get_records_throttles_total", "{call}", "GetRecords calls the stream refused for its rate limits, by stream and shard.")
	if err = in.Err("consumer"); err != nil {
		return metrics{}, err
	}
	gauge := func(name, desc, unit string, observe func(metric.Int64Observer)) {
		if err != nil {
			return
		}
		_, err = m.Int64ObservableGauge(name, metric.WithDescription(desc), metric.WithUnit(unit),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				observe(o)
				return nil
			}))
		if err != nil {
			err = fmt.Errorf("create gauge %s: %w", name, err)
		}
	}
	gauge("sluice_consumer_leases_owned", "Leases this worker holds, by stream.", "{lease}", func(o metric.Int64Observer) {
		counts := map[string]int64{}
		c.eachShard(func(s *shardRun) { counts[s.stream]++ })
		for stream, n := range counts {
			o.Observe(n, metric.WithAttributes(attribute.String("stream", stream)))
		}
	})
	gauge("sluice_consumer_millis_behind_latest", "How far reading is behind the newest record of each held shard (Kinesis MillisBehindLatest).", "ms", func(o metric.Int64Observer) {
		c.eachShard(func(s *shardRun) {
			if ms := s.millisBehind.Load(); ms >= 0 {
				o.Observe(ms, s.attrs)
			}
		})
	})
	gauge("sluice_consumer_checkpoint_lag_records", "User records of each held shard read and not yet covered by the written checkpoint.", "{record}", func(o metric.Int64Observer) {
		c.eachShard(func(s *shardRun) { o.Observe(s.checkpointLag(), s.attrs) })
	})
	return ms, err
}
