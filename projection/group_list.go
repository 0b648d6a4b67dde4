package projection

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/gateway"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// MDPartitions, in a ListCarts request's metadata, names the partitions
// (comma-separated numbers) a replica answers for. A customer's carts
// spread over every partition and a replica may also follow some as a
// standby, so a router asks each replica for exactly the partitions it
// routes there: no cart is listed twice, none is missed.
const MDPartitions = "cartstream-partitions"

var _ gateway.CartLister = (*Router)(nil)

// ListCarts implements cartv1.CartServiceServer over the partitions the
// request's MDPartitions names, or, without it, every partition this
// replica materializes. A named partition this replica does not serve, or
// has not caught up on, answers UNAVAILABLE: a router asks another.
func (s *ReplicaServer) ListCarts(ctx context.Context, req *cartv1.ListCartsRequest) (*cartv1.ListCartsResponse, error) {
	c := cart.CustomerID(req.GetCustomerId())
	if err := c.Validate(); err != nil {
		return nil, statusOf(err)
	}
	parts, err := requestedPartitions(ctx)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	ins, err := s.r.instances(parts)
	if err != nil {
		return nil, statusOf(err)
	}
	var all []cart.CartState
	for _, in := range ins {
		carts, err := in.p.ListCarts(c)
		if err != nil {
			return nil, statusOf(err)
		}
		all = append(all, carts...)
	}
	all = newestFirst(all)
	resp := &cartv1.ListCartsResponse{Carts: make([]*cartv1.Cart, len(all))}
	for i := range all {
		resp.Carts[i] = cartPB(&all[i])
	}
	return resp, nil
}

// requestedPartitions is the request's MDPartitions; nil when absent.
func requestedPartitions(ctx context.Context) ([]int32, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vs := md.Get(MDPartitions)
	if len(vs) == 0 {
		return nil, nil
	}
	var out []int32
	for _, f := range strings.Split(vs[0], ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%s: %q is not a partition number", MDPartitions, f)
		}
		out = append(out, int32(n))
	}
	return out, nil
}

// instances returns the instances of parts (nil: every one this replica
// materializes), or ErrNotOwned for the first it does not.
func (r *Replica) instances(parts []int32) ([]*instance, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.partitions == 0 {
		return nil, ErrNotReady
	}
	if parts == nil {
		parts = slices.Sorted(maps.Keys(r.insts))
	}
	out := make([]*instance, 0, len(parts))
	for _, p := range parts {
		in := r.insts[p]
		if in == nil {
			return nil, &NotOwnedError{Partition: p, Owner: "unknown"}
		}
		out = append(out, in)
	}
	return out, nil
}

// ListCarts implements gateway.CartLister: every partition's carts of the
// customer, each partition asked of one replica that serves it (the owner
// first, then a standby; UNAVAILABLE passes it to the next, as route
// does), merged newest first.
func (r *Router) ListCarts(ctx context.Context, req *cartv1.ListCartsRequest) (*cartv1.ListCartsResponse, error) {
	if err := cart.CustomerID(req.GetCustomerId()).Validate(); err != nil {
		return nil, statusOf(err)
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	var (
		carts   []*cartv1.Cart
		last    error
		pending []int32
		tried   = map[int32]int{} // candidates of the partition that failed this round
		round   = 0
	)
	n := r.cfg.View.Routes().Partitions(time.Now())
	for ; n == 0; n = r.cfg.View.Routes().Partitions(time.Now()) {
		if !r.pause(ctx, round) {
			return nil, noReplica(-1, last)
		}
		round++
	}
	for p := range int32(n) {
		pending = append(pending, p)
	}
	for len(pending) > 0 {
		plan, exhausted := r.listPlan(pending, tried)
		if len(plan) == 0 {
			if !r.pause(ctx, round) {
				return nil, noReplica(exhausted[0], last)
			}
			round++
			clear(tried)
			continue
		}
		pending = exhausted
		for _, ep := range slices.Sorted(maps.Keys(plan)) {
			parts := plan[ep]
			resp, err := r.listOn(ctx, ep, req, parts)
			switch {
			case err == nil:
				carts = append(carts, resp.GetCarts()...)
			case !retriable(err) || ctx.Err() != nil:
				return nil, err
			default:
				last = err
				for _, p := range parts {
					tried[p]++
				}
				pending = append(pending, parts...)
			}
		}
	}
	return &cartv1.ListCartsResponse{Carts: newestFirstPB(carts)}, nil
}

// listPlan assigns each pending partition to its next untried candidate;
// exhausted are those with none left this round.
func (r *Router) listPlan(pending []int32, tried map[int32]int) (plan map[string][]int32, exhausted []int32) {
	routes, now := r.cfg.View.Routes(), time.Now()
	plan = map[string][]int32{}
	for _, p := range pending {
		cands := routes.Candidates(p, now)
		if tried[p] >= len(cands) {
			exhausted = append(exhausted, p)
			continue
		}
		ep := cands[tried[p]]
		plan[ep] = append(plan[ep], p)
	}
	return plan, exhausted
}

// listOn asks the replica at ep for the customer's carts of parts.
func (r *Router) listOn(ctx context.Context, ep string, req *cartv1.ListCartsRequest, parts []int32) (*cartv1.ListCartsResponse, error) {
	c, err := r.conn(ep)
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	names := make([]string, len(parts))
	for i, p := range parts {
		names[i] = strconv.Itoa(int(p))
	}
	ctx = metadata.AppendToOutgoingContext(ctx, MDPartitions, strings.Join(names, ","))
	return c.client.ListCarts(ctx, req)
}

// newestFirstPB orders carts of several replicas as newestFirst does and
// keeps at most MaxListedCarts.
func newestFirstPB(carts []*cartv1.Cart) []*cartv1.Cart {
	slices.SortFunc(carts, func(a, b *cartv1.Cart) int {
		if n := b.GetUpdatedAt().AsTime().Compare(a.GetUpdatedAt().AsTime()); n != 0 {
			return n
		}
		return strings.Compare(a.GetCartId(), b.GetCartId())
	})
	return carts[:min(len(carts), MaxListedCarts)]
}
