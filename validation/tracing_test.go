package validation

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/cartstream/cartstream/internal/tracing"
)

const testTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func requestMsg(traceparent string) *kafka.Message {
	topic := "cart.requests"
	return &kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 3, Offset: 42},
		Key:            []byte("cart-1"),
		Headers: []kafka.Header{
			{Key: HeaderRequestID, Value: []byte("req-1")},
			{Key: HeaderEventType, Value: []byte("AddItemRequest")},
			{Key: HeaderTraceparent, Value: []byte(traceparent)},
		},
	}
}

func testSpans(tp trace.TracerProvider) txnSpans {
	return txnSpans{tracer: tracing.Tracer(tp), off: tracing.Off(tp), log: slog.New(slog.DiscardHandler), base: context.Background()}
}

func TestRequestSpanIsTheRecordsChildAndTheCommitLinksIt(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	s := testSpans(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	s.start(requestMsg(testTraceparent))
	outcomeTrace := s.cur
	if s.snapshotTrace() != outcomeTrace {
		t.Errorf("a sampled request's snapshot carries %q, want %q", s.snapshotTrace(), outcomeTrace)
	}
	commit := s.startCommit(0, 2)
	commit.End()
	s.end(TxnCommitted, nil)

	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want the commit and the request", len(spans))
	}
	c, p := spans[0], spans[1]
	if p.Name() != spanProcess || p.Parent().SpanID().String() != "00f067aa0ba902b7" || p.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("request span %s: parent %v, want the record's traceparent", p.Name(), p.Parent())
	}
	if want, _ := tracing.Traceparent(p.SpanContext()); outcomeTrace != want.String() {
		t.Errorf("outcomes carry %q, want the request span %q", outcomeTrace, want)
	}
	if c.Name() != spanCommit || c.Parent().IsValid() || len(c.Links()) != 1 || c.Links()[0].SpanContext.SpanID() != p.SpanContext().SpanID() {
		t.Errorf("commit span %s: parent %v links %v, want a root linking the request", c.Name(), c.Parent(), c.Links())
	}
}

func TestRequestSpanOfAnAbortedTransactionFails(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	s := testSpans(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	s.start(requestMsg(testTraceparent))
	s.end(TxnAborted, errors.New("aborted: concurrent transactions"))
	if spans := rec.Ended(); len(spans) != 1 || spans[0].Status().Description == "" {
		t.Fatalf("spans %v, want one with an error status", spans)
	}
}

// Without a recording provider the outcomes carry the request's own
// traceparent (as before tracing), and snapshots carry none.
func TestNoopSpansKeepTheRequestsTraceparent(t *testing.T) {
	for name, tp := range map[string]trace.TracerProvider{"noop": noop.NewTracerProvider(), "global": nil} {
		s := testSpans(tp)
		s.start(requestMsg(testTraceparent))
		if s.cur != testTraceparent || s.snapshotTrace() != "" || len(s.spans) != 0 || len(s.links) != 0 {
			t.Errorf("%s: cur %q snapshot %q spans %d links %d", name, s.cur, s.snapshotTrace(), len(s.spans), len(s.links))
		}
		s.start(requestMsg("garbage"))
		if s.cur != "" {
			t.Errorf("%s: invalid traceparent copied on: %q", name, s.cur)
		}
	}
}

// BenchmarkRequestSpan is the manager's per-request tracing cost: without
// spans (the header check alone, as before tracing), with a no-op
// provider, with the global provider nobody set, and recording with the
// SDK (for scale).
func BenchmarkRequestSpan(b *testing.B) {
	msg := requestMsg(testTraceparent)
	b.Run("without", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if traceparentHeader(msg) == "" {
				b.Fatal("no traceparent")
			}
		}
	})
	run := func(name string, tp trace.TracerProvider) {
		b.Run(name, func(b *testing.B) {
			s := testSpans(tp)
			b.ReportAllocs()
			for b.Loop() {
				s.start(msg)
				if s.cur == "" {
					b.Fatal("no traceparent")
				}
				if len(s.spans) > 256 { // a transaction's worth, then end them
					s.end(TxnCommitted, nil)
					s.spans, s.links = s.spans[:0], s.links[:0]
				}
			}
		})
	}
	run("noop", noop.NewTracerProvider()) // tracing off: what Setup installs by default
	run("global-unset", otel.GetTracerProvider())
	run("sdk-recording", sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tracetest.NewSpanRecorder())))
}
