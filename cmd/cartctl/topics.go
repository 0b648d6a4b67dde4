package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/internal/replay"
	"github.com/cartstream/cartstream/internal/topics"
)

const topicsHelp = `
Usage: cartctl topics status|create|check [flags]

  status   per topic and partition: log start, end offset (high watermark),
           last stable offset (what read_committed readers reach) and the
           committed offset and lag of the AddItemManager's group
           (--manager-group) and of any --group. The offsets are sampled
           twice, --sample-interval apart: a partition whose last stable
           offset stays below its end offset without moving is reported with
           a WARNING (exit 1): an open transaction, e.g. of a hung or killed
           transactional producer, blocks every read_committed reader (the
           manager's restore, the projection, replay) and compaction there.
  create   creates the five topics if absent (--partitions, --replication)
           and checks them.
  check    checks that the topics exist, the four cart topics are
           co-partitioned and the tables are compacted (exit 1 if not).

Examples:
  cartctl topics status
  cartctl topics status --group cartstream-projection -o json
  cartctl topics create --partitions 12
`

func runTopics(e env, args []string) int {
	var c common
	var (
		managerGroup string
		groups       multiFlag
		interval     time.Duration
		partitions   int
		replication  int
	)
	fs := newFlagSet(e, "topics", topicsHelp)
	c.register(fs)
	fs.StringVar(&managerGroup, "manager-group", replay.DefaultManagerGroup, "status: the AddItemManager's consumer group")
	fs.Var(&groups, "group", "status: a further consumer group to report (repeatable)")
	fs.DurationVar(&interval, "sample-interval", replay.DefaultSampleInterval, "status: time between the two samples of the last stable offsets")
	fs.IntVar(&partitions, "partitions", topics.DefaultPartitions, "create: partitions of each new topic")
	fs.IntVar(&replication, "replication", -1, "create: replication factor (-1: the broker default)")
	pos, code, ok := parse(e, fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(e.stderr, "cartctl topics: want one of status, create, check (cartctl topics --help)")
		return exitOperational
	}
	log, ok := c.setup(e, "topics")
	if !ok {
		return exitOperational
	}
	ctx, cancel := signalContext(e, log)
	defer cancel()
	set := c.topics()
	switch pos[0] {
	case "status":
		rep, err := replay.Status(ctx, replay.Config{Client: c.client(), Topics: set, RequestTimeout: c.reqTimeout, Logger: log},
			replay.StatusOptions{ManagerGroup: managerGroup, Groups: groups, SampleInterval: interval})
		if err != nil {
			fmt.Fprintf(e.stderr, "cartctl topics status: %v\n", err)
			return exitOperational
		}
		if c.output == "json" {
			writeJSON(e, rep)
		} else {
			writeStatus(e.stdout, rep)
		}
		if len(rep.Warnings) > 0 {
			return exitFindings
		}
		return exitOK
	case "create", "check":
		cm := c.client()
		adm, err := kafka.NewAdminClient(&cm)
		if err != nil {
			fmt.Fprintf(e.stderr, "cartctl topics: admin client: %v\n", err)
			return exitOperational
		}
		defer adm.Close()
		var n int
		if pos[0] == "create" {
			n, err = topics.Ensure(ctx, adm, set, topics.Config{Partitions: partitions, ReplicationFactor: replication})
		} else {
			n, err = topics.Check(ctx, adm, set)
		}
		result := struct {
			OK         bool     `json:"ok"`
			Topics     []string `json:"topics"`
			Partitions int      `json:"partitions,omitempty"`
			Error      string   `json:"error,omitempty"`
		}{OK: err == nil, Topics: set.All(), Partitions: n}
		if err != nil {
			result.Error = err.Error()
		}
		if c.output == "json" {
			writeJSON(e, result)
		} else if err == nil {
			fmt.Fprintf(e.stdout, "OK: %s: the cart topics are co-partitioned (%d partitions), the tables compacted\n", strings.Join(set.All(), ", "), n)
		} else {
			fmt.Fprintf(e.stdout, "NOT OK: %v\n", err)
		}
		switch {
		case err == nil:
			return exitOK
		case errors.Is(err, topics.ErrMissing), errors.Is(err, topics.ErrNotCoPartitioned), errors.Is(err, topics.ErrNotCompacted):
			return exitFindings
		default:
			return exitOperational
		}
	default:
		fmt.Fprintf(e.stderr, "cartctl topics: unknown subcommand %q: want status, create or check\n", pos[0])
		return exitOperational
	}
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, ",") }

func (m *multiFlag) Set(v string) error {
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*m = append(*m, s)
		}
	}
	return nil
}

func writeStatus(w io.Writer, rep replay.StatusReport) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := "TOPIC\tPARTITION\tSTART\tEND\tLAST STABLE"
	for _, g := range rep.Groups {
		head += "\tLAG " + g.Group
	}
	fmt.Fprintln(tw, head+"\t")
	for _, p := range rep.Partitions {
		line := fmt.Sprintf("%s\t%d\t%d\t%d\t%d", p.Topic, p.Partition, p.Start, p.End, p.Stable)
		if p.Blocked {
			line += " BLOCKED"
		}
		for _, g := range rep.Groups {
			lag := "-"
			for _, l := range p.Groups {
				if l.Group == g.Group {
					lag = fmt.Sprint(l.Lag)
				}
			}
			line += "\t" + lag
		}
		fmt.Fprintln(tw, line+"\t")
	}
	_ = tw.Flush()
	for _, g := range rep.Groups {
		fmt.Fprintf(w, "group %s: %s, %d members, total lag %d\n", g.Group, g.State, g.Members, g.Lag)
	}
	for _, warn := range rep.Warnings {
		fmt.Fprintln(w, warn)
	}
	if len(rep.Warnings) == 0 {
		fmt.Fprintf(w, "no partition's last stable offset is stuck below its end offset (sampled over %s)\n", rep.Interval)
	}
}
