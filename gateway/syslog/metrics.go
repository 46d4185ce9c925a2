package syslog

import (
	"context"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sluice-siem/sluice/internal/instruments"
)

// Results of a message in sluice_syslog_messages.
const (
	resultAccepted = "accepted" // durable in the stream
	resultRejected = "rejected" // refused by the gateway, one by one (reason: the kind); dropped
	resultTooLong  = "too_long" // over max_message_bytes: discarded before parsing
	resultLost     = "lost"     // read, never delivered: refused as a batch, or the server stopped
)

// metrics are the receiver's instruments. Events the gateway core accepted or
// rejected are also counted by the core, by log type; these count the wire side, by
// listener (tcp, tls, udp).
type metrics struct {
	opened     metric.Int64Counter
	messages   metric.Int64Counter
	bytes      metric.Int64Counter
	parseFails metric.Int64Counter
	framing    metric.Int64Counter
	udpDropped metric.Int64Counter
	retries    metric.Int64Counter

	mu   sync.Mutex
	sets map[string]metric.MeasurementOption
}

// gauges are the values the observable instruments read.
type gauges struct {
	// streams are the enabled TCP and TLS listeners, whose open connections open
	// counts.
	streams []string
	open    func(listener string) int64
	queued  func() int64
}

func newMetrics(m metric.Meter, g gauges) (*metrics, error) {
	ms := &metrics{sets: map[string]metric.MeasurementOption{}}
	in := instruments.New(m, "github.com/sluice-siem/sluice/gateway/syslog")
	ms.opened = in.Counter("sluice_syslog_connections_opened", "{connection}",
		"Connections accepted by the syslog TCP and TLS listeners, by listener and result: served, over_limit (closed at once: max_connections), handshake_failed.")
	ms.messages = in.Counter("sluice_syslog_messages", "{message}",
		"Syslog messages by listener and result: accepted (durable in the stream), rejected (refused one by one by the gateway, by reason; dropped), too_long (over max_message_bytes; discarded), lost (read but never delivered: refused as a batch, or the server stopped first).")
	ms.bytes = in.Counter("sluice_syslog_bytes_received", "By", "Bytes read from syslog connections (after TLS) and datagrams, by listener.")
	ms.parseFails = in.Counter("sluice_syslog_parse_failures", "{message}",
		"Messages without an RFC 5424 or RFC 3164 header, by listener: sent on whole, tagged _syslogparsefailure.")
	ms.framing = in.Counter("sluice_syslog_framing_errors", "{error}",
		"TCP framing errors by listener and kind: frame_too_large, bad_octet_count and truncated close the connection; line_too_long discards the line.")
	ms.udpDropped = in.Counter("sluice_syslog_udp_dropped", "{datagram}",
		"Datagrams dropped because the UDP queue was full (udp.queue_messages, udp.queue_bytes): the gateway did not keep up.")
	ms.retries = in.Counter("sluice_syslog_ingest_retries", "{batch}",
		"Batches the gateway answered overloaded or unavailable, retried after a backoff (the connection is not read meanwhile), by listener.")
	_, err := in.Meter().Int64ObservableGauge("sluice_syslog_connections_open", metric.WithUnit("{connection}"),
		metric.WithDescription("Open syslog connections, by listener."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			for _, l := range g.streams {
				o.Observe(g.open(l), ms.attrs("listener", l))
			}
			return nil
		}))
	in.Add(err)
	_, err = in.Meter().Int64ObservableGauge("sluice_syslog_udp_queued", metric.WithUnit("{message}"),
		metric.WithDescription("Datagrams in the UDP queue, read and not yet handed to the gateway."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(g.queued())
			return nil
		}))
	in.Add(err)
	if err := in.Err("syslog"); err != nil {
		return nil, err
	}
	return ms, nil
}

// attrs returns the measurement option of the given key/value pairs, made once per
// combination: recording with a fresh set allocates. The values are the receiver's
// own constants and the gateway's error kinds, so the map stays small.
func (m *metrics) attrs(kv ...string) metric.MeasurementOption {
	k := strings.Join(kv, "\x00")
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.sets[k]
	if !ok {
		a := make([]attribute.KeyValue, 0, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			a = append(a, attribute.String(kv[i], kv[i+1]))
		}
		o = metric.WithAttributeSet(attribute.NewSet(a...))
		m.sets[k] = o
	}
	return o
}
