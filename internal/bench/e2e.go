package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/gateway"
	"github.com/cartstream/cartstream/internal/topics"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
	"github.com/cartstream/cartstream/validation"
)

// LatencyTargetP99 is the end-to-end p99 target at the low fixed rate.
const LatencyTargetP99 = 25 * time.Millisecond

// E2EResult is scenario 2.
type E2EResult struct {
	// Latency is the run at the headline rate (Config.LatencyRate); Sweep
	// has one run per rate of Config.SweepRates, the headline among them.
	Latency    LatencyRun    `json:"latency"`
	Sweep      []LatencyRun  `json:"sweep"`
	Saturation SaturationRun `json:"saturation"`
	// Manager is the in-process manager's commit statistics over both
	// phases.
	ManagerCommits    int64   `json:"manager_commits"`
	ManagerMeanCommit float64 `json:"manager_mean_commit_ms"`
	ManagerMaxCommit  float64 `json:"manager_max_commit_ms"`
	Error             string  `json:"error,omitempty"`
}

// LatencyRun is open-loop load at a fixed rate: from the gRPC call's start
// to the outcome being visible to a read_committed consumer.
type LatencyRun struct {
	Rate      int         `json:"rate_per_s"`
	Seconds   float64     `json:"seconds"`
	Sent      int         `json:"sent"`
	Failed    int64       `json:"failed_calls"`
	Missing   int         `json:"missing_outcomes"`
	Outcome   Percentiles `json:"outcome_ms"`
	Ack       Percentiles `json:"grpc_ack_ms"`
	TargetP99 float64     `json:"target_p99_ms"`
	Pass      bool        `json:"pass"`
	CPU       CPUUse      `json:"cpu"`
	Stages    StageTable  `json:"stages"`
	// QuietWait is how long the phase waited for the broker to go quiet
	// before it started (waitBrokerQuiet).
	QuietWait float64 `json:"broker_quiet_wait_s"`
}

// SaturationRun is closed-loop load by many clients.
type SaturationRun struct {
	Clients       int         `json:"clients"`
	Seconds       float64     `json:"seconds"`
	Accepted      int64       `json:"accepted"`
	Failed        int64       `json:"failed_calls"`
	AcceptedRate  float64     `json:"accepted_per_s"`
	Committed     int64       `json:"committed_in_window"`
	CommittedRate float64     `json:"committed_per_s"`
	BacklogSecs   float64     `json:"backlog_drain_s"` // after the window, until every accepted command's outcome was visible
	Missing       int         `json:"missing_outcomes"`
	Ack           Percentiles `json:"grpc_ack_ms"`
	Outcome       Percentiles `json:"outcome_ms"`
	CPU           CPUUse      `json:"cpu"`
}

type grpcEnv struct {
	clients []cartv1.CartServiceClient
	conns   []*grpc.ClientConn
}

func (g *grpcEnv) close() {
	for _, c := range g.conns {
		_ = c.Close()
	}
}

