package gateway

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cartstream/cartstream/cart"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// The bound on open carts per customer (docs/security.md, "Abuse limits").
//
// A command that would give a customer a new cart (an AddItem on a cart
// the read side does not show as owned, a MergeCarts into a new target) is
// refused RESOURCE_EXHAUSTED when the read side already lists
// Config.MaxCartsPerCustomer open carts of that customer. A command on a
// cart the customer already owns is never refused by it, so a customer at
// the bound can still fill, change and check out what they have.
//
// It is a soft bound: the count is the read side's, which trails the
// write side, so creations racing each other (or sent faster than the
// projection folds) can all pass and leave a customer a few carts over.
// A hard bound needs the count and the creation decided in one place, and
// the write side is partitioned by cart, not by customer: see
// docs/security.md for why that is not worth its cost here.
const (
	// DefaultMaxCartsPerCustomer is the binaries' default: more open carts
	// than a shopper keeps (several devices, a wish list, a gift), far fewer
	// than a script minting carts.
	DefaultMaxCartsPerCustomer = 20
	// MaxCartsBoundCeiling is the largest bound the read side can check: a
	// ListCarts answer holds at most 100 carts (projection.MaxListedCarts).
	MaxCartsBoundCeiling = 100
)

// ErrTooManyCarts matches every *CartBoundError.
var ErrTooManyCarts = errors.New("gateway: too many open carts")

// CartBoundError is a command refused because its customer already has
// Limit open carts.
type CartBoundError struct {
	Limit int
	// Cart is the cart the command would have created.
	Cart cart.CartID
}

func (e *CartBoundError) Error() string {
	return fmt.Sprintf("gateway: cart %s not created: the customer has %d open carts, the most allowed", e.Cart, e.Limit)
}

// Is makes errors.Is(err, ErrTooManyCarts) true.
func (e *CartBoundError) Is(target error) bool { return target == ErrTooManyCarts }

const msgTooManyCarts = "too many open carts: a customer may have at most %d open carts; add to one of them (ListCarts), check one out or clear one, then retry"

func tooManyCarts(err error) error {
	var cb *CartBoundError
	errors.As(err, &cb)
	st := status.New(codes.ResourceExhausted, fmt.Sprintf(msgTooManyCarts, cb.Limit))
	// No RetryInfo: waiting does not help, closing a cart does.
	if d, derr := st.WithDetails(&errdetails.QuotaFailure{Violations: []*errdetails.QuotaFailure_Violation{{
		Subject: "open-carts-per-customer", Description: fmt.Sprintf("at most %d open carts per customer", cb.Limit),
	}}}); derr == nil {
		return d.Err()
	}
	return st.Err()
}

// creation names the cart a command would create for a customer, if it
// can create one: an AddItem's cart, a MergeCarts' target. Other commands
// never give a cart an owner.
func creation(cmd cart.Command) (id cart.CartID, customer cart.CustomerID, ok bool) {
	switch c := cmd.(type) {
	case cart.AddItem:
		return c.CartID, c.CustomerID, true
	case cart.MergeCarts:
		return c.TargetCartID, c.CustomerID, true
	case cart.RemoveItem, cart.ChangeQuantity, cart.Checkout, cart.ClearCart, cart.ExpireCart, cart.MergeInto, cart.MergeReturned:
		return "", "", false
	default:
		return "", "", false
	}
}

// checkCartBound refuses a command that would create a cart for a
// customer at the bound. Off when the bound is 0 or the gateway has no
// read side that lists carts. A read side that cannot answer fails the
// command (as the ownership rule does): the client retries.
func (s *Server) checkCartBound(ctx context.Context, view *cartView, cmd cart.Command) error {
	limit := s.cfg.MaxCartsPerCustomer
	lister, listing := s.cfg.Reader.(CartLister)
	if limit <= 0 || !listing {
		return nil
	}
	id, customer, ok := creation(cmd)
	if !ok || customer == "" {
		return nil
	}
	owner, found, err := view.owner(ctx, id)
	if err != nil {
		return err
	}
	if found && owner != "" {
		return nil // an existing cart: the bound never refuses it
	}
	if m, ok := cmd.(cart.MergeCarts); ok {
		// Lines moving from one of the customer's own carts into a new
		// one leave the count as it was (the source closes, MERGED).
		src, found, err := view.owner(ctx, m.CartID)
		if err != nil {
			return err
		}
		if found && src == customer {
			return nil
		}
	}
	resp, err := lister.ListCarts(ctx, &cartv1.ListCartsRequest{CustomerId: string(customer)})
	if err != nil {
		return fmt.Errorf("gateway: count the customer's open carts: %w", err)
	}
	if len(resp.GetCarts()) >= limit {
		return &CartBoundError{Limit: limit, Cart: id}
	}
	return nil
}

// cartView memoizes one call's look-ups of cart owners, so the ownership
// rule and the cart bound ask the read side once per cart.
type cartView struct {
	s    *Server
	seen map[cart.CartID]ownerAnswer
}

type ownerAnswer struct {
	owner cart.CustomerID
	found bool
}

func (s *Server) newCartView() *cartView { return &cartView{s: s} }

func (v *cartView) owner(ctx context.Context, id cart.CartID) (cart.CustomerID, bool, error) {
	if a, ok := v.seen[id]; ok {
		return a.owner, a.found, nil
	}
	owner, found, err := v.s.owner(ctx, id)
	if err != nil {
		return "", false, err
	}
	if v.seen == nil {
		v.seen = map[cart.CartID]ownerAnswer{}
	}
	v.seen[id] = ownerAnswer{owner, found}
	return owner, found, nil
}
