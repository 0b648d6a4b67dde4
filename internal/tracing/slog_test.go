package tracing

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"testing/slogtest"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func decodeLines(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	dec := json.NewDecoder(b)
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("decode log line: %v", err)
		}
		out = append(out, m)
	}
	return out
}

func TestLogHandlerAddsTheSpanOfTheContext(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil))).With("service", "test")
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tracetest.NewSpanRecorder()))
	ctx, span := Tracer(tp).Start(context.Background(), "op")
	defer span.End()

	log.InfoContext(ctx, "with span", "request_id", "r1")
	log.InfoContext(context.Background(), "without span")
	log.Info("no context")
	remote := WithTraceparent(context.Background(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	log.InfoContext(remote, "remote parent only")
	log.InfoContext(ctx, "names its trace", LogTraceID, "explicit")

	lines := decodeLines(t, &buf)
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 5", len(lines))
	}
	sc := span.SpanContext()
	if lines[0][LogTraceID] != sc.TraceID().String() || lines[0][LogSpanID] != sc.SpanID().String() || lines[0]["request_id"] != "r1" || lines[0]["service"] != "test" {
		t.Errorf("record with a span: %v, want trace %s span %s", lines[0], sc.TraceID(), sc.SpanID())
	}
	for _, l := range lines[1:3] {
		if _, ok := l[LogTraceID]; ok {
			t.Errorf("record without a span got %v", l)
		}
	}
	if lines[3][LogTraceID] != "4bf92f3577b34da6a3ce929d0e0e4736" || lines[3][LogSpanID] != "00f067aa0ba902b7" {
		t.Errorf("record under a remote parent: %v", lines[3])
	}
	// A record that names its trace id keeps it, once (JSON would hold the
	// last of two equal keys; text shows both).
	if lines[4][LogTraceID] != "explicit" || lines[4][LogSpanID] != sc.SpanID().String() {
		t.Errorf("record with its own trace_id: %v", lines[4])
	}
}

// The wrapper is still a correct slog.Handler (groups, attrs, levels).
func TestLogHandlerConforms(t *testing.T) {
	var buf bytes.Buffer
	err := slogtest.TestHandler(LogHandler(slog.NewJSONHandler(&buf, nil)), func() []map[string]any {
		return decodeLines(t, &buf)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSetupDefaultsToNoExporter(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "")
	p, err := newProvider(context.Background(), "svc")
	if err != nil || p.Exporting {
		t.Fatalf("unset OTEL_TRACES_EXPORTER: %+v, %v; want a no-op provider", p, err)
	}
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	if p, err := newProvider(context.Background(), "svc"); err != nil || p.Exporting {
		t.Fatalf("none: %+v, %v", p, err)
	}
	t.Setenv("OTEL_TRACES_EXPORTER", "console")
	p, err = newProvider(context.Background(), "svc")
	if err != nil || !p.Exporting {
		t.Fatalf("console: %+v, %v; want an exporting provider", p, err)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OTEL_TRACES_EXPORTER", "carrier-pigeon")
	if _, err := newProvider(context.Background(), "svc"); err == nil {
		t.Fatal("unknown exporter: no error")
	}
}

func TestTraceparentRoundTrip(t *testing.T) {
	const s = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	sc, ok := RemoteSpanContext(s)
	if !ok || !sc.IsRemote() || !sc.IsSampled() {
		t.Fatalf("RemoteSpanContext(%q) = %v, %v", s, sc, ok)
	}
	if tp, ok := Traceparent(sc); !ok || tp.String() != s {
		t.Fatalf("Traceparent = %v, %v; want %s", tp, ok, s)
	}
	if !Sampled(s) || Sampled("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00") || Sampled("junk") {
		t.Fatal("Sampled")
	}
}