func (e *env) e2e(ctx context.Context) (*E2EResult, error) {
	r := &E2EResult{}
	set, cleanup, err := e.topicSet(ctx, "e2e")
	if err != nil {
		return r, err
	}
	defer cleanup()
	cat := products(e.cfg.Products)
	if err := e.seedCatalog(ctx, set.Catalog, cat); err != nil {
		return r, err
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()

	// The manager, in process.
	rec := newStageRecorder()
	m, err := validation.New(validation.Config{Observer: rec, Producers: e.cfg.Producers, MaxBatchRecords: e.cfg.ManagerBatch,
		Client: e.base(), Topics: set,
		GroupID: "bench-" + e.runID + "-e2e-manager", InstanceID: "bench-e2e-1", Records: e.rec,
		SessionTimeout: 6 * time.Second, TransactionTimeout: 10 * time.Second,
		Logger: e.serviceLogger(), StatsInterval: time.Hour,
	})
	if err != nil {
		return r, err
	}
	var runErrs sync.Map
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := m.Run(sctx); err != nil {
			runErrs.Store("manager", err)
		}
	}()

	// The gateway, in process, on a loopback port.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return r, err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := gateway.Run(sctx, gateway.Options{
			Listener: lis, Kafka: gateway.KafkaConfig{Brokers: e.brokers, Extra: e.gatewayProps()}, Topics: set,
			TopicConfig: topics.Config{Partitions: e.cfg.Partitions}, Encoder: e.rec, Logger: e.serviceLogger(),
		})
		if err != nil {
			runErrs.Store("gateway", err)
		}
	}()
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
	w, err := e.watch(sctx, set.Validated, set.Invalid)
	if err != nil {
		return r, err
	}
	defer w.stop()
	defer stop()

	// Warm up: the manager joined and restored, the gateway's producer
	// connected, both outcome topics fetched.
	warm := newWorkload(3, "w"+e.runID, skusOf(cat))
	var warmIDs []string
	for i := range 20 {
		cmd := warm.next(i, time.Now())
		if err := call(ctx, g.clients[0], cmd); err != nil {
			return r, fmt.Errorf("warm-up call: %w", err)
		}
		warmIDs = append(warmIDs, string(cmd.Meta().RequestID))
	}
	wctx, wcancel := context.WithTimeout(ctx, 90*time.Second)
	missing := w.waitAll(wctx, warmIDs)
	wcancel()
	if missing > 0 {
		return r, fmt.Errorf("warm-up: %d of %d outcomes not visible within 90s", missing, len(warmIDs))
	}
	for k, rate := range e.cfg.sweepRates() {
		e.logf("e2e: %d commands/s for %s, open loop", rate, e.cfg.LatencyDuration)
		run := e.latency(ctx, g, w, skusOf(cat), rate, k, rec)
		e.logf("e2e: @%d/s outcome latency p50 %.1f ms, p99 %.1f ms, p99.9 %.1f ms, max %.1f ms (%d missing); %.0f txn/s, %.2f retries/txn",
			rate, run.Outcome.P50, run.Outcome.P99, run.Outcome.P999, run.Outcome.Max, run.Missing, run.Stages.TxnPerSec, run.Stages.RetriesPerTxn)
		r.Sweep = append(r.Sweep, run)
		if rate == e.cfg.LatencyRate {
			r.Latency = run
		}
	}
	e.logf("e2e: saturation, %d closed-loop clients for %s", e.cfg.SaturationClients, e.cfg.SaturationDuration)
	r.Saturation = e.saturation(ctx, g, w, skusOf(cat))
	e.logf("e2e: saturation accepted %.0f/s, committed %.0f/s", r.Saturation.AcceptedRate, r.Saturation.CommittedRate)
	st := m.Stats().Snapshot()
	r.ManagerCommits, r.ManagerMeanCommit, r.ManagerMaxCommit = st.Commits, ms(st.MeanCommit), ms(st.MaxCommit)
	var errs []error
	runErrs.Range(func(k, v any) bool {
		errs = append(errs, fmt.Errorf("%s: %w", k, v.(error)))
		return true
	})
	return r, errors.Join(errs...)
}

func (e *env) gatewayProps() kafka.ConfigMap {
	if len(e.cfg.ClientProps) == 0 {
		return nil
	}
	cm := kafka.ConfigMap{}
	for k, v := range e.cfg.ClientProps {
		cm[k] = v
	}
	return cm
}

func waitServing(ctx context.Context, conn *grpc.ClientConn) error {
	hc := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(90 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := hc.Check(cctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("gateway not serving within 90s (last: %v)", err)
		}
		time.Sleep(100 * time.Millisecond) // polling health with a deadline
	}
}

// call sends cmd through the gateway's gRPC API.
func call(ctx context.Context, c cartv1.CartServiceClient, cmd cart.Command) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var err error
	switch v := cmd.(type) {
	case cart.AddItem:
		_, err = c.AddItem(ctx, &cartv1.AddItemRequest{CartId: string(v.CartID), RequestId: string(v.RequestID), CustomerId: string(v.CustomerID), Sku: string(v.SKU), Quantity: v.Quantity})
	case cart.ChangeQuantity:
		_, err = c.ChangeQuantity(ctx, &cartv1.ChangeQuantityRequest{CartId: string(v.CartID), RequestId: string(v.RequestID), Sku: string(v.SKU), Quantity: v.Quantity})
	case cart.RemoveItem:
		_, err = c.RemoveItem(ctx, &cartv1.RemoveItemRequest{CartId: string(v.CartID), RequestId: string(v.RequestID), Sku: string(v.SKU)})
	case cart.Checkout:
		_, err = c.Checkout(ctx, &cartv1.CheckoutRequest{CartId: string(v.CartID), RequestId: string(v.RequestID), CustomerId: string(v.CustomerID)})
	default:
		err = fmt.Errorf("unknown command %T", cmd)
	}
	return err
}

