package projection

import (
	"context"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/gateway"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

var (
	_ gateway.CartLister = (*Server)(nil)
	_ gateway.CartLister = (*Remote)(nil)
)

// ListCarts implements cartv1.CartServiceServer and gateway.CartLister.
// Who may list whom is the gateway's rule; the projection lists anyone's.
func (s *Server) ListCarts(_ context.Context, req *cartv1.ListCartsRequest) (*cartv1.ListCartsResponse, error) {
	carts, err := s.p.ListCarts(cart.CustomerID(req.GetCustomerId()))
	if err != nil {
		return nil, statusOf(err)
	}
	resp := &cartv1.ListCartsResponse{Carts: make([]*cartv1.Cart, len(carts))}
	for i := range carts {
		resp.Carts[i] = cartPB(&carts[i])
	}
	return resp, nil
}

// ListCarts implements gateway.CartLister.
func (r *Remote) ListCarts(ctx context.Context, req *cartv1.ListCartsRequest) (*cartv1.ListCartsResponse, error) {
	return r.client.ListCarts(ctx, req)
}

// ClearCart answers FAILED_PRECONDITION: commands go to the gateway.
func (s *Server) ClearCart(context.Context, *cartv1.ClearCartRequest) (*cartv1.ClearCartResponse, error) {
	return nil, s.command("ClearCart")
}

// MergeCarts answers FAILED_PRECONDITION: commands go to the gateway.
func (s *Server) MergeCarts(context.Context, *cartv1.MergeCartsRequest) (*cartv1.MergeCartsResponse, error) {
	return nil, s.command("MergeCarts")
}
