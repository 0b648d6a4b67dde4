package main

import (
	"fmt"
	"time"

	"github.com/cartstream/cartstream/internal/records"
	"github.com/cartstream/cartstream/internal/verify"
)

const verifyHelp = `
Usage: cartctl verify [flags]

The exactly-once verifier (internal/verify, as cmd/cartverify): reads
cart.requests, cart.validated, cart.invalid and cart.state with
read_committed up to the end offsets seen at start and reports every lost,
duplicated, orphaned or out-of-order outcome, every version gap and every
snapshot that is not the fold of its cart's events, or whose request offset
or window is not what the requests imply. Run it when the writers are
stopped or drained. Exit 0 clean, 1 violations, 2 error.

-o table prints the text report (-o json: the full report).
`

func runVerify(e env, args []string) int {
	var c common
	fs := newFlagSet(e, "verify", verifyHelp)
	c.register(fs)
	maxShown := fs.Int("max-violations", 200, "violations listed by -o table (0: all); -o json lists all")
	idle := fs.Duration("idle-timeout", verify.DefaultIdleTimeout, "fail when the read makes no progress for this long")
	interval := fs.Duration("progress-interval", verify.DefaultProgressInterval, "how often to log read progress (at -log-level info)")
	pos, code, ok := parse(e, fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		fmt.Fprintf(e.stderr, "cartctl verify: unexpected arguments %q\n", pos)
		return exitOperational
	}
	log, ok := c.setup(e, "verify")
	if !ok {
		return exitOperational
	}
	rec, err := records.NewFromDir(records.Config{}, c.schemaDir)
	if err != nil {
		fmt.Fprintf(e.stderr, "cartctl verify: %v\n", err)
		return exitOperational
	}
	ctx, cancel := signalContext(e, log)
	defer cancel()
	in, err := verify.Read(ctx, verify.Config{
		Client: c.client(), Topics: c.topics(), Decoder: rec,
		IdleTimeout: *idle, RequestTimeout: c.reqTimeout, ProgressInterval: *interval, Logger: log,
		Progress: func(p verify.Progress) {
			log.Info("read progress", "topics", p.String(), "elapsed", p.Elapsed.Round(time.Millisecond), "done", p.Done)
		},
	})
	if err != nil {
		fmt.Fprintf(e.stderr, "cartctl verify: %v\n", err)
		return exitOperational
	}
	report := verify.Check(in)
	if c.output == "json" {
		if code := writeJSON(e, report); code != exitOK {
			return code
		}
	} else if err := report.WriteText(e.stdout, *maxShown); err != nil {
		fmt.Fprintf(e.stderr, "cartctl verify: write report: %v\n", err)
		return exitOperational
	}
	if !report.Clean() {
		return exitFindings
	}
	return exitOK
}
