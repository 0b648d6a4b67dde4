package gateway

import (
	"context"
	"fmt"
	"strings"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/auth"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// CartLister lists a customer's open carts; the read path implements it
// beside Reader (the gateway finds it on Config.Reader). It must be safe
// for concurrent use and honour ctx.
type CartLister interface {
	ListCarts(ctx context.Context, req *cartv1.ListCartsRequest) (*cartv1.ListCartsResponse, error)
}

// ClearCart implements cartv1.CartServiceServer.
func (s *Server) ClearCart(ctx context.Context, req *cartv1.ClearCartRequest) (*cartv1.ClearCartResponse, error) {
	who, customer, err := s.commandCaller(ctx, req.GetCustomerId())
	if err != nil {
		return nil, statusOf(err)
	}
	cmd := cart.ClearCart{CartID: cart.CartID(req.GetCartId()), RequestID: cart.RequestID(req.GetRequestId()),
		CustomerID: customer, RequestedAt: s.now()}
	token, outcome, err := s.submit(ctx, who, cmd, req.GetWaitForOutcome())
	if err != nil {
		return nil, statusOf(err)
	}
	return &cartv1.ClearCartResponse{ConsistencyToken: token, Outcome: outcome}, nil
}

// MergeCarts implements cartv1.CartServiceServer. The outcome it waits
// for is the guest cart's half (docs/decisions/0013-cart-lifecycle.md).
// In token mode a guest cart belongs to the guest's id, not to the
// customer signing in, so besides a customer merging carts of their own,
// an operator (the storefront's back end, which saw both sessions) may
// merge for the customer it names.
func (s *Server) MergeCarts(ctx context.Context, req *cartv1.MergeCartsRequest) (*cartv1.MergeCartsResponse, error) {
	who, customer, err := s.commandCaller(ctx, req.GetCustomerId())
	if err != nil && who.Operator && req.GetCustomerId() != "" {
		customer, err = cart.CustomerID(req.GetCustomerId()), nil
	}
	if err != nil {
		return nil, statusOf(err)
	}
	cmd := cart.MergeCarts{CartID: cart.CartID(req.GetCartId()), RequestID: cart.RequestID(req.GetRequestId()),
		CustomerID: customer, RequestedAt: s.now(), TargetCartID: cart.CartID(req.GetTargetCartId())}
	token, outcome, err := s.submit(ctx, who, cmd, req.GetWaitForOutcome())
	if err != nil {
		return nil, statusOf(err)
	}
	return &cartv1.MergeCartsResponse{ConsistencyToken: token, Outcome: outcome}, nil
}

// ListCarts implements cartv1.CartServiceServer: a customer lists their
// own open carts, an operator anyone's; development mode lists the
// customer named.
func (s *Server) ListCarts(ctx context.Context, req *cartv1.ListCartsRequest) (*cartv1.ListCartsResponse, error) {
	lister, ok := s.cfg.Reader.(CartLister)
	if !ok {
		return nil, statusOf(notServed("ListCarts"))
	}
	who, err := s.caller(ctx)
	if err != nil {
		return nil, statusOf(err)
	}
	customer := cart.CustomerID(req.GetCustomerId())
	if !who.Dev && !who.Operator {
		if customer, err = s.customer(who, string(customer)); err != nil {
			return nil, statusOf(err)
		}
	}
	if err := customer.Validate(); err != nil {
		return nil, statusOf(err)
	}
	resp, err := lister.ListCarts(ctx, &cartv1.ListCartsRequest{CustomerId: string(customer)})
	if err != nil {
		return nil, statusOf(err)
	}
	return resp, nil
}

// authorizeMerge applies the ownership rule to a MergeCarts in token
// mode: the guest cart must be the caller's own or unowned, unless the
// caller is an operator (a storefront back end that saw both sessions);
// the target must be the customer's or new.
func (s *Server) authorizeMerge(ctx context.Context, view *cartView, who auth.Caller, cmd cart.MergeCarts) error {
	src, found, err := view.owner(ctx, cmd.CartID)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: %s", ErrCartNotFound, cmd.CartID)
	}
	if src != "" && src != who.Customer && !who.Operator {
		return fmt.Errorf("%w: cart %s belongs to another customer", ErrPermissionDenied, cmd.CartID)
	}
	dst, found, err := view.owner(ctx, cmd.TargetCartID)
	if err != nil {
		return err
	}
	if found && dst != "" && dst != cmd.CustomerID {
		return fmt.Errorf("%w: cart %s belongs to another customer", ErrPermissionDenied, cmd.TargetCartID)
	}
	return nil
}

// The manager's own requests have ids "expire-v<version>",
// "merge-<digest>" and "return-<digest>" (cart.ExpireRequestID,
// cart.MergeIntoRequestID, cart.MergeReturnedRequestID). A
// client id of that form could sit in a cart's window and turn the
// manager's request into a DUPLICATE_REQUEST, so clients may not use them.
const reservedRule = `must not start with "expire-", "merge-" or "return-" (reserved for the manager's own requests)`

func reservedRequestID(id cart.RequestID) bool {
	for _, p := range []string{"expire-", "merge-", "return-"} {
		if strings.HasPrefix(string(id), p) {
			return true
		}
	}
	return false
}
