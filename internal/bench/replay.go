package bench

import (
	"context"
	"time"

	"github.com/cartstream/cartstream/internal/replay"
)

// ReplayTarget is the replay's rate as a share of a raw read of the same
// records.
const ReplayTarget = 0.70

// replayCommandsPerCart gives the replayed carts longer histories than the
// rebuild's: a replay folds every event of a cart.
const replayCommandsPerCart = 8

// ReplayResult is cartctl replay's throughput: internal/replay.Bench (the
// measurement of `cartctl replay --bench`) over a cart.validated of at
// least Events events: the fold of every cart against a raw
// read_committed read of the same span with decoding skipped, alternated
// Rounds times, best of each.
type ReplayResult struct {
	Events          int64              `json:"events"`
	Carts           int                `json:"carts"`
	CommandsPerCart int                `json:"commands_per_cart"`
	LoadSeconds     float64            `json:"load_s"`
	Bench           replay.BenchResult `json:"bench"`
	Target          float64            `json:"target_ratio"`
	Pass            bool               `json:"pass"`
	CPU             CPUUse             `json:"cpu"`
	Profiles        []string           `json:"profiles,omitempty"`
	Error           string             `json:"error,omitempty"`
}

func (e *env) replayBench(ctx context.Context) (*ReplayResult, error) {
	cfg := e.cfg
	r := &ReplayResult{CommandsPerCart: replayCommandsPerCart, Target: ReplayTarget}
	set, cleanup, err := e.topicSet(ctx, "replay")
	if err != nil {
		return r, err
	}
	defer cleanup()
	t0 := time.Now()
	c := carts{prefix: "y" + e.runID, n: cfg.ReplayEvents, perCart: replayCommandsPerCart, products: products(cfg.Products), partitions: cfg.Partitions}
	if r.Events, r.Carts, err = e.loadEvents(ctx, set.Validated, c, cfg.ReplayEvents); err != nil {
		return r, err
	}
	r.LoadSeconds = time.Since(t0).Seconds()
	e.logf("replay: %d events of %d carts loaded; raw read and replay, %d rounds", r.Events, r.Carts, cfg.ReplayRounds)
	stopProfile := e.profile("replay", &r.Profiles)
	cpu := sampleCPU(e.brokerPID)
	r.Bench, err = replay.Bench(ctx, replay.Config{Client: e.base(), Topics: set, Decoder: e.rec, Logger: e.serviceLogger()}, replay.Scope{}, cfg.ReplayRounds)
	r.CPU = cpuSince(cpu, e.brokerPID)
	stopProfile()
	if err != nil {
		return r, err
	}
	r.Pass = r.Bench.Ratio >= r.Target && r.Bench.Records == r.Events
	e.logf("replay: %s", r.Bench)
	return r, nil
}
