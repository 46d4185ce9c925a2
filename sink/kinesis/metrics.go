package kinesis

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// metrics are the producer's instruments. Attributes: stream, shard (a shard id), code
// (a Kinesis error code), reason, outcome.
type metrics struct {
	recordsPut      metric.Int64Counter
	eventsPut       metric.Int64Counter
	bytesPut        metric.Int64Counter
	eventsPerRecord metric.Int64Histogram
	putDuration     metric.Float64Histogram
	failedEntries   metric.Int64Counter
	retries         metric.Int64Counter
	eventsFailed    metric.Int64Counter
	eventsAbandoned metric.Int64Counter
}

func newMetrics(m metric.Meter, p *Producer) (metrics, error) {
	var (
		ms   metrics
		errs []error
	)
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	ms.recordsPut = counter("sluice_kinesis_records_put", "{record}", "Kinesis records durable in the stream, by stream and shard.")
	ms.eventsPut = counter("sluice_kinesis_events_put", "{event}", "Events durable in the stream (several per record with aggregation), by stream and shard.")
	ms.bytesPut = counter("sluice_kinesis_bytes_put", "By", "Record bytes (data and partition key) durable in the stream, by stream and shard.")
	ms.failedEntries = counter("sluice_kinesis_failed_entries", "{record}", "PutRecords entries or whole requests that failed and were retried or given up, by stream and error code.")
	ms.retries = counter("sluice_kinesis_retries", "{request}", "PutRecords retries, by stream and reason (entries: only the failed entries; request: the whole request).")
	ms.eventsFailed = counter("sluice_kinesis_events_failed", "{event}", "Events whose Put failed after retries or on a permanent error, by stream and reason.")
	ms.eventsAbandoned = counter("sluice_kinesis_events_abandoned", "{event}", "Events not sent (or not retried) because every caller waiting for them had given up.")
	var err error
	ms.eventsPerRecord, err = m.Int64Histogram("sluice_kinesis_events_per_record", metric.WithUnit("{event}"),
		metric.WithDescription("Events per Kinesis record put: the aggregation ratio, by stream."),
		metric.WithExplicitBucketBoundaries(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000))
	errs = append(errs, err)
	ms.putDuration, err = m.Float64Histogram("sluice_kinesis_put_records_duration", metric.WithUnit("s"),
		metric.WithDescription("Latency of one PutRecords call, by stream and outcome (ok, partial, error)."),
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	errs = append(errs, err)
	_, err = m.Int64ObservableGauge("sluice_kinesis_inflight_bytes", metric.WithUnit("By"),
		metric.WithDescription("Event bytes accepted by Put and not yet durable, by stream."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			for name, n := range p.inflightByStream() {
				o.Observe(n, metric.WithAttributes(attribute.String("stream", name)))
			}
			return nil
		}))
	errs = append(errs, err)
	for _, err := range errs {
		if err != nil {
			return metrics{}, fmt.Errorf("create kinesis producer metrics: %w", err)
		}
	}
	return ms, nil
}
