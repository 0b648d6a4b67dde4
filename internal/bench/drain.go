package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/topics"
	"github.com/cartstream/cartstream/validation"
)

// DrainTarget is the manager's drain rate as a share of the copy loop's.
const DrainTarget = 0.70

// DrainResult is scenario 1.
type DrainResult struct {
	Commands    int      `json:"commands"`
	Carts       int      `json:"carts"`
	Products    int      `json:"products"`
	Partitions  int      `json:"partitions"`
	InputBytes  int64    `json:"input_disk_bytes"`
	PreloadRate float64  `json:"preload_records_per_s"`
	Copy        DrainRun `json:"copy_loop"`
	Manager     DrainRun `json:"manager"`
	Ratio       float64  `json:"ratio"`
	SteadyRatio float64  `json:"steady_ratio"`
	Target      float64  `json:"target_ratio"`
	Pass        bool     `json:"pass"`
	Accepted    int64    `json:"manager_accepted"`
	Rejected    int64    `json:"manager_rejected"`
	Profiles    []string `json:"profiles,omitempty"`
	Error       string   `json:"error,omitempty"`
}

// DrainRun is one drain of the pre-loaded requests.
type DrainRun struct {
	// Seconds is from start (cold: before the group join) until every
	// partition's committed offset reached its end.
	Seconds float64 `json:"seconds"`
	Rate    float64 `json:"records_per_s"`
	// StartupSeconds is start until the first committed offset was seen;
	// SteadyRate counts the records committed after that (0 when the rest
	// took under half a second).
	StartupSeconds float64 `json:"startup_s"`
	SteadyRate     float64 `json:"steady_records_per_s"`
	Transactions   int64   `json:"transactions"`
	MeanBatch      float64 `json:"mean_batch_records"`
	// CommitSeconds is time inside SendOffsetsToTransaction + CommitTransaction.
	CommitSeconds float64 `json:"commit_s"`
	MeanCommitMs  float64 `json:"mean_commit_ms"`
	// OutputOffsets counts records written (plus transaction markers) to
	// the run's output topics; OutputBytes is their size on the broker's
	// disk (-1 when the broker is not a local process).
	OutputOffsets int64  `json:"output_offsets"`
	OutputBytes   int64  `json:"output_disk_bytes"`
	CPU           CPUUse `json:"cpu"`
}

func (e *env) drain(ctx context.Context) (*DrainResult, error) {
	cfg := e.cfg
	r := &DrainResult{Commands: cfg.DrainCommands, Carts: cfg.DrainCarts, Products: cfg.Products, Partitions: cfg.Partitions, Target: DrainTarget}
	set, cleanup, err := e.topicSet(ctx, "drain")
	if err != nil {
		return r, err
	}
	defer cleanup()
	copyOut := set.Requests + ".copy-out"
	if err := e.createTopic(ctx, copyOut); err != nil {
		return r, err
	}
	defer e.deleteTopics(copyOut)

	cat := products(cfg.Products)
	if err := e.seedCatalog(ctx, set.Catalog, cat); err != nil {
		return r, err
	}
	// One pre-loaded input serves both runs: the same bytes, the same
	// partitions; each run reads it in its own consumer group.
	w := newWorkload(1, "d"+e.runID, skusOf(cat))
	t0 := time.Now()
	if err := e.preload(ctx, "drain: preload", set.Requests, cfg.DrainCommands, func(i int) cart.Command {
		c := i
		if i >= cfg.DrainCarts {
			c = w.rng.IntN(cfg.DrainCarts)
		}
		return w.next(c, time.Now())
	}, w.traceparent); err != nil {
		return r, err
	}
	r.PreloadRate = float64(cfg.DrainCommands) / time.Since(t0).Seconds()
	ends, err := e.endOffsets(ctx, set.Requests, kafka.IsolationLevelReadCommitted)
	if err != nil {
		return r, err
	}
	if got := sum(ends); got != int64(cfg.DrainCommands) {
		return r, fmt.Errorf("pre-loaded %d records, end offsets sum to %d", cfg.DrainCommands, got)
	}
	r.InputBytes = topicDiskBytes(e.logDir, set.Requests)

	e.logf("drain: baseline, the exactly-once copy loop")
	if r.Copy, err = e.drainCopy(ctx, set.Requests, copyOut, ends, r); err != nil {
		return r, err
	}
	e.logf("drain: copy loop %.0f records/s (%.1fs)", r.Copy.Rate, r.Copy.Seconds)
	e.logf("drain: the AddItemManager, cold start")
	if r.Manager, err = e.drainManager(ctx, set, ends, r); err != nil {
		return r, err
	}
	e.logf("drain: manager %.0f commands/s (%.1fs)", r.Manager.Rate, r.Manager.Seconds)
	r.Ratio = r.Manager.Rate / r.Copy.Rate
	if r.Copy.SteadyRate > 0 {
		r.SteadyRatio = r.Manager.SteadyRate / r.Copy.SteadyRate
	}
	r.Pass = r.Ratio >= DrainTarget
	return r, nil
}

