package projection

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// listReplica answers ListCarts with the carts of the partitions the
// request names, or UNAVAILABLE when it refuses one of them.
type listReplica struct {
	cartv1.UnimplementedCartServiceServer
	carts  map[string][]*cartv1.Cart // by partition number, as named
	refuse map[string]bool
	mu     sync.Mutex
	asked  []string
}

func (f *listReplica) ListCarts(ctx context.Context, _ *cartv1.ListCartsRequest) (*cartv1.ListCartsResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	named := strings.Join(md.Get(MDPartitions), "")
	f.mu.Lock()
	f.asked = append(f.asked, named)
	f.mu.Unlock()
	var out []*cartv1.Cart
	for _, p := range strings.Split(named, ",") {
		if f.refuse[p] {
			return nil, status.Error(codes.Unavailable, "partition "+p+" is not served here")
		}
		out = append(out, f.carts[p]...)
	}
	return &cartv1.ListCartsResponse{Carts: out}, nil
}

func listed(id string, minute int) *cartv1.Cart {
	return &cartv1.Cart{CartId: id, UpdatedAt: timestamppb.New(time.Date(2026, 12, 2, 10, minute, 0, 0, time.UTC))}
}

// A customer's carts spread over every partition: the router asks each
// partition of one replica, passes a refused partition to its standby,
// and lists every cart once, newest first.
func TestRouterListsEveryPartitionOnceNewestFirst(t *testing.T) {
	a := &listReplica{
		carts:  map[string][]*cartv1.Cart{"0": {listed("c0", 1)}, "1": {listed("c1", 5)}, "2": {listed("c2", 3)}},
		refuse: map[string]bool{"1": true}, // still catching up on partition 1
	}
	b := &listReplica{carts: map[string][]*cartv1.Cart{"0": {listed("c0", 1)}, "1": {listed("c1", 5)}, "2": {listed("c2", 3)}}}
	r := routerOverN(t, 3,
		Member{ID: "a", Endpoint: serveFake(t, a), Owned: []int32{0, 1}, Standby: []int32{2}, Ready: []int32{0, 1, 2}},
		Member{ID: "b", Endpoint: serveFake(t, b), Owned: []int32{2}, Standby: []int32{0, 1}, Ready: []int32{0, 1, 2}},
	)
	resp, err := r.ListCarts(context.Background(), &cartv1.ListCartsRequest{CustomerId: "alice"})
	if err != nil {
		t.Fatalf("ListCarts: %v", err)
	}
	var ids []string
	for _, c := range resp.GetCarts() {
		ids = append(ids, c.GetCartId())
	}
	if want := []string{"c1", "c2", "c0"}; !slices.Equal(ids, want) {
		t.Errorf("listed %v, want %v (each cart once, newest first)", ids, want)
	}
	slices.Sort(b.asked)
	if !slices.Equal(a.asked, []string{"0,1"}) || !slices.Equal(b.asked, []string{"0,1", "2"}) {
		t.Errorf("asked a %v, b %v; want a [0,1], then b its own 2 and the refused 0,1", a.asked, b.asked)
	}
}

// A replica asked for a partition it does not materialize answers
// UNAVAILABLE, and a malformed partition list INVALID_ARGUMENT.
func TestRequestedPartitions(t *testing.T) {
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs(MDPartitions, "0, 3,11"))
	got, err := requestedPartitions(ctx)
	if err != nil || !slices.Equal(got, []int32{0, 3, 11}) {
		t.Errorf("requestedPartitions = %v, %v; want [0 3 11]", got, err)
	}
	if got, err := requestedPartitions(context.Background()); got != nil || err != nil {
		t.Errorf("without metadata: %v, %v; want nil, nil", got, err)
	}
	bad := metadata.NewIncomingContext(context.Background(), metadata.Pairs(MDPartitions, "0,-1"))
	if _, err := requestedPartitions(bad); err == nil {
		t.Error("a negative partition was accepted")
	}
}
