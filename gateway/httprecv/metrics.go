package httprecv

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/internal/instruments"
)

// metrics are the receiver's own instruments: what it refuses as a whole.
type metrics struct {
	refused metric.Int64Counter
}

func newMetrics(m metric.Meter) (metrics, error) {
	in := instruments.New(m, "github.com/sluice-siem/sluice/gateway/httprecv")
	ms := metrics{refused: in.Counter("sluice_http_requests_refused", "{request}",
		"HTTP requests refused as a whole, by kind (too_large, unsupported_media, overloaded, ...), the core's refusals included.")}
	if err := in.Err("http receiver"); err != nil {
		return metrics{}, err
	}
	return ms, nil
}

// countRefused counts a request refused as a whole.
func (ms metrics) countRefused(ctx context.Context, k gateway.Kind) {
	ms.refused.Add(ctx, 1, metric.WithAttributes(attribute.String("kind", k.String())))
}
