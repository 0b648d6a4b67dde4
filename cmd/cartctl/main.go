// Command cartctl is the cartstream operator's tool, in the style of kubectl
// and kcat: one binary, subcommands, flags with environment fallbacks.
//
//	cartctl replay          fold cart.validated into carts: print, --verify, --rewrite
//	cartctl cart get|history|watch ID   inspect one cart through the query API
//	cartctl topics status|create|check  offsets, lag, hanging transactions; topic set-up
//	cartctl verify          the exactly-once verifier (internal/verify)
//	cartctl acls print|apply  each service principal's least-privilege ACLs
//
// It only wires: flags into internal/replay, internal/verify,
// internal/topics and the CartService gRPC client. Results go to stdout
// (-o table or -o json), progress and logs to stderr. Exit status: 0 clean,
// 1 findings (differences, violations, warnings), 2 usage or operational
// error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/internal/kafkaconf"
	"github.com/cartstream/cartstream/internal/service"
	"github.com/cartstream/cartstream/internal/topics"
)

// Exit codes.
const (
	exitOK          = 0
	exitFindings    = 1
	exitOperational = 2
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// env is what a command runs with: its streams and a signal-aware context.
type env struct {
	ctx            context.Context
	stdout, stderr io.Writer
}

// command is one subcommand: a name, a one-line summary, and its body,
// which parses its own flags.
type command struct {
	name, summary string
	run           func(e env, args []string) int
}

func commands() []command {
	return []command{
		{"replay", "fold cart.validated into carts: print them, --verify against cart.state, or --rewrite snapshots", runReplay},
		{"cart", "inspect one cart through the query API: get, history, watch", runCart},
		{"catalog", "read and change the catalog: get, export, import, set", runCatalog},
		{"stock", "read and change stock levels: get, set, adjust", runStock},
		{"topics", "topic status (offsets, lag, hanging transactions), create, check", runTopics},
		{"verify", "prove exactly-once processing of the cart topics (the cartverify checks)", runVerify},
		{"acls", "the least-privilege Kafka ACLs of a deployment: print, apply", runACLs},
		{"projection", "a projection group's replicas and where each partition's queries go", runProjection},
	}
}

func run(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	e := env{ctx: ctx, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		usage(stderr)
		return exitOperational
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) == 0 {
			usage(stdout)
			return exitOK
		}
		// "cartctl help replay" is "cartctl replay --help".
		return run(ctx, append(rest, "--help"), nil, stdout, stderr)
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(e, rest)
		}
	}
	fmt.Fprintf(stderr, "cartctl: unknown command %q\n\n", name)
	usage(stderr)
	return exitOperational
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "cartctl: the cartstream operator's tool\n\nUsage:\n  cartctl <command> [subcommand] [flags] [args]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-8s %s\n", "help", "help about a command: cartctl help replay")
	fmt.Fprintf(w, "\nEvery command takes --brokers (env KAFKA_BROKERS, default 127.0.0.1:9092),\n--topic-prefix (env CARTSTREAM_TOPIC_PREFIX) and -o table|json.\nExit status: 0 clean, 1 findings, 2 usage or operational error.\n")
}

const defaultBrokers = "127.0.0.1:9092"

// common are the flags every Kafka-facing command takes.
type common struct {
	brokers    string
	prefix     string
	schemaDir  string
	kafkaFile  string
	kc         kafkaconf.Config
	fs         *flag.FlagSet
	explicit   bool
	output     string
	reqTimeout time.Duration
	log        service.LogFlags
}

