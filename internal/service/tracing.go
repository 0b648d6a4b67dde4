package service

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/cartstream/cartstream/internal/tracing"
)

// TracingShutdownTimeout bounds the flush of the last spans at stop.
const TracingShutdownTimeout = 5 * time.Second

// StartTracing installs the tracer provider the OTEL_* environment asks
// for (internal/tracing; none by default) and says so in the log. The
// returned stop flushes the spans still queued, within
// TracingShutdownTimeout; call it after the service has stopped, so the
// spans of its last calls are exported too.
func StartTracing(ctx context.Context, service string, log *slog.Logger) (stop func(), err error) {
	p, err := tracing.Setup(ctx, service)
	if err != nil {
		return nil, err
	}
	if p.Exporting {
		log.Info("tracing: exporting spans", "exporter", os.Getenv("OTEL_TRACES_EXPORTER"),
			"protocol", os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL"), "endpoint", os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
	} else {
		log.Debug("tracing: off (set OTEL_TRACES_EXPORTER=otlp or console to export spans)")
	}
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), TracingShutdownTimeout)
		defer cancel()
		if err := p.Shutdown(sctx); err != nil {
			log.Warn("tracing: spans not flushed", "err", err)
		}
	}, nil
}
