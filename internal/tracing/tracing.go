// Package tracing sets up OpenTelemetry tracing for a cartstream process
// and holds the few helpers the services share: the W3C propagator, the
// conversion between a span context and the traceparent a Kafka record
// carries, and a slog handler that stamps trace and span ids on records.
//
// Exporters are chosen by the standard OTEL_* environment variables
// (OTEL_TRACES_EXPORTER=otlp|console|none, OTEL_EXPORTER_OTLP_PROTOCOL,
// OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_SAMPLER, OTEL_SERVICE_NAME, ...).
// Unlike the OpenTelemetry default, an unset OTEL_TRACES_EXPORTER means
// none: a process traces only when asked to, and then the hot paths pay
// only for no-op spans.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of cartstream's own spans.
const ScopeName = "github.com/cartstream/cartstream"

// Provider is a process's tracer provider and what flushes it.
type Provider struct {
	trace.TracerProvider
	// Exporting says spans are recorded and exported (false: no-op).
	Exporting bool
	shutdown  func(context.Context) error
}

// Shutdown flushes the spans still queued and stops the exporter, bounded
// by ctx. A no-op provider returns nil at once.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil || p.shutdown == nil {
		return nil
	}
	if err := p.shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: shutdown: %w", err)
	}
	return nil
}

// Setup builds the tracer provider the OTEL_* environment describes for
// the named service, and installs it and the W3C propagator as
// OpenTelemetry's globals (services whose config names no provider use
// them). Only cmd/ calls it; the caller must call Shutdown on graceful
// stop so the last spans are exported.
func Setup(ctx context.Context, service string) (*Provider, error) {
	p, err := newProvider(ctx, service)
	if err != nil {
		return nil, err
	}
	otel.SetTracerProvider(p.TracerProvider)
	otel.SetTextMapPropagator(Propagator())
	installed.Store(p)
	return p, nil
}

// installed is the provider Setup made: Or answers with it rather than
// with OpenTelemetry's global wrapper, so Off can see a no-op provider.
var installed atomic.Pointer[Provider]

func newProvider(ctx context.Context, service string) (*Provider, error) {
	// Unset means none here (OpenTelemetry's default is otlp): a process
	// exports only when asked to.
	if strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true") || os.Getenv("OTEL_TRACES_EXPORTER") == "" {
		return &Provider{TracerProvider: noop.NewTracerProvider()}, nil
	}
	exp, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: exporter from OTEL_TRACES_EXPORTER: %w", err)
	}
	if autoexport.IsNoneSpanExporter(exp) {
		return &Provider{TracerProvider: noop.NewTracerProvider()}, nil
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES win
		resource.WithTelemetrySDK(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, errors.Join(fmt.Errorf("tracing: resource: %w", err), exp.Shutdown(ctx))
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Provider{TracerProvider: tp, Exporting: true, shutdown: tp.Shutdown}, nil
}

// Propagator is the W3C Trace Context propagator: the traceparent header
// on gRPC metadata, as on Kafka records.
func Propagator() propagation.TextMapPropagator { return propagation.TraceContext{} }

// Or returns tp, or when tp is nil the provider Setup installed, or
// OpenTelemetry's global provider if Setup was not called.
func Or(tp trace.TracerProvider) trace.TracerProvider {
	if tp != nil {
		return tp
	}
	if p := installed.Load(); p != nil {
		return p.TracerProvider
	}
	return otel.GetTracerProvider()
}

// Off reports whether tp (nil: as Or resolves it) is the no-op provider,
// which records nothing: a hot path may then skip its spans altogether.
func Off(tp trace.TracerProvider) bool {
	_, off := Or(tp).(noop.TracerProvider)
	return off
}

// Tracer is cartstream's tracer of tp (nil: the global provider).
func Tracer(tp trace.TracerProvider) trace.Tracer { return Or(tp).Tracer(ScopeName) }

// End ends span, marking it failed when err is not nil.
func End(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
