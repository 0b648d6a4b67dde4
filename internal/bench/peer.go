package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/topics"
	"github.com/cartstream/cartstream/validation"
)

// The peer scenario's targets (issue 16): the manager drains at least
// PeerDrainTarget times as fast as the Kafka Streams peer, and its e2e p99
// is at most PeerP99ShareTarget of the peer's at Kafka Streams' default
// commit interval, and below the peer's at the short one.
const (
	PeerDrainTarget    = 1.5
	PeerP99ShareTarget = 0.2
)

// peerCommitIntervals are the peer's commit.interval.ms: Kafka Streams'
// default under exactly_once_v2 first, then a short one.
var peerCommitIntervals = []int{100, 10}

// PeerResult is the peer scenario: the AddItemManager against a Kafka
// Streams application doing its job (bench/peer), over the same records.
type PeerResult struct {
	Commands     int     `json:"commands"`
	Carts        int     `json:"carts"`
	Products     int     `json:"products"`
	Partitions   int     `json:"partitions"`
	BuildSeconds float64 `json:"peer_build_s"`
	// Manager is the manager's drain of the pre-loaded commands; Peers
	// are the peer's, one per commit interval, each with a fresh
	// application.id over the same input.
	Manager         DrainRun    `json:"manager_drain"`
	ManagerAccepted int64       `json:"manager_accepted"`
	ManagerRejected int64       `json:"manager_rejected"`
	Peers           []PeerDrain `json:"peer_drains"`
	// Ratio is the manager's drain rate over the faster peer drain's.
	Ratio       float64 `json:"ratio"`
	SteadyRatio float64 `json:"steady_ratio"`
	RatioTarget float64 `json:"ratio_target"`
	RatioPass   bool    `json:"ratio_pass"`
	// Agreement compares outcomes request by request, for each peer run
	// of the drain and of the latency phase.
	Agreement []PeerAgreement `json:"agreement"`
	// Latency is the same open-loop load against the manager, then the
	// peer at each commit interval.
	Latency        []PeerLatency `json:"latency"`
	P99ShareTarget float64       `json:"p99_share_target"`
	DefaultP99Pass bool          `json:"default_p99_pass"`
	FastP99Pass    bool          `json:"fast_p99_pass"`
	Error          string        `json:"error,omitempty"`
}

// PeerDrain is one drain by the peer.
type PeerDrain struct {
	CommitIntervalMs int      `json:"commit_interval_ms"`
	Run              DrainRun `json:"run"`
	// RunningSeconds is from exec until the peer printed PEER RUNNING
	// (JVM start, global store restored, first assignment).
	RunningSeconds float64 `json:"running_s"`
	PeerCPU        float64 `json:"peer_process_cpu_s"`
	Accepted       int64   `json:"accepted"`
	Rejected       int64   `json:"rejected"`
}

// PeerLatency is the open-loop load against one system.
type PeerLatency struct {
	System           string      `json:"system"` // "manager" or "peer"
	CommitIntervalMs int         `json:"commit_interval_ms,omitempty"`
	Rate             int         `json:"rate_per_s"`
	Seconds          float64     `json:"seconds"`
	Sent             int         `json:"sent"`
	Missing          int         `json:"missing_outcomes"`
	Outcome          Percentiles `json:"outcome_ms"`
	CPU              CPUUse      `json:"cpu"`
	PeerCPU          float64     `json:"peer_process_cpu_s,omitempty"`
	Transactions     int64       `json:"transactions"`
	TxPerSecond      float64     `json:"transactions_per_s"`
}

func (l PeerLatency) label() string {
	if l.System == "manager" {
		return "manager"
	}
	return fmt.Sprintf("peer @%d ms", l.CommitIntervalMs)
}

// peerRun is what every phase of the scenario needs.
type peerRun struct {
	jar, schemas, logDir string
	cat                  []cart.Product
}

func (e *env) peer(ctx context.Context) (r *PeerResult, err error) {
	cfg := e.cfg
	r = &PeerResult{Commands: cfg.DrainCommands, Carts: cfg.DrainCarts, Products: cfg.Products, Partitions: cfg.Partitions,
		RatioTarget: PeerDrainTarget, P99ShareTarget: PeerP99ShareTarget}
	pr, cleanup, err := e.peerSetup(ctx, r)
	if err != nil {
		return r, err
	}
	defer func() { cleanup(err != nil) }()
	if err := e.peerDrains(ctx, pr, r); err != nil {
		return r, err
	}
	if err := e.peerLatencies(ctx, pr, r); err != nil {
		return r, err
	}
	r.verdicts()
	return r, r.disagreement()
}

