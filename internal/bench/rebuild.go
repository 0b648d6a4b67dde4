package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/internal/kafkaconf"
	"github.com/cartstream/cartstream/internal/service"
	"github.com/cartstream/cartstream/internal/topics"
	"github.com/cartstream/cartstream/projection"
)

// RebuildTarget is the projection's cold rebuild rate as a share of a raw
// read_committed read of the same cart.state.
const RebuildTarget = 0.80 // issue 16

// RebuildResult is the read side's cold start: cart.state of Carts
// snapshots read by a raw consumer (the baseline) and rebuilt by the
// projection, alternating Rounds times, best of each kept; then
// cmd/cart-projection as an OS process, idle and loaded, for its memory.
type RebuildResult struct {
	Carts           int   `json:"carts"`
	CommandsPerCart int   `json:"commands_per_cart"`
	Partitions      int   `json:"partitions"`
	Records         int64 `json:"records"`
	// Bytes are the keys and values of the records; DiskBytes the topic's
	// size on the broker's disk (-1 when the broker is not local).
	Bytes       int64   `json:"bytes"`
	DiskBytes   int64   `json:"disk_bytes"`
	LoadSeconds float64 `json:"load_s"`
	Rounds      int     `json:"rounds"`
	Raw         ReadRun `json:"raw_read"`
	Projection  ReadRun `json:"projection"`
	Ratio       float64 `json:"ratio"`
	Target      float64 `json:"target_ratio"`
	Pass        bool    `json:"pass"`
	// The OS process (cmd/cart-projection): from exec to its "projection:
	// ready" log line, and its memory idle (empty topics) and loaded.
	ProcessRebuildSeconds float64 `json:"process_rebuild_s"`
	IdleRSS               int64   `json:"idle_rss_kib"`
	LoadedRSS             int64   `json:"loaded_rss_kib"`
	LoadedHWM             int64   `json:"loaded_hwm_kib"`
	KiBPerCart            float64 `json:"rss_kib_per_cart"`
	IdleHeapMiB           float64 `json:"idle_live_heap_mib"` // -1: no GC yet

	LoadedHeapMiB  float64  `json:"loaded_live_heap_mib"`
	HeapKiBPerCart float64  `json:"heap_kib_per_cart"`
	Profiles       []string `json:"profiles,omitempty"`
	// Warm is a restart from the local checkpoint (warm.go).
	Warm  *WarmResult `json:"warm,omitempty"`
	Error string      `json:"error,omitempty"`
}

// ReadRun is one reader of a rebuild: the best of its rounds.
type ReadRun struct {
	Seconds   float64   `json:"seconds"`
	Each      []float64 `json:"each_s"`
	CartsPerS float64   `json:"records_per_s"`
	MiBPerS   float64   `json:"mib_per_s"`
	CPU       CPUUse    `json:"cpu"` // of the best round
}

func (r *ReadRun) add(took time.Duration, cpu CPUUse, records, bytes int64) {
	s := took.Seconds()
	r.Each = append(r.Each, s)
	if r.Seconds == 0 || s < r.Seconds {
		r.Seconds, r.CPU = s, cpu
		r.CartsPerS = float64(records) / s
		r.MiBPerS = float64(bytes) / (1 << 20) / s
	}
}

// readFixture is a loaded cart.state and the cmd/cart-projection process
// that rebuilt it: rebuild builds it, getcart queries it. It lives until
// closeReadFixture.
type readFixture struct {
	set     topics.Set
	prefix  string // of the cart ids
	carts   int
	cleanup func()
	dir     string
	bin     string
	proc    *managerProc
	addr    string // the process's gRPC address once loaded
}

