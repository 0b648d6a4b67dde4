package projection

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/grpclimits/grpclimitstest"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// The read side under faults, without Kafka: a Projection whose one shard
// the test feeds directly, served over real gRPC on loopback.

// nopDecoder satisfies Config.Records; these tests feed snapshots to the
// shard, never records.
type nopDecoder struct{}

var errNop = errors.New("nopDecoder decodes nothing")

func (nopDecoder) DecodeSnapshot([]byte) (cart.Snapshot, error) { return cart.Snapshot{}, errNop }
func (nopDecoder) DecodeValidated([]byte) (cart.Event, error)   { return nil, errNop }
func (nopDecoder) DecodeInvalid([]byte) (cart.InvalidRequest, error) {
	return cart.InvalidRequest{}, errNop
}
func (nopDecoder) DecodeProduct([]byte) (cart.Product, error) { return cart.Product{}, errNop }

// readyProjection is a ready Projection of one partition, not running.
func readyProjection(t *testing.T, mutate func(*Config)) (*Projection, *shard) {
	t.Helper()
	cfg := Config{Client: kafka.ConfigMap{"bootstrap.servers": "127.0.0.1:1"}, Records: nopDecoder{}}
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	sh := newShard(0)
	p.layout.Store(&layout{partitions: 1, shards: []*shard{sh}})
	close(p.ready)
	return p, sh
}

// serveProjection serves p's gRPC server on loopback until the test ends.
func serveProjection(t *testing.T, p *Projection, o ServeOptions) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := newGRPCServer(p, o)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func dial(t *testing.T, addr string, opts ...grpc.DialOption) cartv1.CartServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return cartv1.NewCartServiceClient(conn)
}

// within runs f and fails the test if it has not returned after d: the
// guard for calls whose point is that they end on their own.
func within[T any](t *testing.T, d time.Duration, what string, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(d):
		t.Fatalf("%s still running after %v", what, d)
		panic("unreachable")
	}
}

// bigSnapshot is version v of cart id with lines large enough (~20 KB in
// all) that a few unread messages fill a stream's flow-control window.
func bigSnapshot(id cart.CartID, v int64) cart.Snapshot {
	s := snapAt(id, v, v)
	for i := range 50 {
		s.Cart.Lines = append(s.Cart.Lines, cart.Line{
			SKU: cart.SKU(fmt.Sprintf("SKU-%d", i)), Name: strings.Repeat("n", 400),
			UnitPrice: cart.Money{Amount: 100, Currency: "EUR"}, Quantity: 1,
		})
	}
	return s
}

// Regression: a projection's gRPC server allowed unlimited streams per
// connection.
func TestProjectionServerAnnouncesItsStreamLimit(t *testing.T) {
	p, _ := readyProjection(t, nil)
	c := grpclimitstest.Dial(t, serveProjection(t, p, ServeOptions{}))
	if n, ok := c.MaxConcurrentStreams(); !ok || n != DefaultMaxConcurrentStreams {
		t.Fatalf("MAX_CONCURRENT_STREAMS %d (announced %t), want %d", n, ok, DefaultMaxConcurrentStreams)
	}
}

// Regression: GetCart with a token no snapshot reaches, in a call without
// a deadline, waited forever.
func TestTokenWaitWithoutADeadlineEndsAtTheDefault(t *testing.T) {
	p, sh := readyProjection(t, func(c *Config) { c.WaitTimeout = 200 * time.Millisecond })
	sh.apply(snapAt("c1", 3, 1))
	client := dial(t, serveProjection(t, p, ServeOptions{}))
	err := within(t, 10*time.Second, "GetCart with an unreached token", func() error {
		_, err := client.GetCart(context.Background(), &cartv1.GetCartRequest{CartId: "c1", ConsistencyToken: &cartv1.ConsistencyToken{Offset: 5}})
		return err
	})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("GetCart: %v, want DEADLINE_EXCEEDED", err)
	}
	// The in-process wait_for_outcome waits the same way.
	err = within(t, 10*time.Second, "AwaitToken", func() error {
		_, err := p.AwaitToken(context.Background(), "c1", Token{Offset: 5})
		return err
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("AwaitToken: %v, want the default deadline", err)
	}
}

// Regression: a WatchCart without a deadline held its stream forever. It
// ends OK after MaxWatch; the client calls again.
func TestWatchEndsOKAtItsMaximumDuration(t *testing.T) {
	p, sh := readyProjection(t, func(c *Config) { c.MaxWatch = 300 * time.Millisecond })
	sh.apply(snapAt("c1", 3, 1))
	client := dial(t, serveProjection(t, p, ServeOptions{}))
	stream, err := client.WatchCart(context.Background(), &cartv1.WatchCartRequest{CartId: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := stream.Recv(); err != nil || m.GetCart().GetVersion() != 1 {
		t.Fatalf("first message: %v, %v", m, err)
	}
	err = within(t, 10*time.Second, "WatchCart past its maximum duration", func() error {
		_, err := stream.Recv()
		return err
	})
	if !errors.Is(err, io.EOF) {
		t.Fatalf("end of the watch: %v, want OK", err)
	}
}

// Regression: a WatchCart client that stopped reading held its stream
// (and the handler's goroutine, blocked in Send) for as long as it stayed
// connected. Now it is ended RESOURCE_EXHAUSTED, while a client on the
// same connection that reads sees every change up to the latest.
func TestStalledWatcherIsEndedAndDoesNotSlowOthers(t *testing.T) {
	p, sh := readyProjection(t, func(c *Config) {
		c.WatchSendTimeout = 500 * time.Millisecond
	})
	sh.apply(bigSnapshot("c1", 1))
	// Static 64 KiB windows (no BDP growth): a few unread messages fill them.
	client := dial(t, serveProjection(t, p, ServeOptions{}),
		grpc.WithInitialWindowSize(1<<16), grpc.WithInitialConnWindowSize(1<<16))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stalled, err := client.WatchCart(ctx, &cartv1.WatchCartRequest{CartId: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	live, err := client.WatchCart(ctx, &cartv1.WatchCartRequest{CartId: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	const last = 60 // 60 x ~20 KB: far beyond the stalled stream's windows
	for v := int64(1); v <= last; v++ {
		if v > 1 {
			sh.apply(bigSnapshot("c1", v))
		}
		for {
			m, err := live.Recv()
			if err != nil {
				t.Fatalf("live watcher at version %d: %v", v, err)
			}
			if m.GetCart().GetVersion() == v {
				break
			}
		}
	}
	// The live watcher keeps up while the stalled one is being given up on.
	deadline := time.Now().Add(30 * time.Second)
	for v := int64(last + 1); p.Stats().SlowWatches == 0; v++ {
		if time.Now().After(deadline) {
			t.Fatal("the stalled watch was not ended within 30s")
		}
		sh.apply(bigSnapshot("c1", v))
		if m, err := live.Recv(); err != nil || m.GetCart().GetVersion() != v {
			t.Fatalf("live watcher at version %d: %v, %v", v, m.GetCart().GetVersion(), err)
		}
	}
	// The stalled client now reads: what was in flight, then the end.
	err = within(t, 30*time.Second, "the stalled watch", func() error {
		for {
			if _, err := stalled.Recv(); err != nil {
				return err
			}
		}
	})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("stalled watch ended with %v, want RESOURCE_EXHAUSTED", err)
	}
}
