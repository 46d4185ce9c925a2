package kinesis

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sluice-siem/sluice/internal/instruments"
)

// metrics are the producer's instruments. Attributes: stream, shard (a shard id), code
// (a Kinesis error code), reason, outcome, after.
type metrics struct {
	recordsPut      metric.Int64Counter
	eventsPut       metric.Int64Counter
	bytesPut        metric.Int64Counter
	bytesSaved      metric.Int64Counter
	eventsPerRecord metric.Int64Histogram
	putDuration     metric.Float64Histogram
	failedEntries   metric.Int64Counter
	retries         metric.Int64Counter
	eventsFailed    metric.Int64Counter
	eventsAbandoned metric.Int64Counter
	// What a Put that gave up leaves behind, and the duplicates it and the
	// producer's own retries may make.
	eventsGivenUp     metric.Int64Counter
	eventsWrittenLate metric.Int64Counter
	eventsResent      metric.Int64Counter
}

func newMetrics(m metric.Meter, p *Producer) (metrics, error) {
	var ms metrics
	in := instruments.New(m, "github.com/sluice-siem/sluice/stream/kinesis")
	ms.recordsPut = in.Counter("sluice_kinesis_records_put", "{record}", "Kinesis records durable in the stream, by stream and shard.")
	ms.eventsPut = in.Counter("sluice_kinesis_events_put", "{event}", "Events durable in the stream (several per record with aggregation), by stream and shard.")
	ms.bytesPut = in.Counter("sluice_kinesis_bytes_put", "By", "Record bytes (data and partition key) durable in the stream, by stream and shard.")
	ms.bytesSaved = in.Counter("sluice_kinesis_compression_saved_bytes", "By",
		"Record bytes compression took off (uncompressed minus compressed) of the records put, by stream: with sluice_kinesis_bytes_put, the compression ratio.")
	ms.failedEntries = in.Counter("sluice_kinesis_failed_entries", "{record}", "PutRecords entries or whole requests that failed and were retried or given up, by stream and error code.")
	ms.retries = in.Counter("sluice_kinesis_retries", "{request}", "PutRecords retries, by stream and reason (entries: only the failed entries; request: the whole request).")
	ms.eventsFailed = in.Counter("sluice_kinesis_events_failed", "{event}", "Events whose Put failed after retries or on a permanent error, by stream and reason.")
	ms.eventsAbandoned = in.Counter("sluice_kinesis_events_abandoned", "{event}", "Events not sent (or not retried) because every caller waiting for them had given up.")
	ms.eventsGivenUp = in.Counter("sluice_kinesis_events_given_up", "{event}",
		"Events of Puts whose caller stopped waiting (its context ended: the gateway's backpressure_wait), by stream and outcome: "+
			"unsent (never written, and never sent after that: a resend writes them once) or unknown (on the wire, or in a request whose answer was lost: "+
			"they may be in the stream). Watch unknown during a Kinesis stall: the client was told to retry, and its resend duplicates those that were written (events with ids are indexed once).")
	ms.eventsWrittenLate = in.Counter("sluice_kinesis_events_written_late", "{event}",
		"Events that became durable after their Put had returned an error, by stream and after (gave_up: the caller stopped waiting; failed: another of its records failed). "+
			"Each one a client resent is in the stream twice: events with ids are indexed once, others twice.")
	ms.eventsResent = in.Counter("sluice_kinesis_events_resent", "{event}",
		"Events the producer sent again after a PutRecords request carrying them had an unknown outcome (timed out, connection broken after sending, 5xx), by stream: "+
			"each may be a duplicate the producer itself wrote (events with ids are indexed once). Rising with request timeouts means request_timeout is shorter than Kinesis's latency.")
	ms.eventsPerRecord = in.Int64Histogram("sluice_kinesis_events_per_record", "{event}", "Events per Kinesis record put: the aggregation ratio, by stream.",
		1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
	ms.putDuration = in.Histogram("sluice_kinesis_put_records_duration", "s", "Latency of one PutRecords call, by stream and outcome (ok, partial, error).",
		0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
	_, err := in.Meter().Int64ObservableGauge("sluice_kinesis_inflight_bytes", metric.WithUnit("By"),
		metric.WithDescription("Event bytes accepted by Put and not yet durable, by stream."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			for name, n := range p.inflightByStream() {
				o.Observe(n, metric.WithAttributes(attribute.String("stream", name)))
			}
			return nil
		}))
	in.Add(err)
	if err := in.Err("kinesis producer"); err != nil {
		return metrics{}, err
	}
	return ms, nil
}
