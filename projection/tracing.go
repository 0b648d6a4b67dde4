package projection

import (
	"context"
	"log/slog"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/gateway"
	"github.com/cartstream/cartstream/internal/tracing"
)

// spanVisible names the span of a snapshot becoming visible to queries.
const spanVisible = "cart.state apply"

// traced notes that a cart.state record was applied: a span in the trace
// of the request that wrote it, when its traceparent header says that
// trace is recorded (the manager sets it only then), and a debug log line.
// The span starts at the record's timestamp (the manager produced it,
// before the commit), so it shows how long the outcome took to become
// visible here. Records read while rebuilding get no span: they are old
// news, and a rebuild must not flood the exporter (or the debug log).
func (p *Projection) traced(m *kafka.Message) {
	tp := header(m, gateway.HeaderTraceparent)
	debug := p.log.Enabled(context.Background(), slog.LevelDebug)
	if tp == "" && !debug || !isReady(p.ready) {
		return
	}
	// The span's root context: no caller waits on it, it only parents
	// the span on the record's traceparent.
	ctx := context.Background()
	if tp != "" {
		var span trace.Span
		ctx, span = tracing.Tracer(p.cfg.TracerProvider).Start(tracing.WithTraceparent(ctx, tp), spanVisible,
			trace.WithSpanKind(trace.SpanKindConsumer), trace.WithTimestamp(m.Timestamp))
		if span.IsRecording() {
			span.SetAttributes(attribute.String("messaging.system", "kafka"),
				attribute.String("messaging.destination.name", *m.TopicPartition.Topic),
				attribute.Int("messaging.destination.partition.id", int(m.TopicPartition.Partition)),
				attribute.Int64("messaging.kafka.offset", int64(m.TopicPartition.Offset)),
				attribute.String("cartstream.cart_id", string(m.Key)))
		}
		span.End()
	}
	if debug {
		snap, _ := p.Cart(cart.CartID(m.Key))
		var last cart.RequestOutcome // the latest request the snapshot answers
		if n := len(snap.Window); n > 0 {
			last = snap.Window[n-1]
		}
		p.log.DebugContext(ctx, "projection: cart snapshot applied", "cart_id", string(m.Key),
			"partition", m.TopicPartition.Partition, "state_offset", int64(m.TopicPartition.Offset),
			"version", snap.Cart.Version, "request_offset", snap.RequestOffset,
			"request_id", last.RequestID, "accepted", last.Accepted)
	}
}