// peerSetup builds the peer and makes the directory its logs go to; the
// cleanup keeps the logs when the scenario failed: they are where to look.
func (e *env) peerSetup(ctx context.Context, r *PeerResult) (peerRun, func(failed bool), error) {
	t0 := time.Now()
	jar, err := e.buildPeer(ctx)
	if err != nil {
		return peerRun{}, nil, err
	}
	r.BuildSeconds = time.Since(t0).Seconds()
	root, err := moduleRoot(ctx)
	if err != nil {
		return peerRun{}, nil, err
	}
	dir, err := os.MkdirTemp("", "cartbench-peer-")
	if err != nil {
		return peerRun{}, nil, fmt.Errorf("peer log directory: %w", err)
	}
	e.logf("peer: built %s in %.1fs; its logs go to %s", jar, r.BuildSeconds, dir)
	pr := peerRun{jar: jar, schemas: filepath.Join(root, "internal", "records", "schemas"), logDir: dir, cat: products(e.cfg.Products)}
	return pr, func(failed bool) {
		if failed {
			e.logf("peer: the peer's logs are in %s", dir)
			return
		}
		os.RemoveAll(dir)
	}, nil
}

// peerDrains pre-loads the drain's commands once, drains them with the
// manager, then with the peer at each commit interval, and compares the
// outcomes of every peer run with the manager's.
func (e *env) peerDrains(ctx context.Context, pr peerRun, r *PeerResult) error {
	set, cleanup, err := e.topicSet(ctx, "peer")
	if err != nil {
		return err
	}
	defer cleanup()
	ends, err := e.peerPreload(ctx, set, pr.cat)
	if err != nil {
		return err
	}
	e.logf("peer: the AddItemManager drains %d commands", sum(ends))
	if r.Manager, r.ManagerAccepted, r.ManagerRejected, err = e.peerManagerDrain(ctx, set, ends); err != nil {
		return fmt.Errorf("manager drain: %w", err)
	}
	e.logf("peer: manager %.0f commands/s (%.1fs)", r.Manager.Rate, r.Manager.Seconds)
	want, err := e.readOutcomes(ctx, set.Validated, set.Invalid)
	if err != nil {
		return err
	}
	wantCarts, err := e.readSnapshots(ctx, set.State)
	if err != nil {
		return err
	}
	for _, ms := range peerCommitIntervals {
		e.logf("peer: the Kafka Streams peer drains them, commit.interval.ms=%d", ms)
		d, got, gotCarts, err := e.peerDrain(ctx, pr, set, ends, ms)
		if err != nil {
			return fmt.Errorf("peer drain at %d ms: %w", ms, err)
		}
		r.Peers = append(r.Peers, d)
		a := compareOutcomes(want, got)
		a.Phase, a.CommitIntervalMs = "drain", ms
		compareSnapshots(&a, wantCarts, gotCarts)
		r.Agreement = append(r.Agreement, a)
		e.logf("peer: peer @%d ms %.0f commands/s (%.1fs, RUNNING after %.1fs); %d of %d outcomes and %d of %d carts differ from the manager's",
			ms, d.Run.Rate, d.Run.Seconds, d.RunningSeconds, a.Mismatches, a.Requests, a.CartMismatches, a.Carts)
		for _, ex := range a.Examples {
			e.logf("peer:   %s", ex)
		}
	}
	return nil
}

// peerPreload seeds the catalog and writes the drain's commands, generated
// as the drain scenario generates them, and returns the end offsets.
func (e *env) peerPreload(ctx context.Context, set topics.Set, cat []cart.Product) (map[int32]int64, error) {
	cfg := e.cfg
	if err := e.seedCatalog(ctx, set.Catalog, cat); err != nil {
		return nil, err
	}
	w := newWorkload(1, "p"+e.runID, skusOf(cat))
	gen := func(i int) cart.Command {
		c := i
		if i >= cfg.DrainCarts {
			c = w.rng.IntN(cfg.DrainCarts)
		}
		return w.next(c, time.Now())
	}
	if err := e.preload(ctx, "peer: preload", set.Requests, cfg.DrainCommands, gen, w.traceparent); err != nil {
		return nil, err
	}
	return e.endOffsets(ctx, set.Requests, kafka.IsolationLevelReadCommitted)
}