// openReadFixture creates the read scenarios' topics and catalog and
// builds cmd/cart-projection.
func (e *env) openReadFixture(ctx context.Context) (*readFixture, error) {
	e.closeReadFixture()
	set, cleanup, err := e.topicSet(ctx, "read")
	if err != nil {
		return nil, err
	}
	fx := &readFixture{set: set, prefix: "r" + e.runID, carts: e.cfg.RebuildCarts, cleanup: cleanup}
	e.fixture = fx
	if err := e.seedCatalog(ctx, set.Catalog, products(e.cfg.Products)); err != nil {
		return nil, err
	}
	if fx.dir, err = os.MkdirTemp("", "cartbench-projection-"); err != nil {
		return nil, err
	}
	if fx.bin, err = e.buildProjection(ctx, fx.dir); err != nil {
		return nil, err
	}
	args := []string{
		"-brokers", e.brokers, "-" + kafkaconf.Flag, e.cfg.KafkaConfig, "-topic-prefix", topicPrefix(set), "-partitions", strconv.Itoa(e.cfg.Partitions),
		"-grpc-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-log-format", "json",
	}
	if fx.proc, err = newManagerProc(fx.bin, fx.dir, args, []string{"GODEBUG=gctrace=1"}); err != nil {
		return nil, err
	}
	return fx, nil
}

// closeReadFixture stops the projection process and deletes the topics.
func (e *env) closeReadFixture() {
	fx := e.fixture
	if fx == nil {
		return
	}
	e.fixture = nil
	if fx.proc != nil {
		if err := fx.proc.stop(); err != nil {
			e.logf("bench: stop cart-projection: %v", err)
		}
		fx.proc.close()
	}
	if fx.dir != "" {
		_ = os.RemoveAll(fx.dir)
	}
	fx.cleanup()
}

// dataset is the fixture's carts.
func (e *env) dataset(fx *readFixture) carts {
	return carts{prefix: fx.prefix, n: fx.carts, perCart: e.cfg.CommandsPerCart, products: products(e.cfg.Products), partitions: e.cfg.Partitions}
}

// startProjection starts the fixture's process and waits for it to be
// ready; it returns the time from exec to its "projection: ready" line.
func (e *env) startProjection(ctx context.Context, fx *readFixture) (time.Duration, error) {
	t0 := time.Now()
	off, err := fx.proc.start()
	if err != nil {
		return 0, err
	}
	ready, err := fx.proc.waitLog(ctx, off, "projection: ready", 3*time.Minute)
	if err != nil {
		return 0, err
	}
	ls, _ := fx.proc.lines(off)
	for _, l := range ls {
		if a, ok := l.Attrs["addr"].(string); ok && l.Msg == "projection: serving gRPC (NOT_SERVING until caught up)" {
			fx.addr = a
		}
	}
	if fx.addr == "" {
		return 0, fmt.Errorf("cart-projection logged no gRPC address (log: %s)", fx.proc.logPath)
	}
	return ready.Time.Sub(t0), nil
}

// buildProjection compiles cmd/cart-projection into dir, unless the
// config names a binary.
func (e *env) buildProjection(ctx context.Context, dir string) (string, error) {
	if e.cfg.ProjectionBin != "" {
		return e.cfg.ProjectionBin, nil
	}
	bin := filepath.Join(dir, "cart-projection")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/cartstream/cartstream/cmd/cart-projection")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build cart-projection: %w\n%s", err, out)
	}
	return bin, nil
}

func topicPrefix(set topics.Set) string {
	return set.Requests[:len(set.Requests)-len(topics.DefaultSet().Requests)]
}

