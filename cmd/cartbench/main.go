// Command cartbench is `cartstream bench`: it starts a real Apache Kafka
// broker (or uses KAFKA_BROKERS), runs the write and read paths'
// performance scenarios against it (internal/bench), prints the results as a table on
// stdout and writes them as JSON to <out>/<date>-<revision>.json, with CPU
// profiles of the drain beside it. Progress goes to stderr.
//
//	go run ./cmd/cartbench -out bench/results          # the full run, ~10 min
//	go run ./cmd/cartbench -quick                      # a smoke run, < 1 min
//	go run ./cmd/cartbench -only rebuild,getcart       # some scenarios (-scenarios is the same)
//
// docs/benchmarks.md says what each scenario measures.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cartstream/cartstream/internal/bench"
	"github.com/cartstream/cartstream/internal/kafkaconf"
	"github.com/cartstream/cartstream/internal/kafkatest"
	"github.com/cartstream/cartstream/internal/service"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	d := bench.Defaults()
	fs := flag.NewFlagSet("cartbench", flag.ContinueOnError)
	var (
		out       = fs.String("out", "bench/results", "directory for the JSON result and CPU profiles")
		quick     = fs.Bool("quick", false, "shrink every scenario for a smoke run (< 1 minute after the broker is up)")
		scenarios = fs.String("scenarios", strings.Join(bench.ScenarioNames, ","), "comma-separated scenarios to run (same as -only)")
		cpuProf   = fs.String("cpuprofile", "", "write a CPU profile of the whole bench process (every in-process service and client, all scenarios) to this file; the drain then writes no profiles of its own")
		cfg       = d
	)
	fs.IntVar(&cfg.Partitions, "partitions", d.Partitions, "partitions of every cart topic")
	fs.IntVar(&cfg.DrainCommands, "commands", d.DrainCommands, "drain: commands pre-loaded into cart.requests")
	fs.IntVar(&cfg.DrainCarts, "carts", d.DrainCarts, "drain: carts the commands are spread over")
	fs.IntVar(&cfg.Products, "products", d.Products, "products in the catalog")
	fs.BoolVar(&cfg.Profile, "profile", d.Profile, "drain: write CPU profiles of the copy loop and the manager to -out")
	fs.IntVar(&cfg.LatencyRate, "rate", d.LatencyRate, "e2e: commands/s of the headline open-loop latency phase")
	fs.DurationVar(&cfg.Warmup, "warmup", d.Warmup, "drive the broker with the e2e load this long before the first scenario (0: none; -quick: none)")
	fs.IntVar(&cfg.Producers, "producers", 0, "transactional producers of the in-process managers (0: the manager's default)")
	fs.IntVar(&cfg.ManagerBatch, "manager-batch", 0, "records per transaction at most, of the in-process managers and the copy loop (0: the manager's default)")
	fs.Func("sweep", "e2e: comma-separated open-loop rates of the latency sweep (default "+intsString(bench.DefaultSweepRates)+")", func(v string) error {
		cfg.SweepRates = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				return fmt.Errorf("rate %q: want a positive integer", f)
			}
			cfg.SweepRates = append(cfg.SweepRates, n)
		}
		return nil
	})
	fs.DurationVar(&cfg.LatencyDuration, "latency-duration", d.LatencyDuration, "e2e: length of the latency phase")
	fs.IntVar(&cfg.SaturationClients, "clients", d.SaturationClients, "e2e: concurrent gRPC clients of the saturation phase")
	fs.DurationVar(&cfg.SaturationDuration, "saturation-duration", d.SaturationDuration, "e2e: length of the saturation phase")
	fs.IntVar(&cfg.Kills, "kills", d.Kills, "recovery: kill -9 and restart cycles")
	fs.IntVar(&cfg.RecoveryRate, "recovery-rate", d.RecoveryRate, "recovery: commands/s of the steady load")
	fs.IntVar(&cfg.MemoryCarts, "memory-carts", d.MemoryCarts, "memory: carts (2 commands each) the manager holds")
	fs.Func("only", "comma-separated scenarios to run, e.g. -only rebuild,getcart (one of "+strings.Join(bench.ScenarioNames, ",")+")", func(v string) error {
		return fs.Set("scenarios", v)
	})
	fs.IntVar(&cfg.RebuildCarts, "rebuild-carts", d.RebuildCarts, "rebuild/getcart: carts (snapshots) in cart.state")
	fs.IntVar(&cfg.CommandsPerCart, "commands-per-cart", d.CommandsPerCart, "rebuild/getcart: commands each cart's snapshot results from")
	fs.DurationVar(&cfg.CheckoutDuration, "checkout-duration", d.CheckoutDuration, "checkout: length of each open-loop phase and of the saturation")
	fs.IntVar(&cfg.CheckoutClients, "checkout-clients", d.CheckoutClients, "checkout: closed-loop clients of the saturation")
	fs.IntVar(&cfg.ScaleCarts, "scale-carts", d.ScaleCarts, "readscale: carts (snapshots) in cart.state shared by three projection replicas")
	fs.IntVar(&cfg.GetCartClients, "getcart-clients", d.GetCartClients, "getcart: concurrent closed-loop gRPC clients")
	fs.DurationVar(&cfg.GetCartDuration, "getcart-duration", d.GetCartDuration, "getcart: length of the concurrent phase")
	fs.IntVar(&cfg.WaitRate, "wait-rate", d.WaitRate, "wait: commands/s with wait_for_outcome, open loop")
	fs.DurationVar(&cfg.WaitDuration, "wait-duration", d.WaitDuration, "wait: length of the open-loop phase")
	fs.IntVar(&cfg.ReplayEvents, "replay-events", d.ReplayEvents, "replay: at least this many events in cart.validated")
	fs.IntVar(&cfg.ReplayRounds, "replay-rounds", d.ReplayRounds, "replay: rounds of raw read and replay, best kept")
	fs.StringVar(&cfg.ProjectionBin, "projection-bin", "", "a built cmd/cart-projection (default: go build it)")
	fs.StringVar(&cfg.ManagerBin, "manager-bin", "", "a built cmd/additem-manager (default: go build it)")
	fs.StringVar(&cfg.KafkaConfig, kafkaconf.Flag, os.Getenv(kafkaconf.Env), kafkaconf.Usage+"; for KAFKA_BROKERS naming a secured cluster (env "+kafkaconf.Env+")")
	fs.Func("client-prop", "key=value: a librdkafka property for every in-process client of the system under test (manager, copy loop, gateway); repeatable; for tuning experiments", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return fmt.Errorf("want key=value, got %q", s)
		}
		if cfg.ClientProps == nil {
			cfg.ClientProps = map[string]string{}
		}
		cfg.ClientProps[k] = v
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return 2
	}
	kc, err := kafkaconf.Load(cfg.KafkaConfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cartbench:", err)
		return 2
	}
	for k, v := range kc.Props {
		if k != "bootstrap.servers" {
			if cfg.Kafka == nil {
				cfg.Kafka = map[string]string{}
			}
			cfg.Kafka[k] = fmt.Sprint(v)
		}
	}
	if *quick {
		cfg = cfg.Shrink()
	}
	cfg.Scenarios = strings.Split(*scenarios, ",")
	logf := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", a...)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		logf("cartbench: %v", err)
		return 1
	}
	rev := revision()
	cfg.OutDir = *out
	cfg.FilePrefix = time.Now().Format("2006-01-02") + "-" + rev
	if *quick {
		cfg.FilePrefix += "-quick"
	}
	if len(cfg.ClientProps) > 0 {
		cfg.FilePrefix += "-props"
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	// The in-process services trace as the binaries do: off unless OTEL_*
	// asks (internal/tracing). Without Setup they would run OpenTelemetry's
	// global wrapper, which production never runs, and pay for it.
	stopTracing, err := service.StartTracing(ctx, "cartbench", slog.Default())
	if err != nil {
		logf("cartbench: %v", err)
		return 1
	}
	defer stopTracing()
	cluster, err := startBroker(ctx, logf)
	if err != nil {
		logf("cartbench: no broker: %v", err)
		return 1
	}
	defer func() {
		if err := cluster.Stop(); err != nil {
			logf("cartbench: stop broker: %v", err)
		}
	}()
	cfg.Brokers = cluster.Brokers()
	stopProf, err := startCPUProfile(*cpuProf)
	if err != nil {
		logf("cartbench: %v", err)
		return 1
	}
	res, err := bench.Run(ctx, cfg, rev, logf)
	stopProf()
	if res == nil {
		logf("cartbench: %v", err)
		return 1
	}
	res.Machine.BrokerSource = cluster.Source.String()
	if err != nil {
		logf("cartbench: interrupted: %v", err)
	}
	if werr := res.WriteTable(os.Stdout); werr != nil {
		logf("cartbench: %v", werr)
	}
	path := filepath.Join(*out, cfg.FilePrefix+".json")
	b, jerr := json.MarshalIndent(res, "", "  ")
	if jerr == nil {
		jerr = os.WriteFile(path, append(b, '\n'), 0o644)
	}
	if jerr != nil {
		logf("cartbench: write %s: %v", path, jerr)
		return 1
	}
	logf("cartbench: wrote %s", path)
	if res.E2E != nil && len(res.E2E.Sweep) > 0 {
		chart := filepath.Join(*out, cfg.FilePrefix+"-sweep.png")
		if err := res.WriteSweepChart(chart); err != nil {
			logf("cartbench: %v", err)
			return 1
		}
		logf("cartbench: wrote %s", chart)
	}
	if err != nil || res.Failed() {
		return 1
	}
	return 0
}

