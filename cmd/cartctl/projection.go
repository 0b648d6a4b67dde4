package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cartstream/cartstream/projection"
)

const projectionHelp = `
Usage: cartctl projection members [flags]

Shows a projection group as its membership topic (<prefix>cart.projection.members)
says: each live replica's endpoint and the cart.state partitions it owns,
follows as a standby and has caught up; then, per partition, where the
gateway routes its queries (docs/read-path.md, "Scaling out").

Examples:
  cartctl projection members
  cartctl projection members -o json
`

func runProjection(e env, args []string) int {
	var c common
	fs := newFlagSet(e, "projection", projectionHelp)
	c.register(fs)
	pos, code, ok := parse(e, fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 || pos[0] != "members" {
		fmt.Fprintln(e.stderr, "cartctl projection: want members (cartctl projection --help)")
		return exitOperational
	}
	log, ok := c.setup(e, "projection")
	if !ok {
		return exitOperational
	}
	ctx, cancel := signalContext(e, log)
	defer cancel()
	routes, err := readMembers(ctx, &c)
	if err != nil {
		fmt.Fprintf(e.stderr, "cartctl projection members: %v\n", err)
		return exitOperational
	}
	now := time.Now()
	if c.output == "json" {
		return writeJSON(e, routes.Members(now))
	}
	writeMembers(e.stdout, routes, now)
	return exitOK
}

// readMembers reads the membership topic to its end.
func readMembers(ctx context.Context, c *common) (projection.Routes, error) {
	view, err := projection.NewMemberView(projection.MemberViewConfig{Client: c.client(), Topic: c.prefix + projection.DefaultMembersTopic})
	if err != nil {
		return projection.Routes{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.reqTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- view.Run(ctx) }()
	select {
	case <-view.Loaded():
		cancel()
		<-done
		return view.Routes(), nil
	case err := <-done:
		return projection.Routes{}, fmt.Errorf("membership topic: %w", err)
	case <-ctx.Done():
		<-done
		return projection.Routes{}, fmt.Errorf("membership topic not read within %s: %w", c.reqTimeout, ctx.Err())
	}
}

// writeMembers prints the live replicas, then each partition's routes.
func writeMembers(w io.Writer, routes projection.Routes, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REPLICA\tENDPOINT\tOWNED\tSTANDBY\tREADY")
	for _, m := range routes.Members(now) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.ID, m.Endpoint, parts(m.Owned), parts(m.Standby), parts(m.Ready))
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "PARTITION\tROUTES (best first)")
	for p := range int32(routes.Partitions(now)) {
		c := routes.Candidates(p, now)
		if len(c) == 0 {
			c = []string{"NONE: queries wait or answer UNAVAILABLE"}
		}
		fmt.Fprintf(tw, "%d\t%s\n", p, strings.Join(c, " "))
	}
	_ = tw.Flush()
}

func parts(ps []int32) string {
	if len(ps) == 0 {
		return "-"
	}
	s := make([]string, len(ps))
	for i, p := range slices.Sorted(slices.Values(ps)) {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ",")
}
