package gateway

import (
	"context"
	"fmt"
	"sync/atomic"

	"go.opentelemetry.io/otel/metric"
)

// metrics are the gateway core's instruments. The type attribute is a routed log type
// or "_other"; receiver is the transport.
type metrics struct {
	eventsReceived metric.Int64Counter
	bytesReceived  metric.Int64Counter
	eventsRejected metric.Int64Counter
	bytesRejected  metric.Int64Counter
	batchErrors    metric.Int64Counter
	duration       metric.Float64Histogram
}

func newMetrics(m metric.Meter, inflight *atomic.Int64) (metrics, error) {
	var (
		ms   metrics
		errs []error
	)
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	ms.eventsReceived = counter("sluice_gateway_events_received", "{event}", "Events durable in the stream, by receiver and log type.")
	ms.bytesReceived = counter("sluice_gateway_bytes_received", "By", "Record bytes durable in the stream, by receiver and log type.")
	ms.eventsRejected = counter("sluice_gateway_events_rejected", "{event}", "Events rejected, by receiver, log type and reason.")
	ms.bytesRejected = counter("sluice_gateway_bytes_rejected", "By", "Bytes of rejected events, by receiver, log type and reason.")
	ms.batchErrors = counter("sluice_gateway_batch_errors", "{batch}", "Batches refused as a whole, by receiver and kind.")
	var err error
	ms.duration, err = m.Float64Histogram("sluice_gateway_ingest_duration", metric.WithUnit("s"),
		metric.WithDescription("Time from a batch's arrival in the core to its acknowledgement, by receiver and outcome."),
		metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
	errs = append(errs, err)
	_, err = m.Int64ObservableGauge("sluice_gateway_inflight_bytes", metric.WithUnit("By"),
		metric.WithDescription("Record bytes on their way to the stream."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(inflight.Load())
			return nil
		}))
	errs = append(errs, err)
	for _, err := range errs {
		if err != nil {
			return metrics{}, fmt.Errorf("create gateway metrics: %w", err)
		}
	}
	return ms, nil
}
