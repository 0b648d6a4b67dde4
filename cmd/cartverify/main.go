// Command cartverify checks, after a load (crashes included), that the write
// side processed every cart request exactly once: it reads cart.requests,
// cart.validated, cart.invalid and cart.state with read_committed up to the
// end offsets it sees at start and reports every lost, duplicated, orphaned
// or out-of-order outcome, every version gap and every snapshot that is not
// the fold of its cart's events (see internal/verify).
//
// The report goes to stdout (-o text or -o json), progress and logs to
// stderr. Exit status: 0 clean, 1 violations found, 2 operational error.
//
// Run it when the writers are stopped or drained: records committed after
// it starts are not read.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/cartstream/cartstream/internal/kafkaconf"
	"github.com/cartstream/cartstream/internal/records"
	"github.com/cartstream/cartstream/internal/service"
	"github.com/cartstream/cartstream/internal/topics"
	"github.com/cartstream/cartstream/internal/verify"
)

// Exit codes.
const (
	exitClean       = 0
	exitViolations  = 1
	exitOperational = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cartverify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		logFlags service.LogFlags
		brokers  = fs.String("brokers", service.Env("KAFKA_BROKERS", "127.0.0.1:9092"), "Kafka bootstrap servers (env KAFKA_BROKERS)")
		prefix   = fs.String("topic-prefix", service.Env("CARTSTREAM_TOPIC_PREFIX", ""), "prefix of every topic name (env CARTSTREAM_TOPIC_PREFIX)")
		schemas  = fs.String("schema-dir", service.Env("CARTSTREAM_SCHEMA_DIR", ""), "directory of newer record schemas (*.avsc) to read, shipped ahead of a rolling upgrade (docs/operations.md) (env CARTSTREAM_SCHEMA_DIR)")
		kfile    = fs.String(kafkaconf.Flag, service.Env(kafkaconf.Env, ""), kafkaconf.Usage+" (env "+kafkaconf.Env+")")
		output   = fs.String("o", "text", "report format: text or json")
		maxShown = fs.Int("max-violations", 200, "violations listed by -o text (0: all); -o json lists all")
		idle     = fs.Duration("idle-timeout", verify.DefaultIdleTimeout, "fail when the read makes no progress for this long")
		interval = fs.Duration("progress-interval", verify.DefaultProgressInterval, "how often to log read progress")
		reqTO    = fs.Duration("request-timeout", verify.DefaultRequestTimeout, "timeout of each metadata and offsets request")
	)
	logFlags.Register(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: cartverify [flags]\n\nVerifies exactly-once processing of the cart topics; exit 0 clean, 1 violations, 2 error.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitClean
		}
		return exitOperational
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "cartverify: unexpected arguments %q\n", fs.Args())
		return exitOperational
	}
	if *output != "text" && *output != "json" {
		fmt.Fprintf(stderr, "cartverify: -o %q: want text or json\n", *output)
		return exitOperational
	}
	log, err := logFlags.Logger(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "cartverify:", err)
		return exitOperational
	}
	kc, err := kafkaconf.Load(*kfile)
	if err != nil {
		fmt.Fprintln(stderr, "cartverify:", err)
		return exitOperational
	}
	log = slog.New(kafkaconf.RedactHandler(log.Handler(), kc))
	ctx, cancel := service.SignalContext(log)
	defer cancel()

	rec, err := records.NewFromDir(records.Config{}, *schemas)
	if err != nil {
		log.Error("records codec", "err", err)
		return exitOperational
	}
	set := topics.DefaultSet().WithPrefix(*prefix)
	in, err := verify.Read(ctx, verify.Config{
		Client:           kc.Client(*brokers, kafkaconf.Explicit(fs, "brokers", "KAFKA_BROKERS")),
		Topics:           set,
		Decoder:          rec,
		IdleTimeout:      *idle,
		RequestTimeout:   *reqTO,
		ProgressInterval: *interval,
		Logger:           log,
		Progress: func(p verify.Progress) {
			log.Info("read progress", "topics", p.String(), "elapsed", p.Elapsed.Round(time.Millisecond), "done", p.Done)
		},
	})
	if err != nil {
		log.Error("read cart topics", "brokers", *brokers, "err", err)
		return exitOperational
	}
	report := verify.Check(in)
	if err := writeReport(stdout, *output, report, *maxShown); err != nil {
		log.Error("write report", "err", err)
		return exitOperational
	}
	if !report.Clean() {
		log.Warn("violations found", "count", len(report.Violations))
		return exitViolations
	}
	log.Info("clean", "requests", report.Summary.Requests, "carts", report.Summary.Carts)
	return exitClean
}

func writeReport(w io.Writer, format string, r verify.Report, maxShown int) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return r.WriteText(w, maxShown)
}
