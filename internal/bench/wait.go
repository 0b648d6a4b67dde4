package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/gateway"
	"github.com/cartstream/cartstream/internal/topics"
	"github.com/cartstream/cartstream/projection"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
	"github.com/cartstream/cartstream/validation"
)

// WaitTargetP99 bounds a command call with wait_for_outcome at a low rate.
const WaitTargetP99 = 30 * time.Millisecond

// WaitResult is a command with wait_for_outcome end to end, the way
// cmd/cartstream wires it in one process: gateway.Run with the
// projection's Server as Reader and Outcomes, the manager and the
// projection in process. Open loop at Rate commands/s; the latency is the
// whole gRPC call (produce with acks=all, the manager's transaction, the
// projection reading the snapshot, the answer).
type WaitResult struct {
	Rate    int     `json:"rate_per_s"`
	Seconds float64 `json:"seconds"`
	Sent    int     `json:"sent"`
	Failed  int64   `json:"failed_calls"`
	// NoOutcome counts calls answered with the token alone (the outcome
	// not known before the call's deadline).
	NoOutcome int64       `json:"no_outcome"`
	Accepted  int64       `json:"accepted"`
	Rejected  int64       `json:"rejected"`
	Latency   Percentiles `json:"latency_ms"`
	// Visible is from the call's start until a read_committed watcher of
	// cart.validated and cart.invalid saw the outcome (the write side's
	// share); AfterVisible is from then until the call returned (the
	// projection reading cart.state, the answer), per call.
	Visible           Percentiles `json:"outcome_visible_ms"`
	AfterVisible      Percentiles `json:"after_visible_ms"`
	ManagerCommits    int64       `json:"manager_commits"`
	ManagerMeanCommit float64     `json:"manager_mean_commit_ms"`
	ManagerMaxCommit  float64     `json:"manager_max_commit_ms"`
	CPU               CPUUse      `json:"cpu"`
	Stages            StageTable  `json:"stages"`
	QuietWait         float64     `json:"broker_quiet_wait_s"`
	TargetP99         float64     `json:"target_p99_ms"`
	Pass              bool        `json:"pass"`
	Error             string      `json:"error,omitempty"`
}

