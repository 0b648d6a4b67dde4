// Command ping waits until a Kafka cluster answers a metadata request listing
// all its brokers, so scripts/kafka/up.sh returns only when clients can use
// the cluster.
//
// It uses franz-go (pure Go, already in the module graph for kfake) rather
// than librdkafka so the script does not pay for a cgo build.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "comma-separated bootstrap addresses")
	timeout := flag.Duration("timeout", 60*time.Second, "how long to keep trying")
	want := flag.Int("want", 1, "wait until metadata lists at least this many brokers (a cluster's node count)")
	config := flag.String("config", "", "client properties file of a secured cluster (SASL_SSL, SCRAM-SHA-512), as up.sh writes it")
	flag.Parse()
	opts, err := security(*config)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ping:", err)
		os.Exit(1)
	}
	if err := ping(strings.Split(*brokers, ","), *want, *timeout, opts...); err != nil {
		fmt.Fprintln(os.Stderr, "ping:", err)
		os.Exit(1)
	}
}

// security reads the few librdkafka properties of a secured test broker's
// client file (scripts/kafka/secure.sh writes it) into franz-go options.
func security(path string) ([]kgo.Opt, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("client properties: %w", err)
	}
	defer f.Close()
	props := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			props[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("client properties %s: %w", path, err)
	}
	if p := props["security.protocol"]; p != "SASL_SSL" || props["sasl.mechanisms"] != "SCRAM-SHA-512" {
		return nil, fmt.Errorf("client properties %s: ping speaks SASL_SSL with SCRAM-SHA-512 only, the file asks for %q", path, p)
	}
	pem, err := os.ReadFile(props["ssl.ca.location"])
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA certificate %s: no PEM certificate in it", props["ssl.ca.location"])
	}
	auth := scram.Auth{User: props["sasl.username"], Pass: props["sasl.password"]}
	return []kgo.Opt{
		kgo.DialTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}),
		kgo.SASL(auth.AsSha512Mechanism()),
	}, nil
}

func ping(seeds []string, want int, timeout time.Duration, opts ...kgo.Opt) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...)}, opts...)...)
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
