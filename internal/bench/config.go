package bench

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Config sizes a run. Zero fields take the defaults (see Defaults); Quick
// returns a configuration for a smoke run of well under a minute.
type Config struct {
	// Brokers is the bootstrap list of the broker under test. Required.
	Brokers string
	// Scenarios to run; empty means all of ScenarioNames.
	Scenarios []string
	// ManagerBin is a built cmd/additem-manager; empty builds one with
	// `go build` (the working directory must be inside the module).
	ManagerBin string
	// ProjectionBin is a built cmd/cart-projection; empty builds one.
	ProjectionBin string
	// OutDir receives CPU profiles; empty writes none.
	OutDir string
	// FilePrefix names the files written to OutDir (date and revision).
	FilePrefix string
	// Partitions of every cart topic; default 12.
	Partitions int

	// Drain: Commands over Carts, catalog of Products.
	DrainCommands int
	DrainCarts    int
	Products      int
	// Profile takes a CPU profile of each drain (manager and copy loop).
	Profile bool

	// E2E: a fixed rate for LatencyDuration, then SaturationClients
	// closed-loop clients for SaturationDuration.
	// SweepRates are the open-loop rates of the latency sweep, each run for
	// LatencyDuration; LatencyRate is the headline rate (added to the sweep
	// if missing).
	LatencyRate        int
	SweepRates         []int
	LatencyDuration    time.Duration
	SaturationClients  int
	SaturationDuration time.Duration

	// Recovery: Kills kill -9 + restart cycles under RecoveryRate
	// commands/s.
	Kills        int
	RecoveryRate int

	// Memory: MemoryCarts carts of 2 commands each.
	MemoryCarts int

	// Rebuild: RebuildCarts snapshots in cart.state, each the result of
	// CommandsPerCart commands run through cart.Process.
	RebuildCarts    int
	CommandsPerCart int
	// GetCart: GetCartClients closed-loop gRPC clients for GetCartDuration
	// against the loaded projection process.
	GetCartClients  int
	GetCartDuration time.Duration
	// Wait: commands with wait_for_outcome at WaitRate per second, open
	// loop, for WaitDuration.
	WaitRate     int
	WaitDuration time.Duration
	// Replay: at least ReplayEvents events in cart.validated; the replay
	// and its raw read alternate ReplayRounds times, best of each kept.
	ReplayEvents int
	ReplayRounds int

	// ReadScale: ScaleCarts snapshots in cart.state over three projection
	// replicas (readscale.go).
	ScaleCarts int

	// Warmup drives the broker with the e2e load for about this long before
	// the first scenario (zero: none).
	Warmup time.Duration

	// Producers is the in-process managers' producer pool size
	// (validation.Config.Producers); zero takes the manager's default.
	Producers int
	// ManagerBatch caps the records of one transaction of the in-process
	// managers (validation.Config.MaxBatchRecords); zero takes the
	// manager's default.
	ManagerBatch int

	// ClientProps are extra librdkafka properties for every client of the
	// system under test run in process (manager, copy loop, gateway), for
	// tuning experiments. Empty for the reference numbers.
	ClientProps map[string]string
	// KafkaConfig is the -kafka-config file (security settings for an
	// external, secured cluster); its properties (Kafka) go to every
	// client, the bench's own included, and the file to the services the
	// bench starts as processes.
	KafkaConfig string            `json:"-"`
	Kafka       map[string]string `json:"-"`

	// Checkout: per rate of CheckoutRates, carts' AddItems then their
	// checkouts, each for CheckoutDuration; CheckoutClients closed-loop
	// clients for the saturation (checkout.go).
	CheckoutRates    []int
	CheckoutDuration time.Duration
	CheckoutClients  int

	Quick bool
}

// ScenarioNames are the scenarios in the order they run.
var ScenarioNames = []string{"drain", "e2e", "rebuild", "getcart", "wait", "replay", "recovery", "memory", "peer", "readscale", "checkout"}

// Defaults returns the full-size configuration.
func Defaults() Config {
	return Config{
		Partitions:    12,
		DrainCommands: 200_000, DrainCarts: 10_000, Products: 50, Profile: true,
		LatencyRate: 200, LatencyDuration: 15 * time.Second,
		SaturationClients: 64, SaturationDuration: 15 * time.Second,
		Kills: 5, RecoveryRate: 500,
		MemoryCarts:  100_000,
		RebuildCarts: 100_000, CommandsPerCart: 3,
		GetCartClients: 4, GetCartDuration: 10 * time.Second,
		WaitRate: 200, WaitDuration: 15 * time.Second,
		ReplayEvents: 200_000, ReplayRounds: 2,
		ScaleCarts:    1_000_000,
		Warmup:        time.Minute,
		CheckoutRates: []int{50, 200}, CheckoutDuration: 5 * time.Second, CheckoutClients: 16,
	}
}