func (e *env) wait(ctx context.Context) (*WaitResult, error) {
	cfg := e.cfg
	r := &WaitResult{Rate: cfg.WaitRate, TargetP99: ms(WaitTargetP99)}
	set, cleanup, err := e.topicSet(ctx, "wait")
	if err != nil {
		return r, err
	}
	defer cleanup()
	cat := products(cfg.Products)
	if err := e.seedCatalog(ctx, set.Catalog, cat); err != nil {
		return r, err
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()
	var runErrs sync.Map
	goRun := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(sctx); err != nil {
				runErrs.Store(name, err)
			}
		}()
	}

	rec := newStageRecorder()
	m, err := validation.New(validation.Config{Producers: e.cfg.Producers, MaxBatchRecords: e.cfg.ManagerBatch, Observer: rec,
		Client: e.base(), Topics: set,
		GroupID: "bench-" + e.runID + "-wait-manager", InstanceID: "bench-wait-1", Records: e.rec,
		SessionTimeout: 6 * time.Second, TransactionTimeout: 10 * time.Second,
		Logger: e.serviceLogger(), StatsInterval: time.Hour,
	})
	if err != nil {
		return r, err
	}
	goRun("manager", m.Run)
	p, err := projection.New(projection.Config{
		Client: e.base(), Topics: set, TopicConfig: topics.Config{Partitions: cfg.Partitions},
		Records: e.rec, Logger: e.serviceLogger(),
	})
	if err != nil {
		return r, err
	}
	goRun("projection", p.Run)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return r, err
	}
	srv := projection.NewServer(p)
	goRun("gateway", func(ctx context.Context) error {
		return gateway.Run(ctx, gateway.Options{
			Listener: lis, Kafka: gateway.KafkaConfig{Brokers: e.brokers, Extra: e.gatewayProps()}, Topics: set,
			TopicConfig: topics.Config{Partitions: cfg.Partitions}, Encoder: e.rec,
			Reader: srv, Outcomes: srv, Register: p.RegisterCatalog, Logger: e.serviceLogger(),
		})
	})
	g := &grpcEnv{}
	defer g.close()
	for range 4 {
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return r, fmt.Errorf("grpc client: %w", err)
		}
		g.conns = append(g.conns, conn)
		g.clients = append(g.clients, cartv1.NewCartServiceClient(conn))
	}
	if err := waitServing(ctx, g.conns[0]); err != nil {
		return r, err
	}
	select {
	case <-p.Ready():
	case <-time.After(90 * time.Second):
		return r, errors.New("projection not ready within 90s")
	case <-ctx.Done():
		return r, ctx.Err()
	}

	w, err := e.watch(sctx, set.Validated, set.Invalid)
	if err != nil {
		return r, err
	}
	defer w.stop()

	// Warm up until outcomes come back: the manager joined, the
	// projection follows, the gateway's producer is connected.
	warm := newWorkload(5, "x"+e.runID, skusOf(cat))
	deadline := time.Now().Add(90 * time.Second)
	for got := 0; got < 20; {
		if time.Now().After(deadline) {
			return r, errors.New("warm-up: no outcomes within 90s")
		}
		o, err := callWait(ctx, g.clients[0], warm.next(got%5, time.Now()))
		if err != nil {
			return r, fmt.Errorf("warm-up call: %w", err)
		}
		if o != nil {
			got++
		}
	}
	e.logf("wait: warm; %d commands/s with wait_for_outcome for %s, open loop", cfg.WaitRate, cfg.WaitDuration)

	n := int(float64(cfg.WaitRate) * cfg.WaitDuration.Seconds())
	r.Sent = n
	wl := newWorkload(6, "o"+e.runID, skusOf(cat))
	cmds := make([]cart.Command, n)
	for i := range cmds {
		cmds[i] = wl.next(wl.rng.IntN(500), time.Now())
	}
	lats := make([]time.Duration, n)
	starts := make([]time.Time, n)
	var failed, none, acc, rej atomic.Int64
	var calls sync.WaitGroup
	interval := time.Second / time.Duration(cfg.WaitRate)
	r.QuietWait = e.waitBrokerQuiet(ctx).Seconds()
	cpu := sampleCPU(e.brokerPID)
	begin := time.Now()
	for i := range n {
		if d := time.Until(begin.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d) // the open-loop schedule
		}
		calls.Add(1)
		go func() {
			defer calls.Done()
			t0 := time.Now()
			starts[i] = t0
			o, err := callWait(ctx, g.clients[i%len(g.clients)], cmds[i])
			lats[i] = time.Since(t0)
			switch {
			case err != nil:
				failed.Add(1)
				lats[i] = -1
			case o == nil:
				none.Add(1)
			case o.GetAccepted():
				acc.Add(1)
			default:
				rej.Add(1)
			}
		}()
	}
	calls.Wait()
	r.Seconds = time.Since(begin).Seconds()
	r.CPU = cpuSince(cpu, e.brokerPID)
	ids := requestIDs(cmds)
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	w.waitAll(wctx, ids)
	wcancel()
	var ok, vis, after []time.Duration
	for i, l := range lats {
		if l < 0 {
			continue
		}
		ok = append(ok, l)
		if at, seen := w.seenAt(ids[i]); seen {
			vis = append(vis, at.Sub(starts[i]))
			after = append(after, starts[i].Add(l).Sub(at))
		}
	}
	r.Latency, r.Visible, r.AfterVisible = percentiles(ok), percentiles(vis), percentiles(after)
	all := make([]sent, n)
	for i, id := range ids {
		all[i] = sent{id: id, start: starts[i], ack: -1}
		if at, seen := w.seenAt(id); seen {
			all[i].visible = at
		}
	}
	r.Stages = rec.table(all, func(i int) (time.Time, bool) {
		return starts[i].Add(lats[i]), lats[i] >= 0
	})
	r.Failed, r.NoOutcome, r.Accepted, r.Rejected = failed.Load(), none.Load(), acc.Load(), rej.Load()
	r.Pass = r.Failed == 0 && r.NoOutcome == 0 && r.Latency.P99 <= r.TargetP99
	st := m.Stats().Snapshot()
	r.ManagerCommits, r.ManagerMeanCommit, r.ManagerMaxCommit = st.Commits, ms(st.MeanCommit), ms(st.MaxCommit)
	e.logf("wait: p50 %.1f ms, p99 %.1f ms, max %.1f ms; %d accepted, %d rejected, %d without outcome, %d failed",
		r.Latency.P50, r.Latency.P99, r.Latency.Max, r.Accepted, r.Rejected, r.NoOutcome, r.Failed)
	e.logf("wait: outcome visible to a watcher p50 %.1f ms, p99 %.1f ms; from then to the answer p50 %.1f ms, p99 %.1f ms",
		r.Visible.P50, r.Visible.P99, r.AfterVisible.P50, r.AfterVisible.P99)
	stop()
	wg.Wait()
	var errs []error
	runErrs.Range(func(k, v any) bool {
		errs = append(errs, fmt.Errorf("%s: %w", k, v.(error)))
		return true
	})
	return r, errors.Join(errs...)
}

// callWait sends cmd through the gateway with wait_for_outcome and returns
// the outcome (nil when the answer carried the token alone).
func callWait(ctx context.Context, c cartv1.CartServiceClient, cmd cart.Command) (*cartv1.CommandOutcome, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	switch v := cmd.(type) {
	case cart.AddItem:
		resp, err := c.AddItem(ctx, &cartv1.AddItemRequest{CartId: string(v.CartID), RequestId: string(v.RequestID), CustomerId: string(v.CustomerID), Sku: string(v.SKU), Quantity: v.Quantity, WaitForOutcome: true})
		return resp.GetOutcome(), err
	case cart.ChangeQuantity:
		resp, err := c.ChangeQuantity(ctx, &cartv1.ChangeQuantityRequest{CartId: string(v.CartID), RequestId: string(v.RequestID), Sku: string(v.SKU), Quantity: v.Quantity, WaitForOutcome: true})
		return resp.GetOutcome(), err
	case cart.RemoveItem:
		resp, err := c.RemoveItem(ctx, &cartv1.RemoveItemRequest{CartId: string(v.CartID), RequestId: string(v.RequestID), Sku: string(v.SKU), WaitForOutcome: true})
		return resp.GetOutcome(), err
	case cart.Checkout:
		resp, err := c.Checkout(ctx, &cartv1.CheckoutRequest{CartId: string(v.CartID), RequestId: string(v.RequestID), CustomerId: string(v.CustomerID), WaitForOutcome: true})
		return resp.GetOutcome(), err
	}
	return nil, fmt.Errorf("unknown command %T", cmd)
}
