package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/records"
	"github.com/cartstream/cartstream/internal/replay"
)

const replayHelp = `
Usage: cartctl replay [flags]

Folds cart.validated from the beginning with cart.Apply, cart by cart, read
with read_committed up to the last stable offsets taken at start, and:

  (default)   prints the carts (-o table or -o json);
  --verify    compares them with the latest snapshots in cart.state and lists
              every missing, extra or differing cart with a field-level diff;
              exit 1 if there is any difference;
  --rewrite   writes the folded carts back to cart.state as snapshots, in
              transactions of --batch-carts, resumable: run the same command
              again after an interruption and it goes on where it stopped.
              Only carts whose snapshot differs are written (--all: every
              cart). Each new snapshot keeps the RequestOffset and request
              window of the cart's current snapshot and replaces its Cart; a
              cart without a snapshot gets RequestOffset -1 and an empty
              window. --dry-run prints what would change and writes nothing;
              --to-topic NAME writes every cart to a new compacted topic
              (created with the cart topics' partition count) instead.
  --bench     measures replay throughput against a raw read of the same
              records and prints both rates and their ratio.

  !!! STOP THE AddItemManager BEFORE A REWRITE OF cart.state !!!
  The manager holds the snapshots of its partitions in memory and overwrites
  a rewritten snapshot with its own at the cart's next request. A rewrite of
  cart.state refuses to run while the manager's consumer group
  (--manager-group) has members; --force overrides that (only if you know the
  manager does not own the carts being rewritten). Static members stay in
  the group until their session timeout after they stop.

Scope: --cart ID folds one cart, reading only its partition (Kafka's murmur2
partitioner). --until-offset P:O[,P:O...] stops each named partition before
offset O (exclusive: paste an end offset or a committed offset as is); others
are read to their last stable offset. --until-time RFC3339 stops each
partition before its first record stamped after that time (record timestamps,
millisecond precision): the carts as they were then.

Examples:
  cartctl replay --cart cart-42 -o json
  cartctl replay --until-time 2026-11-24T12:00:00Z --cart cart-42
  cartctl replay --verify
  cartctl replay --rewrite --dry-run
  cartctl replay --rewrite
  cartctl replay --rewrite --to-topic cart.state.rebuilt
  cartctl replay --bench
`

type replayFlags struct {
	common
	cartID       string
	untilOffset  string
	untilTime    string
	verify       bool
	rewrite      bool
	dryRun       bool
	toTopic      string
	all          bool
	runID        string
	batchCarts   int
	maxBatches   int
	managerGroup string
	force        bool
	bench        bool
	benchRounds  int
	workers      int
	progress     string
	idle         time.Duration
}