func (e *env) createTopic(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	res, err := e.admin.CreateTopics(ctx, []kafka.TopicSpecification{{Topic: name, NumPartitions: e.cfg.Partitions, ReplicationFactor: -1}},
		kafka.SetAdminOperationTimeout(30*time.Second))
	if err != nil {
		return fmt.Errorf("create topic %s: %w", name, err)
	}
	if c := res[0].Error.Code(); c != kafka.ErrNoError && c != kafka.ErrTopicAlreadyExists {
		return fmt.Errorf("create topic %s: %w", name, res[0].Error)
	}
	return nil
}

func (e *env) seedCatalog(ctx context.Context, topic string, ps []cart.Product) error {
	pr, err := e.newProducer(5*time.Millisecond, nil)
	if err != nil {
		return err
	}
	defer pr.close()
	for _, p := range ps {
		v, err := e.rec.EncodeProduct(p)
		if err != nil {
			return fmt.Errorf("encode product %s: %w", p.SKU, err)
		}
		if err := pr.produce(ctx, topic, kafka.Message{Key: []byte(p.SKU), Value: v}); err != nil {
			return err
		}
	}
	return pr.flush(ctx)
}

// preload writes n commands from gen to topic as the gateway would, with
// progress on stderr.
func (e *env) preload(ctx context.Context, what, topic string, n int, gen func(i int) cart.Command, trace func() string) error {
	pr, err := e.newProducer(10*time.Millisecond, nil)
	if err != nil {
		return err
	}
	defer pr.close()
	p := e.progress(what, int64(n), pr.delivered.Load)
	defer p.done()
	for i := range n {
		msg, err := requestRecord(e.rec, gen(i), trace())
		if err != nil {
			return fmt.Errorf("encode command %d: %w", i, err)
		}
		if err := pr.produce(ctx, topic, msg); err != nil {
			return err
		}
	}
	return pr.flush(ctx)
}

// profile starts a CPU profile into OutDir and appends its path to paths;
// the returned stop ends it.
func (e *env) profile(name string, paths *[]string) func() {
	if !e.cfg.Profile || e.cfg.OutDir == "" {
		return func() {}
	}
	path := filepath.Join(e.cfg.OutDir, e.cfg.FilePrefix+"-"+name+".cpu.pprof")
	f, err := os.Create(path)
	if err != nil {
		e.logf("bench: profile: %v", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		e.logf("bench: profile: %v", err)
		f.Close()
		return func() {}
	}
	*paths = append(*paths, path)
	allocs := e.allocProfile(name, paths)
	return func() { pprof.StopCPUProfile(); f.Close(); allocs() }
}

// allocProfile writes the process's cumulative allocation profile now
// (<name>.allocs-base.pprof) and again at the returned stop
// (<name>.allocs.pprof): `go tool pprof -sample_index=alloc_space -base
// base end` is what the phase allocated, the garbage collector's work.
func (e *env) allocProfile(name string, paths *[]string) func() {
	write := func(suffix string) {
		path := filepath.Join(e.cfg.OutDir, e.cfg.FilePrefix+"-"+name+suffix)
		f, err := os.Create(path)
		if err != nil {
			e.logf("bench: profile: %v", err)
			return
		}
		defer f.Close()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			e.logf("bench: profile: %v", err)
			return
		}
		*paths = append(*paths, path)
	}
	write(".allocs-base.pprof")
	return func() { write(".allocs.pprof") }
}

func (e *env) drainCopy(ctx context.Context, input, output string, ends map[int32]int64, r *DrainResult) (DrainRun, error) {
	var run DrainRun
	group := "bench-" + e.runID + "-drain-copy"
	cl := newCopyLoop(e, input, output, group)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopProfile := e.profile("drain-copy", &r.Profiles)
	cpu := sampleCPU(e.brokerPID)
	done := make(chan error, 1)
	go func() { done <- cl.run(cctx) }()
	d, err := e.waitDrainedOr(ctx, group, input, ends, done)
	run.CPU = cpuSince(cpu, e.brokerPID)
	stopProfile()
	cancel()
	if rerr := <-done; rerr != nil && err == nil && ctx.Err() == nil {
		err = rerr
	}
	if err != nil {
		return run, err
	}
	run.fill(cpu.at, d, sum(ends))
	run.Transactions = cl.batches.Load()
	run.CommitSeconds = time.Duration(cl.offsetNanos.Load() + cl.commNanos.Load()).Seconds()
	run.finish(cl.records.Load())
	run.OutputOffsets, run.OutputBytes = e.outputVolume(ctx, output)
	e.logf("drain: copy loop time: fill %.1fs, begin+produce %.1fs, send offsets %.1fs, commit %.1fs over %d transactions",
		time.Duration(cl.fillNanos.Load()).Seconds(), time.Duration(cl.prodNanos.Load()).Seconds(),
		time.Duration(cl.offsetNanos.Load()).Seconds(), time.Duration(cl.commNanos.Load()).Seconds(), run.Transactions)
	return run, nil
}

