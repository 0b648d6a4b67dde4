package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/topics"
	"github.com/cartstream/cartstream/validation"
)

// latencySystem is the system under the open-loop load: the manager in
// process or the peer as a java process.
type latencySystem interface {
	// commits returns the transactions committed so far, as known after t.
	commits(ctx context.Context, after time.Time) (int64, error)
	// cpu is the CPU time of a process other than the bench's; 0 in process.
	cpu() time.Duration
	stop() error
}

type managerSystem struct {
	m        *validation.Manager
	cancel   context.CancelFunc
	finished chan struct{}
	err      error
}

func (s *managerSystem) commits(context.Context, time.Time) (int64, error) {
	return s.m.Stats().Snapshot().Commits, nil
}

func (s *managerSystem) cpu() time.Duration { return 0 }

func (s *managerSystem) stop() error {
	s.cancel()
	<-s.finished
	return s.err
}

// peerSystem is the peer; drop deletes its changelog topic once it stopped.
type peerSystem struct {
	p    *peerProc
	drop func()
}

func (s peerSystem) commits(ctx context.Context, after time.Time) (int64, error) {
	st, err := s.p.latest(ctx, after, 5*time.Second)
	return st.Commits, err
}

func (s peerSystem) cpu() time.Duration { return procCPU(s.p.pid()) }

func (s peerSystem) stop() error {
	err := s.p.stop()
	s.drop()
	return err
}

// peerLatencies runs the same open-loop load against the manager, then
// against the peer at each commit interval, each on fresh topics, and
// compares each peer's outcomes with the manager's.
func (e *env) peerLatencies(ctx context.Context, pr peerRun, r *PeerResult) error {
	in := e.latencyInput(skusOf(pr.cat))
	var want map[string]outcome
	for _, ms := range append([]int{0}, peerCommitIntervals...) {
		l, got, err := e.peerLatencyRun(ctx, pr, in, ms)
		if err != nil {
			return fmt.Errorf("latency, %s: %w", l.label(), err)
		}
		r.Latency = append(r.Latency, l)
		e.logf("peer: %s: outcome p50 %.1f ms, p99 %.1f ms, p99.9 %.1f ms (%d missing); %d transactions (%.0f/s); broker CPU %.1f s",
			l.label(), l.Outcome.P50, l.Outcome.P99, l.Outcome.P999, l.Missing, l.Transactions, l.TxPerSecond, l.CPU.BrokerCPU)
		if ms == 0 {
			want = got
			continue
		}
		a := compareOutcomes(want, got)
		a.Phase, a.CommitIntervalMs = "latency", ms
		r.Agreement = append(r.Agreement, a)
		for _, ex := range a.Examples {
			e.logf("peer:   %s", ex)
		}
	}
	return nil
}

// peerLatencyRun starts the system (commitMs 0: the manager) on its own
// topic set, warms it up, runs the open-loop load, stops it and reads its
// outcomes.
func (e *env) peerLatencyRun(ctx context.Context, pr peerRun, in latencyInput, commitMs int) (PeerLatency, map[string]outcome, error) {
	l := PeerLatency{System: "manager", CommitIntervalMs: commitMs, Rate: e.cfg.LatencyRate}
	name := "peer-lat-manager"
	if commitMs > 0 {
		l.System, name = "peer", fmt.Sprintf("peer-lat-c%d", commitMs)
	}
	set, cleanup, err := e.topicSet(ctx, name)
	if err != nil {
		return l, nil, err
	}
	defer cleanup()
	if err := e.seedCatalog(ctx, set.Catalog, pr.cat); err != nil {
		return l, nil, err
	}
	sys, err := e.startSystem(ctx, pr, set, commitMs)
	if err != nil {
		return l, nil, err
	}
	l, err = e.openLoop(ctx, set, sys, l, in)
	if serr := sys.stop(); err == nil {
		err = serr
	}
	if err != nil {
		return l, nil, err
	}
	got, err := e.readOutcomes(ctx, set.Validated, set.Invalid)
	return l, got, err
}

// startSystem starts the manager in process (commitMs 0) or the peer.
func (e *env) startSystem(ctx context.Context, pr peerRun, set topics.Set, commitMs int) (latencySystem, error) {
	if commitMs == 0 {
		m, err := validation.New(validation.Config{Producers: e.cfg.Producers, MaxBatchRecords: e.cfg.ManagerBatch,
			Client: e.base(), Topics: set, GroupID: "bench-" + e.runID + "-peer-lat-manager", InstanceID: "bench-peer-lat-1",
			Records: e.rec, SessionTimeout: 6 * time.Second, TransactionTimeout: 10 * time.Second,
			Logger: e.serviceLogger(), StatsInterval: time.Hour,
		})
		if err != nil {
			return nil, err
		}
		mctx, cancel := context.WithCancel(ctx)
		s := &managerSystem{m: m, cancel: cancel, finished: make(chan struct{})}
		go func() {
			defer close(s.finished)
			s.err = m.Run(mctx)
		}()
		return s, nil
	}
	appID := fmt.Sprintf("bench-%s-peer-lat-c%d", e.runID, commitMs)
	p, err := startPeer(pr.jar, pr.logDir, peerOptions{Bootstrap: e.brokers, Compression: e.compression(), AppID: appID, Requests: set.Requests,
		Catalog: set.Catalog, Validated: set.Validated, Invalid: set.Invalid, Schemas: pr.schemas, CommitIntervalMs: commitMs})
	if err != nil {
		return nil, err
	}
	s := peerSystem{p: p, drop: func() { e.deleteTopics(appID + "-carts-changelog") }}
	if err := p.waitRunning(ctx, 90*time.Second); err != nil {
		return nil, errors.Join(err, s.stop())
	}
	return s, nil
}

