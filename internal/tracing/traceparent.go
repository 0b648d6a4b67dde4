package tracing

import (
	"context"

	"go.opentelemetry.io/otel/trace"

	"github.com/cartstream/cartstream/internal/tracecontext"
)

// RemoteSpanContext is the remote span context a traceparent names, or
// false when s is not a valid traceparent.
func RemoteSpanContext(s string) (trace.SpanContext, bool) {
	t, ok := tracecontext.Parse(s)
	if !ok {
		return trace.SpanContext{}, false
	}
	tid, sid, flags := t.IDs()
	return trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.TraceFlags(flags), Remote: true,
	}), true
}

// WithTraceparent returns ctx with the span context s names as its remote
// parent; ctx unchanged when s is not a valid traceparent.
func WithTraceparent(ctx context.Context, s string) context.Context {
	if sc, ok := RemoteSpanContext(s); ok {
		return trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	return ctx
}

// Traceparent is sc as a traceparent; false when sc is not valid.
func Traceparent(sc trace.SpanContext) (tracecontext.Traceparent, bool) {
	if !sc.IsValid() {
		return tracecontext.Traceparent{}, false
	}
	return tracecontext.FromIDs(sc.TraceID(), sc.SpanID(), byte(sc.TraceFlags())), true
}

// Sampled reports whether s is a valid traceparent whose sampled flag is
// set: its trace is recorded, so the next hop should carry it on.
func Sampled(s string) bool {
	t, ok := tracecontext.Parse(s)
	return ok && t.Sampled()
}