func runReplay(e env, args []string) int {
	var f replayFlags
	fs := newFlagSet(e, "replay", replayHelp)
	f.register(fs)
	fs.StringVar(&f.cartID, "cart", "", "fold only this cart (reads only its partition)")
	fs.StringVar(&f.untilOffset, "until-offset", "", "stop partitions before these offsets: P:O[,P:O...] (exclusive)")
	fs.StringVar(&f.untilTime, "until-time", "", "stop before the first record stamped after this RFC3339 time")
	fs.BoolVar(&f.verify, "verify", false, "compare the fold with cart.state; exit 1 on any difference")
	fs.BoolVar(&f.rewrite, "rewrite", false, "write the folded carts as snapshots (STOP THE MANAGER FIRST, see above)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "with --rewrite: print what would be written, write nothing")
	fs.StringVar(&f.toTopic, "to-topic", "", "with --rewrite: write every cart to this compacted topic instead of cart.state")
	fs.BoolVar(&f.all, "all", false, "with --rewrite: write every cart, not only those that differ")
	fs.StringVar(&f.runID, "run-id", "", "with --rewrite: name of the run; the same command with the same run id resumes it")
	fs.IntVar(&f.batchCarts, "batch-carts", replay.DefaultBatchCarts, "with --rewrite: snapshots per transaction")
	fs.IntVar(&f.maxBatches, "max-batches", 0, "with --rewrite: stop after this many batches, resumable (0: no limit)")
	fs.StringVar(&f.managerGroup, "manager-group", replay.DefaultManagerGroup, "the AddItemManager's consumer group")
	fs.BoolVar(&f.force, "force", false, "with --rewrite: rewrite cart.state even while the manager's group has members")
	fs.BoolVar(&f.bench, "bench", false, "measure replay throughput against a raw read of the same records")
	fs.IntVar(&f.benchRounds, "bench-rounds", 2, "with --bench: rounds of each, best kept")
	fs.IntVar(&f.workers, "workers", 0, "decode and fold goroutines (0: one per CPU)")
	fs.StringVar(&f.progress, "progress", progressAuto, "progress on stderr: auto (a bar on a terminal, lines otherwise), bar, lines, none")
	fs.DurationVar(&f.idle, "idle-timeout", replay.DefaultIdleTimeout, "fail when a read makes no progress for this long")
	pos, code, ok := parse(e, fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		fmt.Fprintf(e.stderr, "cartctl replay: unexpected arguments %q (a cart id goes after --cart)\n", pos)
		return exitOperational
	}
	log, ok := f.setup(e, "replay")
	if !ok {
		return exitOperational
	}
	scope, err := f.scope()
	if err != nil {
		fmt.Fprintf(e.stderr, "cartctl replay: %v\n", err)
		return exitOperational
	}
	if err := f.checkModes(scope); err != nil {
		fmt.Fprintf(e.stderr, "cartctl replay: %v\n", err)
		return exitOperational
	}
	prog, err := newProgressReporter(e.stderr, f.progress)
	if err != nil {
		fmt.Fprintf(e.stderr, "cartctl replay: %v\n", err)
		return exitOperational
	}
	defer prog.finish()
	rec, err := records.NewFromDir(records.Config{}, f.schemaDir)
	if err != nil {
		fmt.Fprintf(e.stderr, "cartctl replay: %v\n", err)
		return exitOperational
	}
	ctx, cancel := signalContext(e, log)
	defer cancel()
	cfg := replay.Config{
		Client: f.client(), Topics: f.topics(), Decoder: rec, Workers: f.workers,
		Progress: prog.report, ProgressInterval: prog.interval(),
		IdleTimeout: f.idle, RequestTimeout: f.reqTimeout, Logger: log,
	}

	switch {
	case f.bench:
		res, err := replay.Bench(ctx, cfg, scope, f.benchRounds)
		if err != nil {
			fmt.Fprintf(e.stderr, "cartctl replay --bench: %v\n", err)
			return exitOperational
		}
		if f.output == "json" {
			return writeJSON(e, res)
		}
		fmt.Fprintln(e.stdout, res)
		return exitOK
	case f.rewrite:
		res, err := replay.Rewrite(ctx, cfg, replay.RewriteOptions{
			Cart: scope.Cart, Target: f.toTopic, RunID: f.runID, BatchCarts: f.batchCarts, All: f.all,
			DryRun: f.dryRun, MaxBatches: f.maxBatches, ManagerGroup: f.managerGroup, Force: f.force, Encoder: rec,
		})
		prog.finish()
		if err != nil {
			fmt.Fprintf(e.stderr, "cartctl replay --rewrite: %v\n", err)
			if errors.Is(err, replay.ErrManagerActive) {
				fmt.Fprintln(e.stderr, "cartctl replay --rewrite: nothing was written.")
			}
			return exitOperational
		}
		if f.output == "json" {
			writeJSON(e, res)
		} else {
			writeRewrite(e.stdout, res)
		}
		if len(res.Plan.Refused) > 0 {
			return exitFindings
		}
		return exitOK
	}

	res, err := replay.Fold(ctx, cfg, scope)
	if err != nil {
		prog.finish()
		fmt.Fprintf(e.stderr, "cartctl replay: %v\n", err)
		return exitOperational
	}
	if !f.verify {
		prog.finish()
		return printCarts(e, f.output, res)
	}
	var parts []int32
	if scope.Cart != "" {
		parts = []int32{replay.PartitionOf(scope.Cart, res.Partitions)}
	}
	current, _, err := replay.LoadSnapshots(ctx, cfg, "", parts)
	prog.finish()
	if err != nil {
		fmt.Fprintf(e.stderr, "cartctl replay --verify: %v\n", err)
		return exitOperational
	}
	if scope.Cart != "" {
		for id := range current {
			if id != scope.Cart {
				delete(current, id)
			}
		}
	}
	diffs := replay.Compare(res, current)
	report := verifyReport{Carts: len(res.Carts), Snapshots: len(current), Events: res.Stats.Records, Problems: res.Problems, Differences: diffs,
		Clean: len(diffs) == 0 && len(res.Problems) == 0, EventsPerSecond: res.Stats.EventsPerSecond()}
	if f.output == "json" {
		writeJSON(e, report)
	} else {
		report.writeTable(e.stdout, f.topics().State)
	}
	if !report.Clean {
		return exitFindings
	}
	return exitOK
}

func (f *replayFlags) scope() (replay.Scope, error) {
	s := replay.Scope{Cart: cart.CartID(f.cartID)}
	var errs []error
	if f.untilOffset != "" {
		m, err := replay.ParseUntilOffsets(f.untilOffset)
		if err != nil {
			errs = append(errs, fmt.Errorf("--until-offset: %w", err))
		}
		s.UntilOffsets = m
	}
	if f.untilTime != "" {
		t, err := time.Parse(time.RFC3339Nano, f.untilTime)
		if err != nil {
			errs = append(errs, fmt.Errorf("--until-time %q: want RFC3339, e.g. 2026-11-24T12:00:00Z", f.untilTime))
		}
		s.UntilTime = t
	}
	if err := errors.Join(errs...); err != nil {
		return s, err
	}
	return s, s.Validate()
}

// checkModes reports flag combinations that make no sense, all at once.
func (f *replayFlags) checkModes(scope replay.Scope) error {
	var errs []error
	modes := 0
	for _, on := range []bool{f.verify, f.rewrite, f.bench} {
		if on {
			modes++
		}
	}
	if modes > 1 {
		errs = append(errs, errors.New("--verify, --rewrite and --bench exclude each other"))
	}
	if !f.rewrite && (f.dryRun || f.toTopic != "" || f.all || f.runID != "" || f.maxBatches != 0 || f.force) {
		errs = append(errs, errors.New("--dry-run, --to-topic, --all, --run-id, --max-batches and --force go with --rewrite"))
	}
	if scope.Bounded() && (f.verify || f.rewrite) {
		errs = append(errs, errors.New("--until-offset and --until-time print past carts; cart.state holds current ones, so they do not go with --verify or --rewrite"))
	}
	if f.toTopic != "" && f.toTopic == f.topics().State {
		errs = append(errs, errors.New("--to-topic names cart.state itself; leave it out to rewrite cart.state"))
	}
	return errors.Join(errs...)
}

func writeJSON(e env, v any) int {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(e.stderr, "cartctl: write output: %v\n", err)
		return exitOperational
	}
	return exitOK
}