func (e *env) rebuild(ctx context.Context) (*RebuildResult, error) {
	cfg := e.cfg
	r := &RebuildResult{Carts: cfg.RebuildCarts, CommandsPerCart: cfg.CommandsPerCart, Partitions: cfg.Partitions, Rounds: 2, Target: RebuildTarget}
	if cfg.Quick {
		r.Rounds = 1
	}
	fx, err := e.openReadFixture(ctx)
	if err != nil {
		return r, err
	}
	if !cfg.runs("getcart") {
		defer e.closeReadFixture()
	}

	// Idle: the process on the empty topics, caught up, settled.
	if _, err := e.startProjection(ctx, fx); err != nil {
		return r, fmt.Errorf("idle cart-projection: %w", err)
	}
	time.Sleep(e.settle()) // start-up garbage and buffers settle before sampling
	r.IdleRSS = rssKiB(fx.proc.pid(), "VmRSS")
	_, gc := fx.proc.lines(0)
	r.IdleHeapMiB = gcLiveMiB(gc)
	if err := fx.proc.stop(); err != nil {
		return r, fmt.Errorf("stop idle cart-projection: %w", err)
	}
	e.logf("rebuild: idle cart-projection RSS %d KiB", r.IdleRSS)

	t0 := time.Now()
	if r.Bytes, err = e.loadSnapshots(ctx, fx.set.State, e.dataset(fx)); err != nil {
		return r, err
	}
	r.LoadSeconds = time.Since(t0).Seconds()
	r.DiskBytes = topicDiskBytes(e.logDir, fx.set.State)

	for round := range r.Rounds {
		runtime.GC() // the previous pass's garbage is not this one's cost
		cpu := sampleCPU(e.brokerPID)
		t := time.Now()
		n, size, err := e.rawRead(ctx, fx.set.State)
		took := time.Since(t)
		if err != nil {
			return r, fmt.Errorf("raw read: %w", err)
		}
		r.Raw.add(took, cpuSince(cpu, e.brokerPID), n, size)
		r.Records = n
		if size != r.Bytes || n != int64(r.Carts) {
			return r, fmt.Errorf("raw read %d records, %d bytes; loaded %d, %d", n, size, r.Carts, r.Bytes)
		}
		e.logf("rebuild: round %d: raw read %d records in %.2fs (%.0f/s)", round+1, n, took.Seconds(), float64(n)/took.Seconds())

		runtime.GC()
		stopProfile := func() {}
		if round == 0 {
			stopProfile = e.profile("rebuild-projection", &r.Profiles)
		}
		cpu = sampleCPU(e.brokerPID)
		st, took, err := e.projectionRebuild(ctx, fx.set)
		pcpu := cpuSince(cpu, e.brokerPID)
		stopProfile()
		if err != nil {
			return r, fmt.Errorf("projection: %w", err)
		}
		if st.StateRecords != n || st.Carts != r.Carts || st.SkippedRecords != 0 {
			return r, fmt.Errorf("projection read %d records into %d carts (%d skipped); want %d", st.StateRecords, st.Carts, st.SkippedRecords, n)
		}
		r.Projection.add(took, pcpu, n, size)
		e.logf("rebuild: round %d: projection ready in %.2fs (%.0f carts/s)", round+1, took.Seconds(), float64(n)/took.Seconds())
	}
	r.Ratio = r.Projection.CartsPerS / r.Raw.CartsPerS
	r.Pass = r.Ratio >= r.Target
	runtime.GC()
	if r.Warm, err = e.warmRestart(ctx, fx.set, r.Carts, r.Projection.Seconds); err != nil {
		return r, fmt.Errorf("warm restart: %w", err)
	}

	// Loaded: a fresh process rebuilds the same carts; it stays up for
	// getcart.
	took, err := e.startProjection(ctx, fx)
	if err != nil {
		return r, fmt.Errorf("loaded cart-projection: %w", err)
	}
	r.ProcessRebuildSeconds = took.Seconds()
	time.Sleep(e.settle())
	r.LoadedRSS = rssKiB(fx.proc.pid(), "VmRSS")
	r.LoadedHWM = rssKiB(fx.proc.pid(), "VmHWM")
	_, gc = fx.proc.lines(0)
	r.LoadedHeapMiB = gcLiveMiB(gc)
	r.KiBPerCart = float64(r.LoadedRSS-r.IdleRSS) / float64(r.Carts)
	if r.LoadedHeapMiB >= 0 {
		// An idle process that has not collected yet (-1) holds less than
		// the first GC's 4 MiB goal: counting it as 0 errs high.
		r.HeapKiBPerCart = (r.LoadedHeapMiB - max(r.IdleHeapMiB, 0)) * 1024 / float64(r.Carts)
	}
	e.logf("rebuild: cart-projection process ready in %.2fs; RSS %d KiB (%.2f KiB/cart above idle), live heap %.0f MiB",
		r.ProcessRebuildSeconds, r.LoadedRSS, r.KiBPerCart, r.LoadedHeapMiB)
	return r, nil
}

