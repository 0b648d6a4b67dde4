// Command ping waits until a Kafka cluster answers a metadata request listing
// all its brokers, so scripts/kafka/up.sh returns only when clients can use
// the cluster.
//
// It uses franz-go (pure Go, already in the module graph for kfake) rather
// than librdkafka so the script does not pay for a cgo build.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "comma-separated bootstrap addresses")
	timeout := flag.Duration("timeout", 60*time.Second, "how long to keep trying")
	want := flag.Int("want", 1, "wait until metadata lists at least this many brokers (a cluster's node count)")
	flag.Parse()
	if err := ping(strings.Split(*brokers, ","), *want, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "ping:", err)
		os.Exit(1)
	}
}

func ping(seeds []string, want int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return fmt.Errorf("new client: %w", err)
	}
	defer cl.Close()
	var last error
	for {
		resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
		switch {
		case err != nil:
			last = err
		case len(resp.Brokers) < want:
			// A node that has not registered yet (or is fenced) is missing
			// from the list: wait for the whole cluster.
			last = fmt.Errorf("metadata lists %d broker(s), want %d", len(resp.Brokers), want)
		default:
			fmt.Fprintf(os.Stderr, "ping: %d broker(s) answer metadata, controller %d\n", len(resp.Brokers), resp.ControllerID)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no metadata from %v within %s: %w", seeds, timeout, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