func printCarts(e env, output string, res replay.Result) int {
	sorted := res.Sorted()
	if output == "json" {
		views := make([]replay.CartView, len(sorted))
		for i, c := range sorted {
			views[i] = replay.ViewOf(c)
		}
		code := writeJSON(e, struct {
			Carts    []replay.CartView `json:"carts"`
			Problems []replay.Problem  `json:"problems,omitempty"`
			Stats    replay.Stats      `json:"stats"`
		}{views, res.Problems, res.Stats})
		if code == exitOK && len(res.Problems) > 0 {
			return exitFindings
		}
		return code
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CART\tPARTITION\tSTATUS\tCUSTOMER\tVERSION\tITEMS\tSUBTOTAL\tUPDATED\tLINES")
	for _, c := range sorted {
		s := c.State
		status := s.Status.String()
		if c.Broken {
			status += " (BROKEN)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", s.CartID, c.Partition, status, orDash(string(s.CustomerID)),
			s.Version, s.ItemCount, moneyText(s.Subtotal), timeText(s.UpdatedAt), linesText(s.Lines))
	}
	_ = tw.Flush()
	fmt.Fprintf(e.stdout, "%d carts from %d events (%s, %.0f events/s)\n", len(sorted), res.Stats.Records,
		res.Stats.Elapsed.Round(time.Millisecond), res.Stats.EventsPerSecond())
	for _, p := range res.Problems {
		fmt.Fprintf(e.stdout, "PROBLEM %s\n", p)
	}
	if len(res.Problems) > 0 {
		return exitFindings
	}
	return exitOK
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func moneyText(m cart.Money) string {
	if m.Currency == "" {
		return fmt.Sprint(m.Amount)
	}
	return m.String()
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func linesText(ls []cart.Line) string {
	if len(ls) == 0 {
		return "-"
	}
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = fmt.Sprintf("%s x%d", l.SKU, l.Quantity)
	}
	return strings.Join(parts, ", ")
}

// verifyReport is the outcome of replay --verify.
type verifyReport struct {
	Clean           bool                `json:"clean"`
	Carts           int                 `json:"carts"`
	Snapshots       int                 `json:"snapshots"`
	Events          int64               `json:"events"`
	EventsPerSecond float64             `json:"events_per_second"`
	Differences     []replay.Difference `json:"differences"`
	Problems        []replay.Problem    `json:"problems,omitempty"`
}

func (r verifyReport) writeTable(w io.Writer, state string) {
	if len(r.Differences) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KIND\tCART\tPARTITION\tSNAPSHOT OFFSET\tDIFFERENCE")
		for _, d := range r.Differences {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", d.Kind, d.CartID, d.Partition, d.SnapshotOffset, d.Summary())
		}
		_ = tw.Flush()
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "PROBLEM %s\n", p)
	}
	if r.Clean {
		fmt.Fprintf(w, "CLEAN: %d carts replayed from %d events match their %d snapshots in %s\n", r.Carts, r.Events, r.Snapshots, state)
		return
	}
	fmt.Fprintf(w, "%d DIFFERENCES, %d PROBLEMS: %d carts replayed from %d events, %d snapshots in %s\n",
		len(r.Differences), len(r.Problems), r.Carts, r.Events, r.Snapshots, state)
}