// rawRead is the rebuild's baseline: what the projection's cart.state
// follower does with decoding and storing skipped. The same client
// settings (projection.Config.consumerConfig: assigned, never joined,
// read_committed, partition EOF, librdkafka's fetch defaults), the same
// end condition (every partition at the last stable offset listed at
// start, or at its EOF). It returns the records and their key+value bytes.
func (e *env) rawRead(ctx context.Context, topic string) (int64, int64, error) {
	ends, err := e.endOffsets(ctx, topic, kafka.IsolationLevelReadCommitted)
	if err != nil {
		return 0, 0, err
	}
	starts, err := e.startOffsets(ctx, topic)
	if err != nil {
		return 0, 0, err
	}
	cons, err := kafka.NewConsumer(e.sut(kafka.ConfigMap{
		"group.id":                 "bench-" + e.runID + "-raw", // never joined
		"enable.auto.commit":       false,
		"enable.auto.offset.store": false,
		"isolation.level":          "read_committed",
		"enable.partition.eof":     true,
	}))
	if err != nil {
		return 0, 0, fmt.Errorf("raw consumer: %w", err)
	}
	defer func() { _ = cons.Close() }()
	var assign []kafka.TopicPartition
	pending := map[int32]bool{}
	for p, end := range ends {
		assign = append(assign, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.Offset(starts[p])})
		if end > 0 {
			pending[p] = true
		}
	}
	if err := cons.Assign(assign); err != nil {
		return 0, 0, fmt.Errorf("raw assign: %w", err)
	}
	var n, size int64
	for len(pending) > 0 {
		if err := ctx.Err(); err != nil {
			return n, size, err
		}
		switch ev := cons.Poll(100).(type) {
		case *kafka.Message:
			tp := ev.TopicPartition
			if tp.Error != nil {
				return n, size, fmt.Errorf("raw read %d: %w", tp.Partition, tp.Error)
			}
			n++
			size += int64(len(ev.Key) + len(ev.Value))
			if int64(tp.Offset)+1 >= ends[tp.Partition] {
				delete(pending, tp.Partition)
			}
		case kafka.PartitionEOF:
			delete(pending, ev.Partition)
		case kafka.Error:
			if ev.IsFatal() {
				return n, size, fmt.Errorf("raw consumer: %w", ev)
			}
		}
	}
	return n, size, nil
}

// projectionRebuild is the measured cold start: projection.New, Run until
// Ready. The projection is stopped before returning.
func (e *env) projectionRebuild(ctx context.Context, set topics.Set) (projection.Stats, time.Duration, error) {
	st, took, _, err := e.projectionStart(ctx, set, "")
	return st, took, err
}

// projectionStart is projection.New, Run until Ready, with the checkpoint
// in dir ("" for none); then it stops the projection. It returns the time
// to Ready and the time the stop took (the checkpoint's last batch).
func (e *env) projectionStart(ctx context.Context, set topics.Set, dir string) (projection.Stats, time.Duration, time.Duration, error) {
	t0 := time.Now()
	p, err := projection.New(projection.Config{
		Client: e.base(), Topics: set, TopicConfig: topics.Config{Partitions: e.cfg.Partitions},
		Records: e.rec, Logger: e.serviceLogger(), CheckpointDir: dir, CheckpointInterval: time.Hour,
	})
	if err != nil {
		return projection.Stats{}, 0, 0, err
	}
	pctx, cancel := context.WithCancel(ctx)
	// The GC percent cmd/cart-projection rebuilds under by default, back
	// to the bench's own before the next reader is timed.
	restored := service.RebuildGC(pctx, p.Ready(), service.DefaultRebuildGCPercent, e.serviceLogger())
	defer func() { cancel(); <-restored }()
	done := make(chan error, 1)
	go func() { done <- p.Run(pctx) }()
	select {
	case <-p.Ready():
	case err := <-done:
		if err == nil {
			err = errors.New("Run returned nil")
		}
		return p.Stats(), 0, 0, fmt.Errorf("ended before it was ready: %w", err)
	case <-ctx.Done():
		cancel()
		<-done
		return p.Stats(), 0, 0, ctx.Err()
	}
	took := time.Since(t0)
	st := p.Stats()
	t1 := time.Now()
	cancel()
	err = <-done
	return st, took, time.Since(t1), err
}
