package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cartstream/cartstream/internal/gateway"
	"github.com/cartstream/cartstream/internal/tracing"
	"github.com/cartstream/cartstream/projection"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
	readsidev1 "github.com/cartstream/cartstream/proto/cartstream/readside/v1"
)

// serviceProvider is one process's tracer provider: its own resource,
// the shared recorder (the SDK's in-memory exporter of every process).
func serviceProvider(t *testing.T, rec *tracetest.SpanRecorder, service string) *sdktrace.TracerProvider {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))))
	t.Cleanup(func() { _ = tp.Shutdown(withTimeout(t, 5*time.Second)) })
	return tp
}

func serviceOf(s sdktrace.ReadOnlySpan) string {
	for _, kv := range s.Resource().Attributes() {
		if kv.Key == "service.name" {
			return kv.Value.AsString()
		}
	}
	return ""
}

// spanSet finds the spans of one test by name and service.
type spanSet []sdktrace.ReadOnlySpan

func (ss spanSet) find(service, name string, trace trace.TraceID) sdktrace.ReadOnlySpan {
	for _, s := range ss {
		if serviceOf(s) == service && s.Name() == name && (!trace.IsValid() || s.SpanContext().TraceID() == trace) {
			return s
		}
	}
	return nil
}

func (ss spanSet) String() string {
	var b strings.Builder
	for _, s := range ss {
		fmt.Fprintf(&b, "\n  %s %q trace=%s span=%s parent=%s links=%d took=%v", serviceOf(s), s.Name(), s.SpanContext().TraceID(), s.SpanContext().SpanID(), s.Parent().SpanID(), len(s.Links()), s.EndTime().Sub(s.StartTime()))
	}
	return b.String()
}

// logSink collects the JSON log lines of several services.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// logger is a debug logger into the sink, stamping trace ids like every
// binary's (internal/tracing.LogHandler).
func (l *logSink) logger(service string) *slog.Logger {
	h := slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug})
	return slog.New(tracing.LogHandler(h)).With("service", service)
}

// lines are the records with msg and the given request id.
func (l *logSink) lines(t *testing.T, msg, requestID string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, raw := range bytes.Split(l.buf.Bytes(), []byte("\n")) {
		var m map[string]any
		if len(raw) == 0 {
			continue
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("log line %q: %v", raw, err)
		}
		if m["msg"] == msg && m["request_id"] == requestID {
			out = append(out, m)
		}
	}
	return out
}

