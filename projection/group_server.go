package projection

import (
	"context"
	"fmt"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
	readsidev1 "github.com/cartstream/cartstream/proto/cartstream/readside/v1"
)

// Metadata of a replica's queries.
const (
	// MDMaxLag, in a query's request metadata, is the staleness the caller
	// accepts (as KIP-535 lets interactive queries say): how many records
	// of cart.state the answering replica may trail the partition's last
	// stable offset by, as last probed. A replica further behind answers
	// UNAVAILABLE and a router asks another. Absent: any replica that has
	// caught up once may answer. A consistency token overrides it: the
	// answer then waits for the token wherever it comes from.
	MDMaxLag = "cartstream-max-lag"
	// MDOwner and MDPartition, in the trailer of an UNAVAILABLE answer for
	// a partition the replica does not serve, name the partition and its
	// owner as the replica last heard.
	MDOwner     = "cartstream-owner"
	MDPartition = "cartstream-partition"
)

// ErrTooStale: the replica trails the partition by more than the query's
// MDMaxLag.
var ErrTooStale = fmt.Errorf("%w: this replica trails the partition by more than the query accepts", ErrUnavailable)

// ReplicaServer serves a Replica's partitions: CartService's queries,
// OutcomeService and CatalogService, each query handed to the Projection
// of the cart's partition. Safe for concurrent use.
type ReplicaServer struct {
	cartv1.UnimplementedCartServiceServer
	cartv1.UnimplementedCatalogServiceServer
	readsidev1.UnimplementedOutcomeServiceServer
	r *Replica
}

// Register registers the replica's services on reg.
func (r *Replica) Register(reg grpc.ServiceRegistrar) {
	s := &ReplicaServer{r: r}
	cartv1.RegisterCartServiceServer(reg, s)
	cartv1.RegisterCatalogServiceServer(reg, s)
	readsidev1.RegisterOutcomeServiceServer(reg, s)
}

// serverFor is the partition's query server for cart id, once it accepts
// the query's staleness.
func (s *ReplicaServer) serverFor(ctx context.Context, id string) (*instance, error) {
	in, part, err := s.r.lookup(id)
	if nerr, ok := err.(*NotOwnedError); ok {
		_ = grpc.SetTrailer(ctx, metadata.Pairs(MDOwner, nerr.Owner, MDPartition, strconv.Itoa(int(part))))
	}
	if err != nil {
		return nil, statusOf(err)
	}
	if maxLag, ok := requestedMaxLag(ctx); ok {
		if ps := in.p.Stats().Partitions; len(ps) == 1 && ps[0].Stable >= 0 && ps[0].Stable-ps[0].Applied > maxLag {
			return nil, statusOf(fmt.Errorf("%w (partition %d: %d records behind, %d accepted)", ErrTooStale, part, ps[0].Stable-ps[0].Applied, maxLag))
		}
	}
	return in, nil
}

// requestedMaxLag is the query's MDMaxLag, if it states one.
func requestedMaxLag(ctx context.Context) (int64, bool) {
	md, _ := metadata.FromIncomingContext(ctx)
	vs := md.Get(MDMaxLag)
	if len(vs) == 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(vs[0], 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// GetCart implements cartv1.CartServiceServer.
func (s *ReplicaServer) GetCart(ctx context.Context, req *cartv1.GetCartRequest) (*cartv1.GetCartResponse, error) {
	in, err := s.serverFor(ctx, req.GetCartId())
	if err != nil {
		return nil, err
	}
	return in.srv.GetCart(ctx, req)
}

// GetCartHistory implements cartv1.CartServiceServer.
func (s *ReplicaServer) GetCartHistory(ctx context.Context, req *cartv1.GetCartHistoryRequest) (*cartv1.GetCartHistoryResponse, error) {
	in, err := s.serverFor(ctx, req.GetCartId())
	if err != nil {
		return nil, err
	}
	return in.srv.GetCartHistory(ctx, req)
}

// WatchCart implements cartv1.CartServiceServer. When the partition leaves
// this replica the stream ends UNAVAILABLE; a router reconnects it
// elsewhere.
func (s *ReplicaServer) WatchCart(req *cartv1.WatchCartRequest, stream grpc.ServerStreamingServer[cartv1.WatchCartResponse]) error {
	in, err := s.serverFor(stream.Context(), req.GetCartId())
	if err != nil {
		return err
	}
	return in.srv.WatchCart(req, stream)
}

// AwaitOutcome implements readsidev1.OutcomeServiceServer.
func (s *ReplicaServer) AwaitOutcome(ctx context.Context, req *readsidev1.AwaitOutcomeRequest) (*readsidev1.AwaitOutcomeResponse, error) {
	in, err := s.serverFor(ctx, req.GetCartId())
	if err != nil {
		return nil, err
	}
	return NewOutcomeServer(in.p).AwaitOutcome(ctx, req)
}

// Commands answer FAILED_PRECONDITION, as on a single projection.

// AddItem answers FAILED_PRECONDITION: commands go to the gateway.
func (s *ReplicaServer) AddItem(context.Context, *cartv1.AddItemRequest) (*cartv1.AddItemResponse, error) {
	return nil, (&Server{}).command("AddItem")
}

// RemoveItem answers FAILED_PRECONDITION: commands go to the gateway.
func (s *ReplicaServer) RemoveItem(context.Context, *cartv1.RemoveItemRequest) (*cartv1.RemoveItemResponse, error) {
	return nil, (&Server{}).command("RemoveItem")
}

// ChangeQuantity answers FAILED_PRECONDITION: commands go to the gateway.
func (s *ReplicaServer) ChangeQuantity(context.Context, *cartv1.ChangeQuantityRequest) (*cartv1.ChangeQuantityResponse, error) {
	return nil, (&Server{}).command("ChangeQuantity")
}

// Checkout answers FAILED_PRECONDITION: commands go to the gateway.
func (s *ReplicaServer) Checkout(context.Context, *cartv1.CheckoutRequest) (*cartv1.CheckoutResponse, error) {
	return nil, (&Server{}).command("Checkout")
}

// catalog is the CatalogService of the replica's shared tables, which
// every partition's Projection answers from; it answers UNAVAILABLE until
// the catalog is loaded.
func (s *ReplicaServer) catalog() (*CatalogServer, error) {
	return &CatalogServer{t: s.r.tables, maxQty: s.r.cfg.Projection.DefaultMaxQuantityPerLine}, nil
}

// ListProducts implements cartv1.CatalogServiceServer.
func (s *ReplicaServer) ListProducts(ctx context.Context, req *cartv1.ListProductsRequest) (*cartv1.ListProductsResponse, error) {
	c, err := s.catalog()
	if err != nil {
		return nil, err
	}
	return c.ListProducts(ctx, req)
}

// GetProduct implements cartv1.CatalogServiceServer.
func (s *ReplicaServer) GetProduct(ctx context.Context, req *cartv1.GetProductRequest) (*cartv1.GetProductResponse, error) {
	c, err := s.catalog()
	if err != nil {
		return nil, err
	}
	return c.GetProduct(ctx, req)
}