func (e *env) latency(ctx context.Context, g *grpcEnv, w *watcher, skus []cart.SKU, rate, round int, rec *stageRecorder) LatencyRun {
	cfg := e.cfg
	n := int(float64(rate) * cfg.LatencyDuration.Seconds())
	r := LatencyRun{Rate: rate, Sent: n, TargetP99: ms(latencyTarget(rate))}
	wl := newWorkload(uint64(4+round), fmt.Sprintf("l%d%s", round, e.runID), skus)
	cmds := make([]cart.Command, n)
	for i := range cmds {
		cmds[i] = wl.next(wl.rng.IntN(2000), time.Now())
	}
	starts := make([]time.Time, n)
	acks := make([]time.Duration, n)
	var failed atomic.Int64
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	r.QuietWait = e.waitBrokerQuiet(ctx).Seconds()
	cpu := sampleCPU(e.brokerPID)
	begin := time.Now()
	for i := range n {
		if d := time.Until(begin.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d) // the open-loop schedule
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			starts[i] = time.Now()
			if err := call(ctx, g.clients[i%len(g.clients)], cmds[i]); err != nil {
				failed.Add(1)
				acks[i] = -1
				return
			}
			acks[i] = time.Since(starts[i])
		}()
	}
	wg.Wait()
	r.Seconds = time.Since(begin).Seconds()
	ids := requestIDs(cmds)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	r.Missing = w.waitAll(wctx, ids)
	cancel()
	r.CPU = cpuSince(cpu, e.brokerPID)
	r.Failed = failed.Load()
	var outs, ackd []time.Duration
	all := make([]sent, n)
	for i, id := range ids {
		all[i] = sent{id: id, start: starts[i], ack: acks[i]}
		if acks[i] >= 0 {
			ackd = append(ackd, acks[i])
		}
		if at, ok := w.seenAt(id); ok {
			outs = append(outs, at.Sub(starts[i]))
			all[i].visible = at
		}
	}
	r.Outcome, r.Ack = percentiles(outs), percentiles(ackd)
	r.Stages = rec.table(all, nil)
	if r.Stages.WindowSeconds > 0 {
		r.Stages.BrokerCPUPerSecond = r.CPU.BrokerCPU / max(r.CPU.WallSeconds, 1e-9)
	}
	r.Pass = r.Missing == 0 && r.Failed == 0 && (r.TargetP99 == 0 || r.Outcome.P99 <= r.TargetP99)
	return r
}

func (e *env) saturation(ctx context.Context, g *grpcEnv, w *watcher, skus []cart.SKU) SaturationRun {
	cfg := e.cfg
	r := SaturationRun{Clients: cfg.SaturationClients}
	type satSent struct {
		id    string
		start time.Time
		ack   time.Duration
	}
	perClient := make([][]satSent, cfg.SaturationClients)
	var failed atomic.Int64
	var wg sync.WaitGroup
	cpu := sampleCPU(e.brokerPID)
	begin := time.Now()
	end := begin.Add(cfg.SaturationDuration)
	for k := range cfg.SaturationClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wl := newWorkload(uint64(100+k), fmt.Sprintf("s%sc%02d", e.runID, k), skus)
			c := g.clients[k%len(g.clients)]
			for time.Now().Before(end) && ctx.Err() == nil {
				cmd := wl.next(wl.rng.IntN(200), time.Now())
				t0 := time.Now()
				if err := call(ctx, c, cmd); err != nil {
					failed.Add(1)
					continue
				}
				perClient[k] = append(perClient[k], satSent{id: string(cmd.Meta().RequestID), start: t0, ack: time.Since(t0)})
			}
		}()
	}
	wg.Wait()
	stopped := time.Now()
	r.Seconds = stopped.Sub(begin).Seconds()
	var all []satSent
	for _, s := range perClient {
		all = append(all, s...)
	}
	ids := make([]string, len(all))
	for i, s := range all {
		ids[i] = s.id
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	r.Missing = w.waitAll(wctx, ids)
	cancel()
	r.CPU = cpuSince(cpu, e.brokerPID)
	var acks, outs []time.Duration
	var last time.Time
	for _, s := range all {
		acks = append(acks, s.ack)
		if at, ok := w.seenAt(s.id); ok {
			outs = append(outs, at.Sub(s.start))
			if !at.After(stopped) {
				r.Committed++
			}
			if at.After(last) {
				last = at
			}
		}
	}
	r.Accepted, r.Failed = int64(len(all)), failed.Load()
	r.AcceptedRate = float64(r.Accepted) / r.Seconds
	r.CommittedRate = float64(r.Committed) / r.Seconds
	if last.After(stopped) {
		r.BacklogSecs = last.Sub(stopped).Seconds()
	}
	r.Ack, r.Outcome = percentiles(acks), percentiles(outs)
	return r
}