// startBroker starts the broker, trying three times: scripts/kafka/up.sh
// fails now and then on its own (a random cluster id that begins with '-'
// is taken for an option by kafka-storage format).
func startBroker(ctx context.Context, logf func(string, ...any)) (*kafkatest.Cluster, error) {
	// Production's segment and cleaner defaults, not the test broker's
	// constant compaction (scripts/kafka/broker-bench.properties says why).
	if os.Getenv("KAFKA_BROKER_PROPERTIES") == "" {
		if err := os.Setenv("KAFKA_BROKER_PROPERTIES", "scripts/kafka/broker-bench.properties"); err != nil {
			return nil, err
		}
	}
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		var c *kafkatest.Cluster
		c, err = kafkatest.Start(sctx, os.Getenv, logf)
		cancel()
		if err == nil || ctx.Err() != nil {
			return c, err
		}
		logf("cartbench: broker start %d of 3 failed: %v", attempt, err)
	}
	return nil, err
}

// revision is the short commit hash of the working tree, or "dev".
func revision() string {
	b, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil || len(strings.TrimSpace(string(b))) == 0 {
		return "dev"
	}
	return strings.TrimSpace(string(b))
}

func intsString(xs []int) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.Itoa(x)
	}
	return strings.Join(parts, ",")
}

// startCPUProfile profiles the whole process into path until the returned
// func is called; an empty path profiles nothing. The scenarios' own
// profiles (-profile) cover one drain each; this one shows where a
// latency or saturation phase spends the bench process's CPU (gateway,
// manager, projection and the load's clients share it).
func startCPUProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