// peerWarmup is how many commands warm a system up before the measured
// load: a JIT compiler needs a few thousand passes through the hot path
// before it is at speed, and the manager gets the same.
func (e *env) peerWarmup() int {
	if e.cfg.Quick {
		return 300
	}
	return 3000
}

// openLoop writes the warm-up commands and waits for their outcomes,
// then writes LatencyRate commands/s for LatencyDuration directly to
// cart.requests as the gateway writes them, and measures from the start of
// each produce to its outcome being visible to a read_committed watcher.
func (e *env) openLoop(ctx context.Context, set topics.Set, sys latencySystem, l PeerLatency, in latencyInput) (PeerLatency, error) {
	w, err := e.watch(ctx, set.Validated, set.Invalid)
	if err != nil {
		return l, err
	}
	defer w.stop()
	pr, err := e.newProducer(0, nil) // the gateway's linger
	if err != nil {
		return l, err
	}
	defer pr.close()
	if err := e.warmUp(ctx, set, pr, w, in); err != nil {
		return l, err
	}
	cmds, n := in.load, len(in.load)
	e.waitBrokerQuiet(ctx) // as for the manager's own latency phases
	c0, err := sys.commits(ctx, time.Now())
	if err != nil {
		return l, err
	}
	cpu, pcpu := sampleCPU(e.brokerPID), sys.cpu()
	starts, err := e.schedule(ctx, set.Requests, pr, cmds, in.trace)
	if err != nil {
		return l, err
	}
	ids := requestIDs(cmds)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	l.Missing = w.waitAll(wctx, ids)
	cancel()
	l.Seconds = time.Since(cpu.at).Seconds()
	l.CPU, l.PeerCPU = cpuSince(cpu, e.brokerPID), (sys.cpu() - pcpu).Seconds()
	c1, err := sys.commits(ctx, time.Now())
	if err != nil {
		return l, err
	}
	l.Sent, l.Transactions, l.TxPerSecond = n, c1-c0, float64(c1-c0)/l.Seconds
	var outs []time.Duration
	for i, id := range ids {
		if at, ok := w.seenAt(id); ok {
			outs = append(outs, at.Sub(starts[i]))
		}
	}
	l.Outcome = percentiles(outs)
	return l, nil
}

// latencyInput is the latency phase's commands, made once so that every
// system gets the very same records (request times included).
type latencyInput struct {
	warm, load []cart.Command
	trace      func() string
}

// latencyInput generates peerWarmup warm-up commands on their own carts,
// then LatencyRate x LatencyDuration commands over 2000 carts.
func (e *env) latencyInput(skus []cart.SKU) latencyInput {
	now := time.Now()
	warm := newWorkload(7, "pw"+e.runID, skus)
	in := latencyInput{warm: make([]cart.Command, e.peerWarmup()), trace: warm.traceparent}
	for i := range in.warm {
		in.warm[i] = warm.next(i%500, now)
	}
	wl := newWorkload(4, "pl"+e.runID, skus)
	in.load = make([]cart.Command, int(float64(e.cfg.LatencyRate)*e.cfg.LatencyDuration.Seconds()))
	for i := range in.load {
		in.load[i] = wl.next(wl.rng.IntN(2000), now)
	}
	return in
}

// warmUp writes the warm-up commands as fast as they go and waits until
// every outcome is visible: the system joined, restored and is at speed.
func (e *env) warmUp(ctx context.Context, set topics.Set, pr *producer, w *watcher, in latencyInput) error {
	ids := make([]string, len(in.warm))
	for i, cmd := range in.warm {
		msg, err := requestRecord(e.rec, cmd, in.trace())
		if err != nil {
			return fmt.Errorf("encode warm-up command: %w", err)
		}
		if err := pr.produce(ctx, set.Requests, msg); err != nil {
			return err
		}
		ids[i] = string(cmd.Meta().RequestID)
	}
	if err := pr.flush(ctx); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if missing := w.waitAll(wctx, ids); missing > 0 {
		return fmt.Errorf("warm-up: %d of %d outcomes not visible within 90s", missing, len(ids))
	}
	return nil
}

// schedule produces cmds open loop, LatencyRate per second, and returns
// when each produce started.
func (e *env) schedule(ctx context.Context, topic string, pr *producer, cmds []cart.Command, trace func() string) ([]time.Time, error) {
	return e.scheduleAt(ctx, topic, pr, cmds, e.cfg.LatencyRate, trace)
}

// scheduleAt is schedule at rate commands per second.
func (e *env) scheduleAt(ctx context.Context, topic string, pr *producer, cmds []cart.Command, rate int, trace func() string) ([]time.Time, error) {
	starts := make([]time.Time, len(cmds))
	interval := time.Second / time.Duration(rate)
	begin := time.Now()
	for i, cmd := range cmds {
		if d := time.Until(begin.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d) // the open-loop schedule
		}
		msg, err := requestRecord(e.rec, cmd, trace())
		if err != nil {
			return nil, fmt.Errorf("encode command %d: %w", i, err)
		}
		starts[i] = time.Now()
		if err := pr.produce(ctx, topic, msg); err != nil {
			return nil, err
		}
	}
	return starts, pr.flush(ctx)
}