// One AddItem with wait_for_outcome, through a gateway, a manager and a
// projection that each have their own tracer provider (as three processes
// would), over the real broker: one trace holds the gateway's call, its
// produce, the manager's processing of the request, the snapshot becoming
// visible at the projection and the outcome wait (with the projection's
// server span of it); the transaction's commit span links the request.
// Their debug logs tell the request's path, each line with its trace id.
func TestTraceOfOneAddItemAcrossGatewayManagerAndProjection(t *testing.T) {
	const partitions = 3
	e := newCartEnv(t, partitions)
	e.seedCatalog(t, demoProducts()...)
	rec := tracetest.NewSpanRecorder()
	gwTP, mgrTP, projTP := serviceProvider(t, rec, "cart-gateway"), serviceProvider(t, rec, "additem-manager"), serviceProvider(t, rec, "cart-projection")

	mcfg := e.managerConfig(t, "m1")
	logs := &logSink{}
	mcfg.TracerProvider, mcfg.Logger = mgrTP, logs.logger("additem-manager")
	e.startManager(t, mcfg)
	proj := e.startProjection(t, func(c *projection.Config, so *projection.ServeOptions) {
		c.TracerProvider, c.Logger = projTP, logs.logger("cart-projection")
		so.ServerOptions = append(so.ServerOptions, tracing.ServerOption(projTP))
	})
	proj.waitServing(t, time.Minute)
	// The gateway reaches the projection over gRPC, as cart-gateway does.
	conn, err := grpc.NewClient(proj.conn.Target(), grpc.WithTransportCredentials(insecure.NewCredentials()), tracing.DialOption(gwTP))
	if err != nil {
		t.Fatalf("projection client: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	remote := projection.NewRemote(conn)
	gw := e.startGatewayWith(t, remote, remote, nil, func(o *gateway.Options) {
		o.TracerProvider, o.Logger = gwTP, logs.logger("cart-gateway")
	})

	resp, err := gw.AddItem(rpcCtx(t, 30*time.Second), &cartv1.AddItemRequest{
		CartId: "trace-cart", RequestId: "trace-r1", CustomerId: "cust-1", Sku: "SKU-A", Quantity: 2, WaitForOutcome: true,
	})
	if err != nil || !resp.GetOutcome().GetAccepted() {
		t.Fatalf("AddItem: %v, %v; want accepted", resp, err)
	}

	addItem := cartv1.CartService_ServiceDesc.ServiceName + "/AddItem"
	awaitRPC := readsidev1.OutcomeService_ServiceDesc.ServiceName + "/AwaitOutcome"
	var (
		spans                                     spanSet
		server, produce, await, client, projAwait sdktrace.ReadOnlySpan
		process, commit, visible                  sdktrace.ReadOnlySpan
	)
	deadline := time.Now().Add(30 * time.Second)
	for {
		spans = rec.Ended()
		server = spans.find("cart-gateway", addItem, trace.TraceID{})
		if server != nil {
			id := server.SpanContext().TraceID()
			produce = spans.find("cart-gateway", e.set.Requests+" publish", id)
			await = spans.find("cart-gateway", "await outcome", id)
			client = spans.find("cart-gateway", awaitRPC, id)
			projAwait = spans.find("cart-projection", awaitRPC, id)
			process = spans.find("additem-manager", "cart.requests process", id)
			visible = spans.find("cart-projection", "cart.state apply", id)
		}
		commit = spans.find("additem-manager", "cart transaction commit", trace.TraceID{})
		if server != nil && produce != nil && await != nil && client != nil && projAwait != nil && process != nil && commit != nil && visible != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s the trace is incomplete; spans:%s", spans)
		}
		time.Sleep(50 * time.Millisecond) // polling the recorder with a deadline
	}

	childOf := func(what string, s, parent sdktrace.ReadOnlySpan) {
		t.Helper()
		if s.Parent().SpanID() != parent.SpanContext().SpanID() || s.SpanContext().TraceID() != parent.SpanContext().TraceID() {
			t.Errorf("%s (%s %q) is not the child of %s %q; spans:%s", what, serviceOf(s), s.Name(), serviceOf(parent), parent.Name(), spans)
		}
	}
	if server.SpanKind() != trace.SpanKindServer || server.Parent().IsValid() {
		t.Errorf("gateway span: kind %v parent %v, want a server root", server.SpanKind(), server.Parent())
	}
	childOf("produce", produce, server)
	childOf("manager's processing", process, produce)
	childOf("outcome visible at the projection", visible, process)
	childOf("outcome wait", await, server)
	childOf("outcome wait's call", client, await)
	childOf("projection's answer to it", projAwait, client)

	linked := false
	for _, l := range commit.Links() {
		linked = linked || l.SpanContext.SpanID() == process.SpanContext().SpanID()
	}
	if !linked {
		t.Errorf("commit span links %v, not the request's span %s", commit.Links(), process.SpanContext().SpanID())
	}
	// The request's span lasts until its transaction commits, and the
	// commit happens within it: the trace shows the wait.
	if commit.EndTime().After(process.EndTime()) || commit.StartTime().Before(process.StartTime()) {
		t.Errorf("commit %v..%v is not within the request's span %v..%v", commit.StartTime(), commit.EndTime(), process.StartTime(), process.EndTime())
	}
	// The answer waited for the outcome to be visible.
	if visible.EndTime().After(await.EndTime()) {
		t.Errorf("snapshot visible at %v, after the wait ended at %v", visible.EndTime(), await.EndTime())
	}

	// The request's record and its outcome carry the trace too.
	validated, _ := e.outcomes(t)
	found := false
	for _, o := range validated {
		if o.requestID() == "trace-r1" {
			found = true
			want, _ := tracing.Traceparent(process.SpanContext())
			if got := o.headers["traceparent"]; got != want.String() {
				t.Errorf("outcome's traceparent %q, want the manager's request span %q", got, want)
			}
		}
	}
	if !found {
		t.Errorf("no outcome of trace-r1 in cart.validated")
	}
	t.Logf("spans:%s", spans)

	// -log-level debug: one line per hop, joined by request id and trace.
	traceID := server.SpanContext().TraceID().String()
	for _, hop := range []struct{ service, msg, span string }{
		{"cart-gateway", "command recorded", ""},
		{"additem-manager", "request processing", process.SpanContext().SpanID().String()},
		{"additem-manager", "request transaction ended", process.SpanContext().SpanID().String()},
		{"cart-projection", "projection: cart snapshot applied", visible.SpanContext().SpanID().String()},
	} {
		var found map[string]any
		for _, l := range logs.lines(t, hop.msg, "trace-r1") {
			if l["service"] == hop.service {
				found = l
			}
		}
		switch {
		case found == nil:
			t.Errorf("%s logged no %q of trace-r1 at debug", hop.service, hop.msg)
		case found[tracing.LogTraceID] != traceID:
			t.Errorf("%s %q: trace_id %v, want %s", hop.service, hop.msg, found[tracing.LogTraceID], traceID)
		case hop.span != "" && found[tracing.LogSpanID] != hop.span:
			t.Errorf("%s %q: span_id %v, want %s", hop.service, hop.msg, found[tracing.LogSpanID], hop.span)
		}
	}
}
