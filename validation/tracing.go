package validation

import (
	"context"
	"log/slog"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/cartstream/cartstream/internal/tracing"
)

// Span names of the manager (docs/operations.md, "Traces").
const (
	spanProcess = "cart.requests process"
	spanCommit  = "cart transaction commit"
)

// txnSpans are one transaction's spans: a span per request, the child of
// the traceparent its record carries (the gateway's produce span), which
// lasts until the transaction ends, so the request's trace shows the wait
// for the commit; and the commit's own span, which links them all (a
// transaction carries many requests, of many traces).
//
// With the no-op tracer provider (tracing off, the default) a request
// costs what it did before tracing (BenchmarkRequestSpan), and outcomes
// carry the request's own traceparent.
type txnSpans struct {
	tracer trace.Tracer
	off    bool // the no-op provider: no span is started
	log    *slog.Logger
	base   context.Context // carries no span; the requests' spans' roots
	spans  []trace.Span    // recording spans only
	reqs   []spanRequest   // for the debug log, only when it is enabled
	links  []trace.Link
	// cur is the traceparent the current request's outcomes carry ("" for
	// none); curSampled says its trace is recorded, so the cart's snapshot
	// carries it on to the projection.
	cur        string
	curSampled bool
}

type spanRequest struct {
	ctx       context.Context
	requestID string
	partition int32
	offset    kafka.Offset
}

func newTxnSpans(w *worker) txnSpans {
	base := w.stop
	if base == nil {
		base = context.Background() // only a root for spans: never waited on
	}
	tp := w.m.cfg.TracerProvider
	return txnSpans{tracer: tracing.Tracer(tp), off: tracing.Off(tp), log: w.m.log, base: base}
}

// start starts the span of one request and makes it the current one.
func (s *txnSpans) start(msg *kafka.Message) {
	hdr := traceparentHeader(msg)
	s.cur, s.curSampled = hdr, false
	debug := s.log.Enabled(s.base, slog.LevelDebug)
	if s.off && !debug {
		return
	}
	ctx := s.base
	if hdr != "" {
		ctx = tracing.WithTraceparent(ctx, hdr) // joins the debug lines to the trace too
	}
	var span trace.Span
	if !s.off {
		ctx, span = s.tracer.Start(ctx, spanProcess, trace.WithSpanKind(trace.SpanKindConsumer))
	}
	tp := msg.TopicPartition
	if span != nil && span.IsRecording() {
		span.SetAttributes(attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.destination.name", *tp.Topic),
			attribute.Int("messaging.destination.partition.id", int(tp.Partition)),
			attribute.Int64("messaging.kafka.offset", int64(tp.Offset)),
			attribute.String("cartstream.request_id", requestIDHeader(msg)),
			attribute.String("cartstream.cart_id", string(msg.Key)))
		sc := span.SpanContext()
		if t, ok := tracing.Traceparent(sc); ok {
			s.cur, s.curSampled = t.String(), sc.IsSampled()
		}
		s.spans = append(s.spans, span)
		s.links = append(s.links, trace.Link{SpanContext: sc})
	}
	if debug {
		r := spanRequest{ctx: ctx, requestID: requestIDHeader(msg), partition: tp.Partition, offset: tp.Offset}
		s.reqs = append(s.reqs, r)
		s.log.DebugContext(ctx, "request processing", "request_id", r.requestID, "cart_id", string(msg.Key), "partition", r.partition, "offset", r.offset)
	}
}

// snapshotTrace is the traceparent the current request's cart snapshot
// carries: only a recorded trace's, so cart.state's records stay as they
// are when nobody traces.
func (s *txnSpans) snapshotTrace() string {
	if s.curSampled {
		return s.cur
	}
	return ""
}

// startCommit starts the commit's span: a root linked to every request.
func (s *txnSpans) startCommit(lane, records int) trace.Span {
	if s.off {
		return trace.SpanFromContext(s.base) // a no-op span
	}
	_, span := s.tracer.Start(s.base, spanCommit, trace.WithNewRoot(), trace.WithLinks(s.links...))
	if span.IsRecording() {
		span.SetAttributes(attribute.Int("cartstream.producer", lane),
			attribute.Int("cartstream.requests", len(s.links)), attribute.Int("cartstream.records", records))
	}
	return span
}

// end ends the requests' spans with the transaction's outcome.
func (s *txnSpans) end(outcome TxnOutcome, err error) {
	for _, span := range s.spans {
		span.SetAttributes(attribute.String("cartstream.transaction", outcome.String()))
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
	for _, r := range s.reqs {
		s.log.DebugContext(r.ctx, "request transaction ended", "request_id", r.requestID, "partition", r.partition,
			"offset", r.offset, "transaction", outcome.String())
	}
}

// snapshotHeaders are a snapshot's headers: the traceparent of the last
// request of its cart in the batch, when that trace is recorded.
func snapshotHeaders(traceparent string) []kafka.Header {
	if traceparent == "" {
		return nil
	}
	return []kafka.Header{{Key: HeaderTraceparent, Value: []byte(traceparent)}}
}
