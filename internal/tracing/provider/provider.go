// Package provider builds the process's OpenTelemetry tracer provider from a
// tracing.Config: the SDK and the OTLP exporter, kept apart from package tracing so
// that the data path's packages do not link them.
package provider

import (
	"context"
	"errors"
	"fmt"
	"os"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/sluice-siem/sluice/internal/tracing"
)

// Provider is the process's tracer provider and how to flush and stop it.
type Provider struct {
	trace.TracerProvider
	sdk *sdktrace.TracerProvider
}

// Shutdown flushes the spans not yet exported and stops the exporter; safe on a
// provider that is off.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil || p.sdk == nil {
		return nil
	}
	return p.sdk.Shutdown(ctx)
}

// Start is a lifecycle no-op: the exporter works from Setup on.
func (p *Provider) Start(context.Context) error { return nil }

// Setup returns the tracer provider of cfg for a process whose service.name is
// service (OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override it): head sampling
// by Sampler, and the Keeper in front of the exporter's batcher when cfg keeps failed
// or slow batches. The exporter
// speaks OTLP/gRPC, or OTLP/HTTP when OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or
// OTEL_EXPORTER_OTLP_PROTOCOL says http/protobuf. meter, when not nil, gets the
// Keeper's counts (Keeper.RegisterMetrics).
func Setup(ctx context.Context, cfg tracing.Config, service, version string, meter metric.Meter) (*Provider, error) {
	if !cfg.Enabled {
		return &Provider{TracerProvider: noop.NewTracerProvider()}, nil
	}
	var exp *otlptrace.Exporter
	var err error
	switch protocol() {
	case "grpc", "":
		exp, err = otlptracegrpc.New(ctx)
	case "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	default:
		return nil, fmt.Errorf("tracing: OTEL_EXPORTER_OTLP_PROTOCOL %q: sluice exports grpc or http/protobuf", protocol())
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: otlp exporter: %w", err)
	}
	res, err := resource.Merge(resource.NewSchemaless(semconv.ServiceName(service), semconv.ServiceVersion(version)), resource.Environment())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	var spans sdktrace.SpanProcessor = sdktrace.NewBatchSpanProcessor(exp)
	if cfg.Keeps() {
		k := NewKeeper(spans, cfg)
		if meter != nil {
			if err := k.RegisterMetrics(meter); err != nil {
				return nil, err
			}
		}
		spans = k
	}
	sdk := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(spans),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(Sampler(cfg)),
	)
	return &Provider{TracerProvider: sdk, sdk: sdk}, nil
}

func protocol() string {
	if p := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"); p != "" {
		return p
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
}
