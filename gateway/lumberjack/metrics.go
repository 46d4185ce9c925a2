package lumberjack

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sluice-siem/sluice/internal/instruments"
)

// metrics are the receiver's instruments. Events and bytes the gateway core accepted
// or rejected are also counted by the core, by log type; these count the wire side.
type metrics struct {
	opened     metric.Int64Counter
	windows    metric.Int64Counter
	events     metric.Int64Counter
	bytes      metric.Int64Counter
	ackLatency metric.Float64Histogram
	keepalives metric.Int64Counter
	protocol   metric.Int64Counter

	// Attribute sets, made once: recording with a fresh set allocates.
	accepted, rejected metric.MeasurementOption
	mu                 sync.Mutex
	sets               map[string]metric.MeasurementOption
}

func newMetrics(m metric.Meter, open func() int64) (*metrics, error) {
	ms := &metrics{sets: map[string]metric.MeasurementOption{}}
	in := instruments.New(m, "github.com/sluice-siem/sluice/gateway/lumberjack")
	ms.opened = in.Counter("sluice_lumberjack_connections_opened", "{connection}",
		"Connections accepted by the lumberjack listener, by result: served, over_limit (closed at once: lumberjack.max_connections), handshake_failed.")
	ms.windows = in.Counter("sluice_lumberjack_windows", "{window}", "Windows fully acknowledged.")
	ms.events = in.Counter("sluice_lumberjack_events", "{event}",
		"Events of acknowledged parts of windows, by result: accepted (durable in the stream) or rejected (invalid, too large, forbidden type; dropped).")
	ms.bytes = in.Counter("sluice_lumberjack_bytes_received", "By", "Bytes read from lumberjack connections (after TLS, before decompression).")
	ms.keepalives = in.Counter("sluice_lumberjack_keepalives", "{ack}", "Keepalive ACKs sent while a window waited for the stream.")
	ms.protocol = in.Counter("sluice_lumberjack_protocol_errors", "{connection}",
		"Connections closed for breaking the protocol or a limit, by kind: version, frame_type, window_size, frame_too_large, decoded_too_large, zlib, truncated, read_timeout.")
	ms.ackLatency = in.Histogram("sluice_lumberjack_ack_latency", "s", "Time from a window's first frame to its last ACK.",
		0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
	_, err := in.Meter().Int64ObservableGauge("sluice_lumberjack_connections_open", metric.WithUnit("{connection}"),
		metric.WithDescription("Open lumberjack connections."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(open())
			return nil
		}))
	in.Add(err)
	if err := in.Err("lumberjack"); err != nil {
		return nil, err
	}
	ms.accepted = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "accepted")))
	ms.rejected = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "rejected")))
	return ms, nil
}

// attrs returns the measurement option of one attribute, made once per value. The
// values are the receiver's own constants, so the map stays small.
func (m *metrics) attrs(key, value string) metric.MeasurementOption {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := key + "=" + value
	o, ok := m.sets[k]
	if !ok {
		o = metric.WithAttributeSet(attribute.NewSet(attribute.String(key, value)))
		m.sets[k] = o
	}
	return o
}
