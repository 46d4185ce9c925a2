package gateway

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/otel/metric"

	"github.com/sluice-siem/sluice/internal/instruments"
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

func newMetrics(m metric.Meter, inflight, buffered *atomic.Int64, types func() int64) (metrics, error) {
	var ms metrics
	in := instruments.New(m, "github.com/sluice-siem/sluice/gateway")
	ms.eventsReceived = in.Counter("sluice_gateway_events_received", "{event}", "Events durable in the stream, by receiver and log type.")
	ms.bytesReceived = in.Counter("sluice_gateway_bytes_received", "By", "Record bytes durable in the stream, by receiver and log type.")
	ms.eventsRejected = in.Counter("sluice_gateway_events_rejected", "{event}", "Events rejected, by receiver, log type and reason.")
	ms.bytesRejected = in.Counter("sluice_gateway_bytes_rejected", "By", "Bytes of rejected events, by receiver, log type and reason.")
	ms.batchErrors = in.Counter("sluice_gateway_batch_errors", "{batch}", "Batches refused as a whole, by receiver and kind.")
	ms.duration = in.Histogram("sluice_gateway_ingest_duration", "s", "Time from a batch's arrival in the core to its acknowledgement, by receiver and outcome.",
		0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
	_, err := in.Meter().Int64ObservableGauge("sluice_gateway_inflight_bytes", metric.WithUnit("By"),
		metric.WithDescription("Record bytes on their way to the stream."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(inflight.Load())
			return nil
		}))
	in.Add(err)
	_, err = in.Meter().Int64ObservableGauge("sluice_gateway_buffered_bytes", metric.WithUnit("By"),
		metric.WithDescription("HTTP request body bytes held while requests are received and decoded; at most gateway.limits.max_buffered_bytes."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(buffered.Load())
			return nil
		}))
	in.Add(err)
	_, err = in.Meter().Int64ObservableGauge("sluice_gateway_log_types", metric.WithUnit("{type}"),
		metric.WithDescription("Distinct log types this process accepts so far; at most gateway.routing.max_types."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(types())
			return nil
		}))
	in.Add(err)
	if err := in.Err("gateway"); err != nil {
		return metrics{}, err
	}
	return ms, nil
}