// peerManagerDrain is the drain scenario's manager run on this scenario's
// topics and group.
func (e *env) peerManagerDrain(ctx context.Context, set topics.Set, ends map[int32]int64) (DrainRun, int64, int64, error) {
	var run DrainRun
	group := "bench-" + e.runID + "-peer-manager"
	m, err := validation.New(validation.Config{Producers: e.cfg.Producers, MaxBatchRecords: e.cfg.ManagerBatch,
		Client: e.base(), Topics: set, GroupID: group, InstanceID: "bench-peer-1", Records: e.rec,
		SessionTimeout: 6 * time.Second, TransactionTimeout: 10 * time.Second,
		Logger: e.serviceLogger(), StatsInterval: time.Hour,
	})
	if err != nil {
		return run, 0, 0, err
	}
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cpu := sampleCPU(e.brokerPID)
	var runErr error
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		runErr = m.Run(mctx)
	}()
	d, err := e.waitDrainedUnless(ctx, group, set.Requests, ends, finished)
	run.CPU = cpuSince(cpu, e.brokerPID)
	cancel()
	<-finished
	if err != nil || runErr != nil {
		return run, 0, 0, errors.Join(err, runErr)
	}
	st := m.Stats().Snapshot()
	run.fill(cpu.at, d, sum(ends))
	run.Transactions = st.Commits
	run.CommitSeconds = (st.MeanCommit * time.Duration(max(st.Commits, 1))).Seconds()
	run.finish(st.Processed + st.Duplicates + st.Stale + st.Malformed)
	run.OutputOffsets, run.OutputBytes = e.outputsVolume(ctx, set.Validated, set.Invalid, set.State)
	return run, st.Accepted, st.Rejected, nil
}

// waitDrainedUnless is waitDrained that gives up when the drainer stops
// first (stopped closes); the caller has the drainer's error.
func (e *env) waitDrainedUnless(ctx context.Context, group, topic string, ends map[int32]int64, stopped <-chan struct{}) (drained, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		select {
		case <-stopped:
			cancel()
		case <-wctx.Done():
		}
	}()
	d, err := e.waitDrained(wctx, group, topic, ends, 50*time.Millisecond)
	cancel()
	<-watching
	if err != nil && ctx.Err() == nil {
		return d, fmt.Errorf("the drainer stopped before the drain was complete: %w", err)
	}
	return d, err
}

func (e *env) outputsVolume(ctx context.Context, names ...string) (int64, int64) {
	var offs, bytes int64
	for _, t := range names {
		o, b := e.outputVolume(ctx, t)
		offs += o
		bytes += b
	}
	return offs, bytes
}

// peerDrainTopics are a peer drain's application id and own output topics.
func (e *env) peerDrainTopics(set topics.Set, commitMs int) (appID, validated, invalid string) {
	sfx := fmt.Sprintf(".peer-c%d", commitMs)
	return fmt.Sprintf("bench-%s-peer-drain-c%d", e.runID, commitMs), set.Validated + sfx, set.Invalid + sfx
}

// peerDrain runs the peer over the pre-loaded input until its committed
// offsets reach ends, stops it, and reads its outcomes and its carts'
// last snapshots.
func (e *env) peerDrain(ctx context.Context, pr peerRun, set topics.Set, ends map[int32]int64, commitMs int) (PeerDrain, map[string]outcome, map[string]string, error) {
	d := PeerDrain{CommitIntervalMs: commitMs}
	appID, validated, invalid := e.peerDrainTopics(set, commitMs)
	changelog := appID + "-carts-changelog"
	for _, t := range []string{validated, invalid} {
		if err := e.createTopic(ctx, t); err != nil {
			return d, nil, nil, err
		}
	}
	defer e.deleteTopics(validated, invalid, changelog)
	cpu := sampleCPU(e.brokerPID)
	p, err := startPeer(pr.jar, pr.logDir, peerOptions{Bootstrap: e.brokers, Compression: e.compression(), AppID: appID, Requests: set.Requests,
		Catalog: set.Catalog, Validated: validated, Invalid: invalid, Schemas: pr.schemas, CommitIntervalMs: commitMs})
	if err != nil {
		return d, nil, nil, err
	}
	defer p.stop()
	dr, err := e.waitDrainedUnless(ctx, appID, set.Requests, ends, p.exited)
	peerCPU := procCPU(p.pid())
	d.Run.CPU = cpuSince(cpu, e.brokerPID)
	if err != nil {
		return d, nil, nil, errors.Join(err, p.stop())
	}
	if at := p.runningAt(); !at.IsZero() {
		d.RunningSeconds = at.Sub(cpu.at).Seconds()
	}
	if err := p.stop(); err != nil {
		return d, nil, nil, err
	}
	st, err := p.latest(ctx, time.Time{}, time.Second)
	if err != nil {
		return d, nil, nil, err
	}
	d.PeerCPU = peerCPU.Seconds()
	d.Run.fill(cpu.at, dr, sum(ends))
	d.Run.Transactions, d.Accepted, d.Rejected = st.Commits, st.Accepted, st.Rejected
	d.Run.finish(st.Accepted + st.Rejected + st.Duplicates + st.Stale + st.Malformed)
	d.Run.OutputOffsets, d.Run.OutputBytes = e.outputsVolume(ctx, validated, invalid, changelog)
	got, err := e.readOutcomes(ctx, validated, invalid)
	if err != nil {
		return d, nil, nil, err
	}
	carts, err := e.readSnapshots(ctx, changelog)
	return d, got, carts, err
}

