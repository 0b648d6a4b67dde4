package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/internal/records"
)

// Result is one run: what ran where, and each scenario's numbers. A
// scenario that did not run is nil; one that failed carries its Error.
type Result struct {
	RunID    string          `json:"run_id"`
	Revision string          `json:"revision"`
	Started  time.Time       `json:"started"`
	Seconds  float64         `json:"seconds"`
	Quick    bool            `json:"quick"`
	Config   Config          `json:"config"`
	Machine  Machine         `json:"machine"`
	Drain    *DrainResult    `json:"drain,omitempty"`
	E2E      *E2EResult      `json:"e2e,omitempty"`
	Rebuild  *RebuildResult  `json:"rebuild,omitempty"`
	GetCart  *GetCartResult  `json:"getcart,omitempty"`
	Wait     *WaitResult     `json:"wait,omitempty"`
	Replay   *ReplayResult   `json:"replay,omitempty"`
	Recovery *RecoveryResult `json:"recovery,omitempty"`
	Memory   *MemoryResult   `json:"memory,omitempty"`
	// WarmupSeconds is how long the broker was driven before the first
	// scenario, so its JIT has compiled the transaction paths.
	WarmupSeconds float64     `json:"warmup_s,omitempty"`
	Peer          *PeerResult `json:"peer,omitempty"`
	// ReadScale is the read side over three projection replicas.
	ReadScale *ReadScaleResult `json:"readscale,omitempty"`
	// Checkout is the stock saga's checkout beside AddItem (checkout.go).
	Checkout *CheckoutResult `json:"checkout,omitempty"`
}

// Failed reports whether a scenario ended with an error.
func (r *Result) Failed() bool {
	return (r.Drain != nil && r.Drain.Error != "") || (r.E2E != nil && r.E2E.Error != "") ||
		(r.Rebuild != nil && r.Rebuild.Error != "") || (r.GetCart != nil && r.GetCart.Error != "") ||
		(r.Wait != nil && r.Wait.Error != "") || (r.Replay != nil && r.Replay.Error != "") ||
		(r.Recovery != nil && r.Recovery.Error != "") || (r.Memory != nil && r.Memory.Error != "") ||
		(r.Peer != nil && r.Peer.Error != "") || (r.ReadScale != nil && r.ReadScale.Error != "") ||
		(r.Checkout != nil && r.Checkout.Error != "")
}

// Scenario time bounds: a scenario that overruns is cut off and reports
// the error; the run goes on with the next one.
var scenarioTimeout = map[string]time.Duration{
	"drain": 8 * time.Minute, "e2e": 4 * time.Minute, "rebuild": 6 * time.Minute, "getcart": 4 * time.Minute,
	"wait": 3 * time.Minute, "replay": 5 * time.Minute, "recovery": 5 * time.Minute, "memory": 6 * time.Minute,
	"peer": 20 * time.Minute, "readscale": 30 * time.Minute, "checkout": 5 * time.Minute,
}

// Run runs the configured scenarios one after the other against the broker
// at cfg.Brokers. logf receives progress lines. The error is for what
// prevents any run at all; scenario failures are in the Result.
func Run(ctx context.Context, cfg Config, revision string, logf func(format string, args ...any)) (*Result, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rec, err := records.New(records.Config{})
	if err != nil {
		return nil, err
	}
	adminCfg := kafka.ConfigMap{"bootstrap.servers": cfg.Brokers}
	for k, v := range cfg.Kafka {
		adminCfg[k] = v
	}
	admin, err := kafka.NewAdminClient(&adminCfg)
	if err != nil {
		return nil, fmt.Errorf("admin client: %w", err)
	}
	defer admin.Close()
	var b [3]byte
	_, _ = rand.Read(b[:])
	res := &Result{
		RunID: hex.EncodeToString(b[:]), Revision: revision, Started: time.Now().UTC(),
		Quick: cfg.Quick, Config: cfg, Machine: machineInfo(cfg.Brokers),
	}
	e := &env{
		cfg: cfg, brokers: cfg.Brokers, runID: res.RunID, rec: rec, admin: admin,
		brokerPID: res.Machine.BrokerPID, logDir: brokerLogDir(res.Machine.BrokerPID), logf: logf,
	}
	logf("bench: run %s on %d CPUs (%s), Kafka %s, load average %s", res.RunID, res.Machine.NumCPU, res.Machine.CPUModel, res.Machine.KafkaVersion, res.Machine.LoadAvgStart)
	if cfg.Warmup > 0 && ctx.Err() == nil {
		res.WarmupSeconds = e.warmup(ctx)
	}
	for _, name := range ScenarioNames {
		if !cfg.runs(name) || ctx.Err() != nil {
			continue
		}
		logf("bench: scenario %s", name)
		sctx, cancel := context.WithTimeout(ctx, scenarioTimeout[name])
		t0 := time.Now()
		switch name {
		case "drain":
			r, err := e.drain(sctx)
			r.Error = errString(err)
			res.Drain = r
		case "e2e":
			r, err := e.e2e(sctx)
			r.Error = errString(err)
			res.E2E = r
		case "rebuild":
			r, err := e.rebuild(sctx)
			r.Error = errString(err)
			res.Rebuild = r
		case "getcart":
			r, err := e.getCart(sctx)
			r.Error = errString(err)
			res.GetCart = r
		case "wait":
			r, err := e.wait(sctx)
			r.Error = errString(err)
			res.Wait = r
		case "replay":
			r, err := e.replayBench(sctx)
			r.Error = errString(err)
			res.Replay = r
		case "recovery":
			r, err := e.recovery(sctx)
			r.Error = errString(err)
			res.Recovery = r
		case "memory":
			r, err := e.memory(sctx)
			r.Error = errString(err)
			res.Memory = r
		case "peer":
			r, err := e.peer(sctx)
			r.Error = errString(err)
			res.Peer = r
		case "readscale":
			r, err := e.readScale(sctx)
			r.Error = errString(err)
			res.ReadScale = r
		case "checkout":
			r, err := e.checkout(sctx)
			r.Error = errString(err)
			res.Checkout = r
		}
		cancel()
		e.closeReaders()
		logf("bench: scenario %s done in %s", name, time.Since(t0).Round(time.Second))
	}
	e.closeReadFixture()
	res.Machine.LoadAvgEnd = loadAvg()
	res.Seconds = time.Since(res.Started).Seconds()
	return res, ctx.Err()
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// warmup drives the broker with the e2e scenario's own load (gateway,
// manager, watcher; a short sweep and saturation) and throws the numbers
// away. A fresh broker's JIT compiler takes most of a core for its first
// minute or two under load (seen with top -H: the C2 compiler thread), which
// would land on whichever scenario runs first and on none after it.
func (e *env) warmup(ctx context.Context) float64 {
	t0 := time.Now()
	saved := e.cfg
	defer func() { e.cfg = saved }()
	e.cfg.SweepRates, e.cfg.LatencyRate = []int{200, 1000}, 200
	e.cfg.LatencyDuration = saved.Warmup / 3
	e.cfg.SaturationDuration = saved.Warmup / 3
	e.logf("bench: warming the broker up for about %s with the e2e load (numbers discarded)", saved.Warmup)
	wctx, cancel := context.WithTimeout(ctx, saved.Warmup+2*time.Minute)
	defer cancel()
	if _, err := e.e2e(wctx); err != nil {
		e.logf("bench: warm-up: %v (going on)", err)
	}
	e.closeReaders()
	return time.Since(t0).Seconds()
}