func (c *common) register(fs *flag.FlagSet) {
	c.fs = fs
	fs.StringVar(&c.brokers, "brokers", service.Env("KAFKA_BROKERS", defaultBrokers), "Kafka bootstrap servers (env KAFKA_BROKERS)")
	fs.StringVar(&c.kafkaFile, kafkaconf.Flag, service.Env(kafkaconf.Env, ""), kafkaconf.Usage+" (env "+kafkaconf.Env+")")
	fs.StringVar(&c.prefix, "topic-prefix", service.Env("CARTSTREAM_TOPIC_PREFIX", ""), "prefix of every topic name (env CARTSTREAM_TOPIC_PREFIX)")
	fs.StringVar(&c.schemaDir, "schema-dir", service.Env("CARTSTREAM_SCHEMA_DIR", ""), "directory of newer record schemas (*.avsc) to read, shipped ahead of a rolling upgrade (docs/operations.md) (env CARTSTREAM_SCHEMA_DIR)")
	c.registerOutput(fs)
	fs.DurationVar(&c.reqTimeout, "request-timeout", 30*time.Second, "timeout of each metadata, offsets or group request")
	c.log.Register(fs)
	// An operator's tool logs warnings only, unless asked: results and
	// progress are what the terminal is for.
	if _, set := os.LookupEnv("CARTSTREAM_LOG_LEVEL"); !set {
		c.log.Level = "warn"
		fs.Lookup("log-level").DefValue = "warn"
	}
}

func (c *common) registerOutput(fs *flag.FlagSet) {
	fs.StringVar(&c.output, "o", "table", "output format: table or json")
	fs.StringVar(&c.output, "output", "table", "output format: table or json (same as -o)")
}

func (c *common) topics() topics.Set { return topics.DefaultSet().WithPrefix(c.prefix) }

// client is the Kafka client configuration: -kafka-config's file with the
// bootstrap servers (setup loads the file).
func (c *common) client() kafka.ConfigMap { return c.kc.Client(c.brokers, c.explicit) }

// setup checks the output format and builds the logger.
func (c *common) setup(e env, name string) (*slog.Logger, bool) {
	if c.output != "table" && c.output != "json" {
		fmt.Fprintf(e.stderr, "cartctl %s: -o %q: want table or json\n", name, c.output)
		return nil, false
	}
	log, err := c.log.Logger(e.stderr)
	if err != nil {
		fmt.Fprintf(e.stderr, "cartctl %s: %v\n", name, err)
		return nil, false
	}
	// A -brokers left at its default gives way to the file's
	// bootstrap.servers.
	c.explicit = c.fs != nil && kafkaconf.Explicit(c.fs, "brokers", "KAFKA_BROKERS")
	if c.kc, err = kafkaconf.Load(c.kafkaFile); err != nil {
		fmt.Fprintf(e.stderr, "cartctl %s: %v\n", name, err)
		return nil, false
	}
	return slog.New(kafkaconf.RedactHandler(log.Handler(), c.kc)), true
}

// newFlagSet makes a subcommand's flag set whose -h prints help then the
// flags, sorted.
func newFlagSet(e env, name, help string) *flag.FlagSet {
	fs := flag.NewFlagSet("cartctl "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "%s\nFlags:\n", strings.TrimLeft(help, "\n"))
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		sort.Strings(names)
		for _, n := range names {
			f := fs.Lookup(n)
			dash := "--"
			if len(n) == 1 {
				dash = "-"
			}
			def := ""
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
				def = fmt.Sprintf(" (default %s)", f.DefValue)
			}
			fmt.Fprintf(w, "  %s%s\n    \t%s%s\n", dash, n, f.Usage, def)
		}
	}
	return fs
}

// parse parses flags and positional arguments in any order ("cart get ID
// -o json" as well as "cart get -o json ID"). It returns the positional
// arguments, and ok false with the exit code when parsing ends the command
// (help asked, or a usage error already reported).
func parse(e env, fs *flag.FlagSet, args []string) (pos []string, code int, ok bool) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(e.stdout)
				fs.Usage()
				return nil, exitOK, false
			}
			return nil, exitOperational, false
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, exitOK, true
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), exitOK, true
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// signalContext is service.SignalContext under e.ctx's deadline, if any.
func signalContext(e env, log *slog.Logger) (context.Context, context.CancelFunc) {
	sctx, scancel := service.SignalContext(log)
	ctx, cancel := context.WithCancel(e.ctx)
	stop := context.AfterFunc(sctx, cancel)
	return ctx, func() {
		stop()
		cancel()
		scancel()
	}
}
