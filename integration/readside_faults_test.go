package integration

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/projection"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// The read side's bounds on the real broker: the history index per cart,
// and a WatchCart client that stops reading.

// startBoundedProjection serves a projection of e's topics with cfg
// changed by mutate, waits until it is SERVING, and returns it with a
// client connection made by opts.
func (e *cartEnv) startBoundedProjection(t *testing.T, mutate func(*projection.Config), opts ...grpc.DialOption) (*projection.Projection, cartv1.CartServiceClient) {
	t.Helper()
	cfg := projection.Config{
		Client: kafka.ConfigMap{"bootstrap.servers": e.c.Brokers()}, Topics: e.set, Records: e.rec,
		Logger: testLogger(t).With("service", "projection"),
	}
	mutate(&cfg)
	p, err := projection.New(cfg)
	if err != nil {
		t.Fatalf("new projection: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- projection.Serve(ctx, p, projection.ServeOptions{Listener: lis, ShutdownTimeout: 5 * time.Second, Logger: testLogger(t)})
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatalf("grpc client: %v", err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("projection.Serve after shutdown: %v", err)
		}
	})
	select {
	case <-p.Ready():
	case <-time.After(time.Minute):
		t.Fatal("projection not ready within a minute")
	}
	return p, cartv1.NewCartServiceClient(conn)
}

// historyIDs pages through the cart's history from token and returns the
// request ids and each page's truncated flag.
func historyIDs(t *testing.T, client cartv1.CartServiceClient, cartID, token string) (ids []string, truncated []bool) {
	t.Helper()
	ids, truncated, err := tryHistoryIDs(t, client, cartID, token)
	if err != nil {
		t.Fatalf("GetCartHistory: %v", err)
	}
	return ids, truncated
}

func tryHistoryIDs(t *testing.T, client cartv1.CartServiceClient, cartID, token string) (ids []string, truncated []bool, err error) {
	for {
		resp, err := client.GetCartHistory(rpcCtx(t, 20*time.Second), &cartv1.GetCartHistoryRequest{CartId: cartID, PageSize: 2, PageToken: token})
		if err != nil {
			return nil, nil, err
		}
		for _, e := range resp.GetEntries() {
			ids = append(ids, e.GetRequestId())
		}
		truncated = append(truncated, resp.GetTruncated())
		if token = resp.GetNextPageToken(); token == "" {
			return ids, truncated, nil
		}
	}
}

// awaitIndexed polls the history until its last entry is reqID.
func awaitIndexed(t *testing.T, client cartv1.CartServiceClient, cartID, reqID string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ids, _, err := tryHistoryIDs(t, client, cartID, "")
		if err == nil && len(ids) > 0 && ids[len(ids)-1] == reqID {
			return
		}
		if err != nil && codeOf(err) != codes.NotFound && codeOf(err) != codes.Unavailable {
			t.Fatalf("GetCartHistory: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("history of %s does not end with %s after a minute: %v (%v)", cartID, reqID, ids, err)
		}
		time.Sleep(50 * time.Millisecond) // polling the index with a deadline
	}
}

func historyCommands(e *cartEnv, cartID string, from, to int) []cart.Command {
	var cmds []cart.Command
	for i := from; i < to; i++ {
		sku := "SKU-B"
		if i%3 == 2 {
			sku = "SKU-NOPE" // rejected: both topics take part
		}
		cmds = append(cmds, e.add(cartID, fmt.Sprintf("r%02d", i), sku, 1))
	}
	return cmds
}

