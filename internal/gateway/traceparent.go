package gateway

import (
	"context"
	"io"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/tracecontext"
	"github.com/cartstream/cartstream/internal/tracing"
)

// traceparentFor returns the traceparent the command's record carries:
// the span in ctx (the produce span) when it has a valid context, else the
// caller's traceparent from the incoming gRPC metadata when there is
// exactly one and it is valid (the W3C rule: several traceparent headers
// are invalid), else a new one. propagated says the caller sent one.
func traceparentFor(ctx context.Context, r io.Reader) (t tracecontext.Traceparent, propagated bool, err error) {
	caller, propagated := callerTraceparent(ctx)
	if t, ok := tracing.Traceparent(trace.SpanContextFromContext(ctx)); ok {
		return t, propagated, nil
	}
	if propagated {
		return caller, true, nil
	}
	t, err = tracecontext.New(r)
	return t, false, err
}

func callerTraceparent(ctx context.Context) (tracecontext.Traceparent, bool) {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if vs := md.Get(HeaderTraceparent); len(vs) == 1 {
			return tracecontext.Parse(vs[0])
		}
	}
	return tracecontext.Traceparent{}, false
}

// startProduce starts the span of the command's append to cart.requests
// (a child of the gRPC call's span) and returns the traceparent its
// record carries: the manager's span of the request is that span's child.
func (s *Server) startProduce(ctx context.Context, cmd cart.Command) (context.Context, trace.Span, tracecontext.Traceparent, bool, error) {
	ctx, span := s.tracer.Start(ctx, s.cfg.Topic+" publish", trace.WithSpanKind(trace.SpanKindProducer))
	if span.IsRecording() {
		meta := cmd.Meta()
		span.SetAttributes(attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.destination.name", s.cfg.Topic),
			attribute.String("cartstream.cart_id", string(meta.CartID)),
			attribute.String("cartstream.request_id", string(meta.RequestID)),
			attribute.String("cartstream.event_type", cmd.EventType().String()))
	}
	tp, propagated, err := traceparentFor(ctx, s.cfg.Random)
	if err != nil {
		tracing.End(span, err)
	}
	return ctx, span, tp, propagated, err
}

// endProduce ends the produce span with the record's position.
func endProduce(span trace.Span, pos Position, err error) {
	if err == nil && span.IsRecording() {
		span.SetAttributes(attribute.Int("messaging.destination.partition.id", int(pos.Partition)),
			attribute.Int64("messaging.kafka.offset", pos.Offset))
	}
	tracing.End(span, err)
}

// startAwait starts the span of the wait for the command's outcome.
func (s *Server) startAwait(ctx context.Context) (context.Context, trace.Span) {
	return s.tracer.Start(ctx, "await outcome")
}

// endAwait ends the wait's span, saying whether an outcome came.
func endAwait(span trace.Span, out bool, err error) {
	if span.IsRecording() {
		span.SetAttributes(attribute.Bool("cartstream.outcome_known", out))
	}
	tracing.End(span, err)
}