func writeRewrite(w io.Writer, r replay.RewriteResult) {
	verb := "WRITE"
	if r.DryRun {
		verb = "WOULD WRITE"
	}
	if len(r.Plan.Writes) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ACTION\tCART\tPARTITION\tWHY\tREQUEST OFFSET\tKEPT FROM\tCHANGE")
		for _, x := range r.Plan.Writes {
			why := x.Kind.String()
			if x.Kind == replay.DiffUnspecified {
				why = "copy"
			}
			change := "-"
			if len(x.Fields) > 0 {
				d := replay.Difference{Fields: x.Fields}
				change = d.Summary()
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%s\n", verb, x.CartID, x.Partition, why, x.Snapshot.RequestOffset, x.KeptFrom, change)
		}
		_ = tw.Flush()
	}
	for _, d := range r.Plan.Refused {
		fmt.Fprintf(w, "REFUSED %s (partition %d): %s\n", d.CartID, d.Partition, d.Summary())
	}
	switch {
	case r.DryRun:
		fmt.Fprintf(w, "DRY RUN: would write %d snapshots to %s (%d unchanged, %d already written by run %s, %d refused); nothing written\n",
			len(r.Plan.Writes), r.Target, r.Plan.Unchanged, r.Plan.AlreadyWritten, r.RunName, len(r.Plan.Refused))
	case r.Complete:
		fmt.Fprintf(w, "DONE: wrote %d snapshots to %s in %d transactions (%d unchanged, %d already written by an earlier run, %d refused); run %s\n",
			r.Written, r.Target, r.Batches, r.Plan.Unchanged, r.Plan.AlreadyWritten, len(r.Plan.Refused), r.RunName)
	default:
		fmt.Fprintf(w, "STOPPED: wrote %d of %d snapshots to %s in %d transactions; run the same command again to resume run %s\n",
			r.Written, len(r.Plan.Writes), r.Target, r.Batches, r.RunName)
	}
}