// Regression: a cart's history index grew without bound. With
// MaxHistoryPerCart 5, paging returns the 5 most recent entries and the
// first page says truncated; a token taken before its entries were evicted
// resumes at the oldest kept entry, truncated.
func TestReadSideHistoryIsBoundedPerCart(t *testing.T) {
	e := newCartEnv(t, 3)
	e.seedCatalog(t, demoProducts()...)
	e.startManager(t, e.managerConfig(t, "m1"))
	_, client := e.startBoundedProjection(t, func(c *projection.Config) { c.MaxHistoryPerCart = 5 })

	e.send(t, historyCommands(e, "hist-1", 0, 12)...)
	awaitIndexed(t, client, "hist-1", "r11")
	ids, truncated := historyIDs(t, client, "hist-1", "")
	if want := []string{"r07", "r08", "r09", "r10", "r11"}; fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Fatalf("history %v, want the 5 most recent %v", ids, want)
	}
	if fmt.Sprint(truncated) != "[true false false]" {
		t.Fatalf("pages truncated %v, want only the first", truncated)
	}

	first, err := client.GetCartHistory(rpcCtx(t, 20*time.Second), &cartv1.GetCartHistoryRequest{CartId: "hist-1", PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	e.send(t, historyCommands(e, "hist-1", 12, 18)...)
	awaitIndexed(t, client, "hist-1", "r17")
	ids, truncated = historyIDs(t, client, "hist-1", first.GetNextPageToken())
	if want := []string{"r13", "r14", "r15", "r16", "r17"}; fmt.Sprint(ids) != fmt.Sprint(want) || !truncated[0] {
		t.Fatalf("from a token into evicted entries: %v (truncated %v), want %v, truncated first", ids, truncated, want)
	}
}

// bigProducts are 50 products with long names, so a cart holding them all
// is a ~15 KB message and a few unread ones fill a stream's window.
func bigProducts() []cart.Product {
	var ps []cart.Product
	for i := range cart.DefaultMaxLines {
		ps = append(ps, cart.Product{SKU: cart.SKU(fmt.Sprintf("SKU-BIG-%02d", i)), Name: strings.Repeat("x", 250), UnitPrice: eur(100), Active: true})
	}
	return ps
}

// Regression: a WatchCart client that stopped reading kept its stream
// forever. On the real follower: while one client does not read, another
// sees every change promptly, each command is applied promptly, and the
// stalled stream ends RESOURCE_EXHAUSTED.
func TestReadSideStalledWatcherDoesNotSlowTheFollower(t *testing.T) {
	e := newCartEnv(t, 3)
	e.seedCatalog(t, bigProducts()...)
	e.startManager(t, e.managerConfig(t, "m1"))
	p, client := e.startBoundedProjection(t, func(c *projection.Config) { c.WatchSendTimeout = time.Second },
		grpc.WithInitialWindowSize(1<<16), grpc.WithInitialConnWindowSize(1<<16))
	const id = "watched-1"
	var adds []cart.Command
	for i, prod := range bigProducts() {
		adds = append(adds, e.add(id, fmt.Sprintf("add-%02d", i), string(prod.SKU), 1))
	}
	applied := func(pos kafka.TopicPartition) int64 {
		t.Helper()
		snap, err := p.AwaitToken(rpcCtx(t, 10*time.Second), id, projection.Token{Partition: pos.Partition, Offset: int64(pos.Offset)})
		if err != nil {
			t.Fatalf("command at %v not applied within 10s: %v", pos, err)
		}
		return snap.Cart.Version
	}
	poss := e.send(t, adds...)
	applied(poss[len(poss)-1])

	ctx := rpcCtx(t, 5*time.Minute)
	stalled, err := client.WatchCart(ctx, &cartv1.WatchCartRequest{CartId: id})
	if err != nil {
		t.Fatal(err)
	}
	live, err := client.WatchCart(ctx, &cartv1.WatchCartRequest{CartId: id})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for i := 0; p.Stats().SlowWatches == 0; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("the stalled watch was not ended after %d changes", i)
		}
		sku := fmt.Sprintf("SKU-BIG-%02d", i%cart.DefaultMaxLines)
		v := applied(e.send(t, e.change(id, fmt.Sprintf("chg-%03d", i), sku, int32(2+(i/cart.DefaultMaxLines)%2)))[0])
		for {
			m, err := live.Recv()
			if err != nil {
				t.Fatalf("live watcher: %v", err)
			}
			if m.GetCart().GetVersion() >= v {
				break
			}
		}
	}
	for {
		if _, err := stalled.Recv(); err != nil {
			if codeOf(err) != codes.ResourceExhausted {
				t.Fatalf("stalled watch ended with %v, want RESOURCE_EXHAUSTED", err)
			}
			return
		}
	}
}