func (e *env) drainManager(ctx context.Context, set topics.Set, ends map[int32]int64, r *DrainResult) (DrainRun, error) {
	var run DrainRun
	group := "bench-" + e.runID + "-drain-manager"
	m, err := validation.New(validation.Config{Producers: e.cfg.Producers, MaxBatchRecords: e.cfg.ManagerBatch,
		Client: e.base(), Topics: set,
		GroupID: group, InstanceID: "bench-drain-1", Records: e.rec,
		SessionTimeout: 6 * time.Second, TransactionTimeout: 10 * time.Second,
		Logger:        e.serviceLogger(),
		StatsInterval: time.Hour,
	})
	if err != nil {
		return run, err
	}
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopProfile := e.profile("drain-manager", &r.Profiles)
	cpu := sampleCPU(e.brokerPID)
	done := make(chan error, 1)
	go func() { done <- m.Run(mctx) }()
	d, err := e.waitDrainedOr(ctx, group, set.Requests, ends, done)
	run.CPU = cpuSince(cpu, e.brokerPID)
	stopProfile()
	cancel()
	if rerr := <-done; rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return run, err
	}
	st := m.Stats().Snapshot()
	run.fill(cpu.at, d, sum(ends))
	run.Transactions = st.Commits
	run.CommitSeconds = (st.MeanCommit * time.Duration(max(st.Commits, 1))).Seconds()
	run.finish(st.Processed + st.Duplicates + st.Stale + st.Malformed)
	r.Accepted, r.Rejected = st.Accepted, st.Rejected
	var offs, bytes int64
	for _, t := range []string{set.Validated, set.Invalid, set.State} {
		o, b := e.outputVolume(ctx, t)
		offs += o
		bytes += b
	}
	run.OutputOffsets, run.OutputBytes = offs, bytes
	e.logf("drain: manager stats: processed %d (accepted %d, rejected %d), %d commits, mean commit %s, max %s, restarts %d",
		st.Processed, st.Accepted, st.Rejected, st.Commits, st.MeanCommit.Round(time.Microsecond), st.MaxCommit.Round(time.Microsecond), st.Restarts)
	return run, nil
}

// waitDrainedOr is waitDrained that also ends when the drainer's run
// returns early (its error is then the cause).
func (e *env) waitDrainedOr(ctx context.Context, group, topic string, ends map[int32]int64, done chan error) (drained, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	early := make(chan error, 1)
	go func() {
		select {
		case err := <-done:
			early <- err
			done <- err // for the caller's receive
			cancel()
		case <-wctx.Done():
		}
	}()
	d, err := e.waitDrained(wctx, group, topic, ends, 50*time.Millisecond)
	select {
	case rerr := <-early:
		if err != nil {
			return d, fmt.Errorf("ended before the drain was complete: %w", rerr)
		}
	default:
	}
	return d, err
}

func (run *DrainRun) fill(start time.Time, d drained, n int64) {
	run.Seconds = d.at.Sub(start).Seconds()
	run.Rate = float64(n) / run.Seconds
	if !d.firstProgress.IsZero() {
		run.StartupSeconds = d.firstProgress.Sub(start).Seconds()
		// Too short a span after the first commit says nothing steady.
		if s := d.at.Sub(d.firstProgress).Seconds(); s >= 0.5 {
			run.SteadyRate = float64(n-d.firstCount) / s
		}
	}
}

func (run *DrainRun) finish(records int64) {
	if run.Transactions > 0 {
		run.MeanBatch = float64(records) / float64(run.Transactions)
		run.MeanCommitMs = run.CommitSeconds * 1000 / float64(run.Transactions)
	}
}

// outputVolume is the records (log end offsets, markers included) and disk
// bytes of topic.
func (e *env) outputVolume(ctx context.Context, topic string) (int64, int64) {
	ends, err := e.endOffsets(ctx, topic, kafka.IsolationLevelReadUncommitted)
	if err != nil {
		return -1, -1
	}
	return sum(ends), topicDiskBytes(e.logDir, topic)
}

// serviceLogger is the log of services the bench runs in process:
// warnings and errors only, on stderr.
func (e *env) serviceLogger() *slog.Logger {
	// CARTBENCH_SERVICE_LOG=info (or debug) shows the services' own
	// progress lines, e.g. to time a rebuild's phases.
	level := slog.LevelWarn
	if v := os.Getenv("CARTBENCH_SERVICE_LOG"); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			level = slog.LevelWarn
		}
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
