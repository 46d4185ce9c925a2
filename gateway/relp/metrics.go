package relp

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sluice-siem/sluice/internal/instruments"
)

// Results of a syslog transaction, the values of the result label of the transactions
// metric.
const (
	resultAccepted   = "accepted"   // answered 200: durable in the stream
	resultRejected   = "rejected"   // answered 200: refused for good, dropped
	resultError      = "error"      // answered 500: over max_message_bytes, or a command before open
	resultUnanswered = "unanswered" // read, then its connection closed unanswered: the client resends it
)

// metrics are the receiver's instruments. Events and bytes the gateway core accepted
// or rejected are also counted by the core, by log type; these count the wire side.
type metrics struct {
	opened     metric.Int64Counter
	txns       metric.Int64Counter
	bytes      metric.Int64Counter
	protocol   metric.Int64Counter
	retries    metric.Int64Counter
	latency    metric.Float64Histogram
	batchSize  metric.Int64Histogram
	accepted   metric.MeasurementOption
	rejected   metric.MeasurementOption
	errored    metric.MeasurementOption
	unanswered metric.MeasurementOption

	mu   sync.Mutex
	sets map[string]metric.MeasurementOption
}

func newMetrics(m metric.Meter, open func() int64) (*metrics, error) {
	ms := &metrics{sets: map[string]metric.MeasurementOption{}}
	in := instruments.New(m, "github.com/sluice-siem/sluice/gateway/relp")
	ms.opened = in.Counter("sluice_relp_connections_opened", "{connection}",
		"Connections accepted by the RELP listener, by result: served, over_limit (closed at once: relp.max_connections), handshake_failed.")
	ms.txns = in.Counter("sluice_relp_transactions", "{transaction}",
		"syslog transactions, by result: accepted (answered 200, durable in the stream), rejected (answered 200, refused for good and dropped), error (answered 500: too large, or before open), unanswered (the connection was closed before their answer; the client resends them).")
	ms.bytes = in.Counter("sluice_relp_bytes_received", "By", "Bytes read from RELP connections (after TLS).")
	ms.protocol = in.Counter("sluice_relp_protocol_errors", "{connection}",
		"Connections closed for breaking the protocol or a limit, by kind: malformed, trailer, truncated, too_large, txnr, not_open, offers, read_timeout.")
	ms.retries = in.Counter("sluice_relp_retries", "{batch}", "Handler calls retried because the stream was busy (overloaded or unavailable).")
	ms.latency = in.Histogram("sluice_relp_handler_latency", "s", "Duration of one Handler call: parsing and ingesting a batch until it is durable.",
		0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
	ms.batchSize = in.Int64Histogram("sluice_relp_batch_messages", "{message}", "Messages per Handler call.",
		1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
	_, err := in.Meter().Int64ObservableGauge("sluice_relp_connections_open", metric.WithUnit("{connection}"),
		metric.WithDescription("Open RELP connections."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(open())
			return nil
		}))
	in.Add(err)
	if err := in.Err("relp"); err != nil {
		return nil, err
	}
	ms.accepted = ms.attrs("result", resultAccepted)
	ms.rejected = ms.attrs("result", resultRejected)
	ms.errored = ms.attrs("result", resultError)
	ms.unanswered = ms.attrs("result", resultUnanswered)
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