// Shrink makes c a smoke run (Quick): every scenario runs, on small sizes.
func (c Config) Shrink() Config {
	c.Quick = true
	c.Warmup = 0
	c.DrainCommands, c.DrainCarts = 5_000, 500
	c.LatencyDuration = 3 * time.Second
	c.SweepRates = []int{50, 200}
	c.SaturationClients, c.SaturationDuration = 16, 3*time.Second
	c.Kills = 1
	c.MemoryCarts = 2_000
	c.RebuildCarts = 5_000
	c.GetCartDuration = 2 * time.Second
	c.WaitDuration = 3 * time.Second
	c.ReplayEvents, c.ReplayRounds = 10_000, 1
	c.ScaleCarts = 20_000
	c.CheckoutDuration = 3 * time.Second
	return c
}

func (c Config) withDefaults() Config {
	d := Defaults()
	set := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	set(&c.Partitions, d.Partitions)
	set(&c.DrainCommands, d.DrainCommands)
	set(&c.DrainCarts, d.DrainCarts)
	set(&c.Products, d.Products)
	set(&c.LatencyRate, d.LatencyRate)
	set(&c.SaturationClients, d.SaturationClients)
	set(&c.Kills, d.Kills)
	set(&c.RecoveryRate, d.RecoveryRate)
	set(&c.MemoryCarts, d.MemoryCarts)
	set(&c.RebuildCarts, d.RebuildCarts)
	set(&c.CommandsPerCart, d.CommandsPerCart)
	set(&c.GetCartClients, d.GetCartClients)
	set(&c.WaitRate, d.WaitRate)
	set(&c.ReplayEvents, d.ReplayEvents)
	set(&c.ReplayRounds, d.ReplayRounds)
	set(&c.ScaleCarts, d.ScaleCarts)
	set(&c.CheckoutClients, d.CheckoutClients)
	if len(c.CheckoutRates) == 0 {
		c.CheckoutRates = d.CheckoutRates
	}
	if c.CheckoutDuration == 0 {
		c.CheckoutDuration = d.CheckoutDuration
	}
	for _, dur := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&c.GetCartDuration, d.GetCartDuration}, {&c.WaitDuration, d.WaitDuration},
	} {
		if *dur.v == 0 {
			*dur.v = dur.def
		}
	}
	if c.LatencyDuration == 0 {
		c.LatencyDuration = d.LatencyDuration
	}
	if c.SaturationDuration == 0 {
		c.SaturationDuration = d.SaturationDuration
	}
	if len(c.Scenarios) == 0 {
		c.Scenarios = ScenarioNames
	}
	return c
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Brokers == "" {
		errs = append(errs, errors.New("brokers: empty"))
	}
	for _, s := range c.Scenarios {
		known := false
		for _, n := range ScenarioNames {
			known = known || s == n
		}
		if !known {
			errs = append(errs, fmt.Errorf("scenario %q: want one of %v", s, ScenarioNames))
		}
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"partitions", c.Partitions}, {"drain commands", c.DrainCommands}, {"drain carts", c.DrainCarts},
		{"products", c.Products}, {"latency rate", c.LatencyRate}, {"saturation clients", c.SaturationClients},
		{"kills", c.Kills}, {"recovery rate", c.RecoveryRate}, {"memory carts", c.MemoryCarts},
		{"rebuild carts", c.RebuildCarts}, {"commands per cart", c.CommandsPerCart}, {"getcart clients", c.GetCartClients},
		{"wait rate", c.WaitRate}, {"replay events", c.ReplayEvents}, {"replay rounds", c.ReplayRounds},
		{"scale carts", c.ScaleCarts}, {"checkout clients", c.CheckoutClients},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%s %d: must not be negative", f.name, f.v))
		}
	}
	if c.DrainCarts > c.DrainCommands && c.DrainCommands > 0 {
		errs = append(errs, fmt.Errorf("drain carts %d: more than the %d commands", c.DrainCarts, c.DrainCommands))
	}
	for _, r := range c.CheckoutRates {
		if r <= 0 {
			errs = append(errs, fmt.Errorf("checkout rate %d: must be positive", r))
		}
	}
	if c.LatencyDuration < 0 || c.SaturationDuration < 0 || c.GetCartDuration < 0 || c.WaitDuration < 0 || c.CheckoutDuration < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("bench config: %w", err)
	}
	return nil
}

func (c Config) runs(name string) bool {
	for _, s := range c.Scenarios {
		if s == name {
			return true
		}
	}
	return false
}

// DefaultSweepRates are the e2e scenario's open-loop rates.
var DefaultSweepRates = []int{50, 200, 1000, 2000}

// sweepRates are the sweep's rates in ascending order, the headline rate
// among them.
func (c Config) sweepRates() []int {
	rates := slices.Clone(c.SweepRates)
	if len(rates) == 0 {
		rates = slices.Clone(DefaultSweepRates)
	}
	if !slices.Contains(rates, c.LatencyRate) {
		rates = append(rates, c.LatencyRate)
	}
	slices.Sort(rates)
	return slices.Compact(rates)
}

// latencyTarget is the outcome p99 target at an open-loop rate: 25 ms up to
// the storefront's 200 commands/s, 50 ms up to 1,000; none above.
func latencyTarget(rate int) time.Duration {
	switch {
	case rate <= 200:
		return LatencyTargetP99
	case rate <= 1000:
		return 50 * time.Millisecond
	default:
		return 0
	}
}
