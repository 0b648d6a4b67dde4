package gateway

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/cartstream/cartstream/internal/tracing"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// The produce and the outcome wait are children of the call's span (the
// otelgrpc server span in a running gateway), and the record carries the
// produce span's traceparent, which the manager's span continues.
func TestGatewaySpansOfACommand(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	p := &fakeProducer{}
	outcomes := &fakeOutcomes{out: &cartv1.CommandOutcome{Accepted: true}}
	s := newTestServer(t, p, func(c *Config) { c.TracerProvider, c.Outcomes = tp, outcomes })
	ctx, call := tracing.Tracer(tp).Start(t.Context(), "grpc call")
	_, err := s.AddItem(ctx, &cartv1.AddItemRequest{CartId: "c1", RequestId: "r1", CustomerId: "cust", Sku: "apple", Quantity: 1, WaitForOutcome: true})
	call.End()
	if err != nil {
		t.Fatal(err)
	}
	spans := rec.Ended()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want produce, await and the call", len(spans))
	}
	produce, await := spans[0], spans[1]
	if produce.Name() != "cart.requests publish" || await.Name() != "await outcome" {
		t.Fatalf("spans %q, %q", produce.Name(), await.Name())
	}
	for _, sp := range []sdktrace.ReadOnlySpan{produce, await} {
		if sp.Parent().SpanID() != call.SpanContext().SpanID() {
			t.Errorf("%s: parent %v, want the call's span", sp.Name(), sp.Parent())
		}
	}
	want, _ := tracing.Traceparent(produce.SpanContext())
	if got, _ := header(p.records()[0], HeaderTraceparent); got != want.String() {
		t.Errorf("record's traceparent %q, want the produce span's %q", got, want)
	}
}

func TestGatewayProduceSpanOfAFailedProduce(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	p := &fakeProducer{err: errors.Join(ErrUnavailable, errors.New("broker down"))}
	s := newTestServer(t, p, func(c *Config) { c.TracerProvider = tp })
	if _, err := s.AddItem(context.Background(), &cartv1.AddItemRequest{CartId: "c1", RequestId: "r1", CustomerId: "cust", Sku: "apple", Quantity: 1}); err == nil {
		t.Fatal("AddItem: no error")
	}
	if spans := rec.Ended(); len(spans) != 1 || spans[0].Status().Code != codes.Error {
		t.Fatalf("spans %v, want the produce span failed", spans)
	}
}
