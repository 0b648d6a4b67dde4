package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cartstream/cartstream/internal/gateway"
	"github.com/cartstream/cartstream/internal/metrics"
	"github.com/cartstream/cartstream/validation"
)

func TestGRPCCountsByMethodAndCode(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := metrics.NewGRPC(reg)
	unary := g.UnaryInterceptor()
	info := &grpc.UnaryServerInfo{FullMethod: "/cartstream.cart.v1.CartService/AddItem"}
	ok := func(context.Context, any) (any, error) { return "done", nil }
	bad := func(context.Context, any) (any, error) { return nil, status.Error(codes.InvalidArgument, "no") }
	for _, h := range []grpc.UnaryHandler{ok, ok, bad} {
		_, _ = unary(t.Context(), nil, info, h)
	}
	labels := []string{"service=cartstream.cart.v1.CartService", "method=AddItem"}
	if v := mustValue(t, reg, "cartstream_grpc_server_handled_total", append(labels, "code=OK")...); v != 2 {
		t.Errorf("OK calls = %v, want 2", v)
	}
	if v := mustValue(t, reg, "cartstream_grpc_server_handled_total", append(labels, "code=InvalidArgument")...); v != 1 {
		t.Errorf("InvalidArgument calls = %v, want 1", v)
	}
	if v := mustValue(t, reg, "cartstream_grpc_server_handling_seconds", labels...); v != 3 {
		t.Errorf("observed durations = %v, want 3", v)
	}
	if v := mustValue(t, reg, "cartstream_grpc_server_in_flight", labels...); v != 0 {
		t.Errorf("in flight after the calls = %v, want 0", v)
	}
}

// blockingProducer answers a Produce once release is closed.
type blockingProducer struct {
	started chan struct{}
	release chan struct{}
	err     error
}

func (b *blockingProducer) Produce(ctx context.Context, _ gateway.Record) (gateway.Position, error) {
	b.started <- struct{}{}
	<-b.release
	return gateway.Position{Partition: 1, Offset: 7}, b.err
}

func TestGatewayProduceLatencyAndInFlight(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := metrics.NewGateway(reg)
	bp := &blockingProducer{started: make(chan struct{}), release: make(chan struct{})}
	p := g.WrapProducer(bp)
	done := make(chan error, 1)
	go func() { _, err := p.Produce(t.Context(), gateway.Record{}); done <- err }()
	<-bp.started
	if v := mustValue(t, reg, "cartstream_gateway_produce_in_flight"); v != 1 {
		t.Errorf("in flight during the produce = %v, want 1", v)
	}
	close(bp.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	bp.err = errors.New("broker down")
	go func() { _, err := p.Produce(t.Context(), gateway.Record{}); done <- err }()
	<-bp.started
	if err := <-done; err == nil {
		t.Fatal("the producer's error was lost")
	}
	for result, want := range map[string]float64{"ok": 1, "error": 1} {
		if v := mustValue(t, reg, "cartstream_gateway_produce_seconds", "result="+result); v != want {
			t.Errorf("produces %s = %v, want %v", result, v, want)
		}
	}
	if v := mustValue(t, reg, "cartstream_gateway_produce_in_flight"); v != 0 {
		t.Errorf("in flight after = %v, want 0", v)
	}
}

func TestManagerHistogramsCountCommittedTransactionsOnly(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.NewManager(reg)
	at := time.Now()
	three := make([]validation.RequestTrace, 3)
	m.TransactionEnded(validation.TxnTrace{Outcome: validation.TxnCommitted, Requests: three, Decided: at, Ended: at.Add(4 * time.Millisecond)})
	m.TransactionEnded(validation.TxnTrace{Outcome: validation.TxnAborted, Requests: three, Decided: at, Ended: at.Add(time.Second)})
	m.TransactionEnded(validation.TxnTrace{Outcome: validation.TxnFailed, Requests: three})
	m.PartitionsRestored(validation.RestoreTrace{Partitions: 2, Carts: 5, Took: 30 * time.Millisecond})
	if v := mustValue(t, reg, "cartstream_manager_batch_requests"); v != 1 {
		t.Errorf("batches observed = %v, want 1 (the committed one)", v)
	}
	if v := mustValue(t, reg, "cartstream_manager_commit_seconds"); v != 1 {
		t.Errorf("commits observed = %v, want 1", v)
	}
	if v := mustValue(t, reg, "cartstream_manager_restore_seconds"); v != 1 {
		t.Errorf("restores observed = %v, want 1", v)
	}
	// Nothing attached yet: the Stats counters are absent, not zero.
	if _, ok := value(t, reg, "cartstream_manager_requests_total"); ok {
		t.Error("requests_total exported before a manager is attached")
	}
}

func TestSetsRegisterWithoutConflict(t *testing.T) {
	for name, set := range map[string]*metrics.Set{
		"gateway": metrics.ForGateway(), "manager": metrics.ForManager(),
		"projection": metrics.ForProjection(), "all": metrics.ForAll(),
	} {
		if _, err := set.Registry.Gather(); err != nil {
			t.Errorf("%s: gather: %v", name, err)
		}
		if _, ok := value(t, set.Registry, "go_goroutines"); !ok {
			t.Errorf("%s: no Go runtime metrics", name)
		}
	}
}

func TestServerServesMetrics(t *testing.T) {
	set := metrics.ForGateway()
	s, err := metrics.Listen("127.0.0.1:0", set.Handler())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, time.Second) }()
	resp, err := http.Get("http://" + s.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "cartstream_gateway_produce_in_flight 0") {
		t.Errorf("scrape lacks the gateway's gauge:\n%.2000s", body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}
