package projection

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// fakeReplica answers GetCart with err (or a cart of version 1) and
// streams versions then ends with watchEnd; it records the calls.
type fakeReplica struct {
	cartv1.UnimplementedCartServiceServer
	name     string
	err      error
	versions []int64
	watchEnd error
	// hang: GetCart answers only when its call ends.
	hang   bool
	mu     sync.Mutex
	calls  []string
	maxLag []string
}

func (f *fakeReplica) GetCart(ctx context.Context, req *cartv1.GetCartRequest) (*cartv1.GetCartResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	f.calls = append(f.calls, req.GetCartId())
	f.maxLag = append(f.maxLag, md.Get(MDMaxLag)...)
	f.mu.Unlock()
	if f.hang {
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	if f.err != nil {
		return nil, f.err
	}
	return &cartv1.GetCartResponse{Cart: &cartv1.Cart{CartId: req.GetCartId(), Version: 1}}, nil
}

func (f *fakeReplica) WatchCart(req *cartv1.WatchCartRequest, s grpc.ServerStreamingServer[cartv1.WatchCartResponse]) error {
	for _, v := range f.versions {
		if err := s.Send(&cartv1.WatchCartResponse{Cart: &cartv1.Cart{CartId: req.GetCartId(), Version: v}}); err != nil {
			return err
		}
	}
	return f.watchEnd
}

func (f *fakeReplica) asked() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// serveFake serves s on a loopback port until the test ends.
func serveFake(t *testing.T, s cartv1.CartServiceServer) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	cartv1.RegisterCartServiceServer(srv, s)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// routerOver is a Router whose view holds ms (one partition: every cart
// is partition 0), without Kafka.
func routerOver(t *testing.T, ms ...Member) *Router {
	t.Helper()
	return routerOverN(t, 1, ms...)
}

// routerOverN is routerOver with n partitions.
func routerOverN(t *testing.T, n int, ms ...Member) *Router {
	t.Helper()
	v, err := NewMemberView(MemberViewConfig{Client: kafka.ConfigMap{"bootstrap.servers": "unused:1"}})
	if err != nil {
		t.Fatal(err)
	}
	var sm []seenMember
	for _, m := range ms {
		m.Partitions = n
		sm = append(sm, seenMember{Member: m, seen: time.Now()})
	}
	routes := newRoutes(sm, time.Minute)
	v.routes.Store(&routes)
	r, err := NewRouter(RouterConfig{View: v, MaxWait: 300 * time.Millisecond, Dial: func(ep string) (*grpc.ClientConn, error) {
		return grpc.NewClient(ep, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func TestRouterPassesOverAReplicaThatNoLongerOwnsThePartition(t *testing.T) {
	moved := &fakeReplica{err: status.Error(codes.Unavailable, ErrNotOwned.Error())}
	standby := &fakeReplica{}
	r := routerOver(t,
		Member{ID: "a", Endpoint: serveFake(t, moved), Owned: []int32{0}, Ready: []int32{0}},
		Member{ID: "b", Endpoint: serveFake(t, standby), Standby: []int32{0}, Ready: []int32{0}},
	)
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs(MDMaxLag, "5"))
	resp, err := r.GetCart(ctx, &cartv1.GetCartRequest{CartId: "cart-1"})
	if err != nil || resp.GetCart().GetCartId() != "cart-1" {
		t.Fatalf("GetCart: %v, %v", resp, err)
	}
	if moved.asked() != 1 || standby.asked() != 1 {
		t.Errorf("asked owner %d, standby %d times; want the owner first, then the standby", moved.asked(), standby.asked())
	}
	if !slices.Equal(standby.maxLag, []string{"5"}) {
		t.Errorf("the accepted staleness reached the replica as %v, want [5]", standby.maxLag)
	}
}

func TestRouterReturnsTheCartsOwnAnswers(t *testing.T) {
	owner := &fakeReplica{err: status.Error(codes.NotFound, "no such cart")}
	standby := &fakeReplica{}
	r := routerOver(t,
		Member{ID: "a", Endpoint: serveFake(t, owner), Owned: []int32{0}, Ready: []int32{0}},
		Member{ID: "b", Endpoint: serveFake(t, standby), Standby: []int32{0}, Ready: []int32{0}},
	)
	_, err := r.GetCart(context.Background(), &cartv1.GetCartRequest{CartId: "cart-1"})
	if status.Code(err) != codes.NotFound || standby.asked() != 0 {
		t.Fatalf("GetCart: %v (standby asked %d times); want the owner's NOT_FOUND", err, standby.asked())
	}
	if _, err := r.GetCart(context.Background(), &cartv1.GetCartRequest{CartId: ""}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("empty cart id: %v, want INVALID_ARGUMENT without asking a replica", err)
	}
}

// Regression: a call without a deadline whose MaxWait bound ran out while
// a replica was still answering ended DEADLINE_EXCEEDED, a deadline the
// client never set; it is UNAVAILABLE (call again), like a bound that runs
// out between tries (the test below failed so on a loaded machine).
func TestRouterBoundEndingMidCallAnswersUnavailable(t *testing.T) {
	slow := &fakeReplica{hang: true}
	r := routerOver(t, Member{ID: "a", Endpoint: serveFake(t, slow), Owned: []int32{0}, Ready: []int32{0}})
	if _, err := r.GetCart(context.Background(), &cartv1.GetCartRequest{CartId: "cart-1"}); status.Code(err) != codes.Unavailable {
		t.Fatalf("GetCart: %v, want UNAVAILABLE", err)
	}
	// The caller's own deadline is the caller's answer.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := r.GetCart(ctx, &cartv1.GetCartRequest{CartId: "cart-1"}); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("GetCart with a deadline: %v, want DEADLINE_EXCEEDED", err)
	}
}

func TestRouterRetriesWithinTheDeadlineThenAnswersUnavailable(t *testing.T) {
	busy := &fakeReplica{err: status.Error(codes.Unavailable, ErrNotReady.Error())}
	r := routerOver(t, Member{ID: "a", Endpoint: serveFake(t, busy), Owned: []int32{0}})
	began := time.Now()
	_, err := r.GetCart(context.Background(), &cartv1.GetCartRequest{CartId: "cart-1"})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("GetCart: %v, want UNAVAILABLE", err)
	}
	if busy.asked() < 2 || time.Since(began) < 250*time.Millisecond {
		t.Errorf("asked %d times in %s; want retries until MaxWait", busy.asked(), time.Since(began))
	}
	empty := routerOver(t)
	if _, err := empty.GetCart(context.Background(), &cartv1.GetCartRequest{CartId: "cart-1"}); status.Code(err) != codes.Unavailable {
		t.Errorf("no replica at all: %v, want UNAVAILABLE", err)
	}
}

// watchFront serves WatchCart through a Router, as the gateway does.
type watchFront struct {
	cartv1.UnimplementedCartServiceServer
	r *Router
}

func (w watchFront) WatchCart(req *cartv1.WatchCartRequest, s grpc.ServerStreamingServer[cartv1.WatchCartResponse]) error {
	return w.r.WatchCart(req, s)
}

func TestRouterWatchMovesToTheNextReplicaWithoutRepeatingVersions(t *testing.T) {
	leaving := &fakeReplica{versions: []int64{1, 2}, watchEnd: status.Error(codes.Unavailable, ErrClosed.Error())}
	next := &fakeReplica{versions: []int64{2, 3}}
	r := routerOver(t,
		Member{ID: "a", Endpoint: serveFake(t, leaving), Owned: []int32{0}, Ready: []int32{0}},
		Member{ID: "b", Endpoint: serveFake(t, next), Standby: []int32{0}, Ready: []int32{0}},
	)
	conn, err := grpc.NewClient(serveFake(t, watchFront{r: r}), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := cartv1.NewCartServiceClient(conn).WatchCart(ctx, &cartv1.WatchCartRequest{CartId: "cart-1"})
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		got = append(got, msg.GetCart().GetVersion())
	}
	if !slices.Equal(got, []int64{1, 2, 3}) {
		t.Errorf("versions %v, want [1 2 3]", got)
	}
}

// Concurrent first calls to a replica share one connection (the lookup
// is lock-free, the dial is not), and Close drops it: the next call dials
// again.
func TestRouterDialsEachReplicaOnce(t *testing.T) {
	ep := serveFake(t, &fakeReplica{})
	r := routerOver(t, Member{ID: "a", Endpoint: ep, Owned: []int32{0}, Ready: []int32{0}})
	var dials atomic.Int64
	dial := r.cfg.Dial
	r.cfg.Dial = func(ep string) (*grpc.ClientConn, error) { dials.Add(1); return dial(ep) }
	get := func() {
		if _, err := r.GetCart(context.Background(), &cartv1.GetCartRequest{CartId: "cart-1"}); err != nil {
			t.Error(err)
		}
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(get)
	}
	wg.Wait()
	if n := dials.Load(); n != 1 {
		t.Fatalf("16 concurrent calls dialed %d times, want once", n)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	get()
	if n := dials.Load(); n != 2 {
		t.Fatalf("a call after Close: %d dials in all, want 2", n)
	}
}
