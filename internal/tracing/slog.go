package tracing

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// Log attribute keys of the trace context, as the OpenTelemetry log data
// model names them, so a log backend joins them to the trace.
const (
	LogTraceID = "trace_id"
	LogSpanID  = "span_id"
)

// LogHandler wraps h: a record logged with a context that carries a valid
// span context (a span, or a remote parent) gets trace_id and span_id.
// Records without one pass through unchanged. It is safe for concurrent
// use when h is.
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(logHandler); ok {
		return h
	}
	return logHandler{h}
}

type logHandler struct{ next slog.Handler }

func (l logHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return l.next.Enabled(ctx, level)
}

func (l logHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			r = r.Clone()
			if !hasAttr(r, LogTraceID) { // a caller that logs the record's trace id already
				r.AddAttrs(slog.String(LogTraceID, sc.TraceID().String()))
			}
			r.AddAttrs(slog.String(LogSpanID, sc.SpanID().String()))
		}
	}
	return l.next.Handle(ctx, r)
}

func hasAttr(r slog.Record, key string) (found bool) {
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}

func (l logHandler) WithAttrs(as []slog.Attr) slog.Handler { return logHandler{l.next.WithAttrs(as)} }
func (l logHandler) WithGroup(name string) slog.Handler    { return logHandler{l.next.WithGroup(name)} }