// verdicts sets the ratio and latency verdicts from the runs.
func (r *PeerResult) verdicts() {
	var best DrainRun
	for _, p := range r.Peers {
		if p.Run.Rate > best.Rate {
			best = p.Run
		}
	}
	if best.Rate > 0 {
		r.Ratio = r.Manager.Rate / best.Rate
		r.RatioPass = r.Ratio >= r.RatioTarget
	}
	if best.SteadyRate > 0 {
		r.SteadyRatio = r.Manager.SteadyRate / best.SteadyRate
	}
	var mgr *PeerLatency
	for i := range r.Latency {
		l := &r.Latency[i]
		switch {
		case l.System == "manager":
			mgr = l
		case mgr == nil || l.Missing > 0 || mgr.Missing > 0:
		case l.CommitIntervalMs == peerCommitIntervals[0]:
			r.DefaultP99Pass = mgr.Outcome.P99 <= r.P99ShareTarget*l.Outcome.P99
		case l.CommitIntervalMs == peerCommitIntervals[1]:
			r.FastP99Pass = mgr.Outcome.P99 < l.Outcome.P99
		}
	}
}

// disagreement is the scenario's error when the peer did not do the
// manager's work: a comparison of unequal work is no comparison.
func (r *PeerResult) disagreement() error {
	var errs []error
	for _, a := range r.Agreement {
		if a.Mismatches > 0 || a.CartMismatches > 0 {
			errs = append(errs, fmt.Errorf("%s @%d ms: the peer disagrees with the manager on %d of %d requests and %d of %d carts",
				a.Phase, a.CommitIntervalMs, a.Mismatches, a.Requests, a.CartMismatches, a.Carts))
		}
	}
	return errors.Join(errs...)
}

// writePeerRows is the peer scenario's part of the table.
func writePeerRows(row func(...string), verdict func(bool) string, p *PeerResult) {
	row("peer", fmt.Sprintf("manager drain, %d cmds / %d carts", p.Commands, p.Carts), fmt.Sprintf("%.0f cmd/s (%.1f s; steady %.0f/s; %d txns)", p.Manager.Rate, p.Manager.Seconds, p.Manager.SteadyRate, p.Manager.Transactions), "", "")
	for _, d := range p.Peers {
		row("peer", fmt.Sprintf("Kafka Streams peer drain @ commit %d ms", d.CommitIntervalMs), fmt.Sprintf("%.0f cmd/s (%.1f s, RUNNING at %.1f s; steady %.0f/s; %d txns; peer CPU %.1f s)",
			d.Run.Rate, d.Run.Seconds, d.RunningSeconds, d.Run.SteadyRate, d.Run.Transactions, d.PeerCPU), "", "")
	}
	row("peer", "manager / faster peer drain", fmt.Sprintf("%.2fx (steady %.2fx)", p.Ratio, p.SteadyRatio), fmt.Sprintf(">= %.1fx", p.RatioTarget), verdict(p.RatioPass && p.Error == ""))
	for _, a := range p.Agreement {
		row("peer", fmt.Sprintf("outcomes differing from the manager's, %s @ %d ms", a.Phase, a.CommitIntervalMs), fmt.Sprintf("%d of %d (manager %d acc / %d rej, peer %d / %d)",
			a.Mismatches, a.Requests, a.ManagerAccepted, a.ManagerRejected, a.PeerAccepted, a.PeerRejected), "0", verdict(a.Mismatches == 0))
		if a.Carts > 0 {
			row("peer", fmt.Sprintf("last snapshots differing, %s @ %d ms", a.Phase, a.CommitIntervalMs), fmt.Sprintf("%d of %d carts", a.CartMismatches, a.Carts), "0", verdict(a.CartMismatches == 0))
		}
	}
	for _, l := range p.Latency {
		row("peer", fmt.Sprintf("%s: outcome p50/p99/p99.9 @ %d/s", l.label(), l.Rate), fmt.Sprintf("%.1f / %.1f / %.1f ms (%d missing)", l.Outcome.P50, l.Outcome.P99, l.Outcome.P999, l.Missing), "", "")
		row("peer", fmt.Sprintf("%s: transactions/s; CPU s broker | bench | peer", l.label()), fmt.Sprintf("%.0f; %.1f | %.1f | %.1f", l.TxPerSecond, l.CPU.BrokerCPU, l.CPU.BenchCPU, l.PeerCPU), "", "")
	}
	row("peer", "manager p99 vs peer p99 @ default commit", "", fmt.Sprintf("<= %.0f%% of peer's", 100*p.P99ShareTarget), verdict(p.DefaultP99Pass && p.Error == ""))
	row("peer", "manager p99 vs peer p99 @ 10 ms commit", "", "below peer's", verdict(p.FastP99Pass && p.Error == ""))
	errRow(row, "peer", p.Error)
}
