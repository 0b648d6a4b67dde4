package gateway

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/auth"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// Who may do what (docs/security.md):
//
//   - Development mode (Config.Authenticated false): the request names its
//     customer; the domain alone checks ownership (AddItem and Checkout of
//     another customer's cart are rejected CUSTOMER_MISMATCH); anyone reads
//     any cart.
//   - Token mode: the token names the customer. A command's customer_id may
//     be empty (the token's is used) or the token's; another is
//     PERMISSION_DENIED. A cart belongs to the customer of its first
//     accepted AddItem (its snapshot's customer_id, which never changes).
//     AddItem and Checkout may create a cart the read side does not know
//     (the domain settles a race between two creators); RemoveItem and
//     ChangeQuantity need a cart the read side shows as the caller's,
//     because they carry no customer the domain could check. A command on
//     another customer's cart is PERMISSION_DENIED. Reads (GetCart,
//     WatchCart, GetCartHistory) of a cart that is not the caller's answer
//     NOT_FOUND exactly like an unknown cart; an operator reads any cart.

// caller is the call's caller: the interceptors' in token mode (none is
// UNAUTHENTICATED: fail closed), a development caller otherwise.
func (s *Server) caller(ctx context.Context) (auth.Caller, error) {
	c, ok := auth.FromContext(ctx)
	if !s.cfg.Authenticated {
		return auth.Caller{Dev: true}, nil
	}
	if !ok || c.Dev || c.Customer == "" {
		return auth.Caller{}, &auth.TokenError{Problem: auth.ProblemMissing}
	}
	return c, nil
}

// customer is the customer a command acts for: the request's in
// development mode, the token's otherwise (an empty request field takes it;
// a different one is refused rather than silently replaced, so a client
// bug shows).
func (s *Server) customer(who auth.Caller, requested string) (cart.CustomerID, error) {
	if who.Dev || requested == string(who.Customer) {
		return cart.CustomerID(requested), nil
	}
	if requested == "" {
		return who.Customer, nil
	}
	return "", fmt.Errorf("%w: customer_id differs from the authenticated customer: omit it or send your own", ErrPermissionDenied)
}

// rateKey is whose bucket a command draws from.
func rateKey(who auth.Caller, m cart.RequestMeta) string {
	switch {
	case !who.Dev:
		return "c:" + string(who.Customer)
	case m.CustomerID != "":
		return "c:" + string(m.CustomerID)
	default:
		return "cart:" + string(m.CartID)
	}
}

// authorizeCommand applies the ownership rule to a checked command.
func (s *Server) authorizeCommand(ctx context.Context, view *cartView, who auth.Caller, cmd cart.Command) error {
	if who.Dev {
		return nil
	}
	if m, ok := cmd.(cart.MergeCarts); ok {
		return s.authorizeMerge(ctx, view, who, m)
	}
	id := cmd.Meta().CartID
	owner, found, err := view.owner(ctx, id)
	if err != nil {
		return err
	}
	switch cmd.(type) {
	case cart.RemoveItem, cart.ChangeQuantity:
		if !found || owner == "" {
			return fmt.Errorf("%w: %s (a RemoveItem or ChangeQuantity needs a cart the read side has seen: wait for the AddItem's outcome first)", ErrCartNotFound, id)
		}
	case cart.AddItem, cart.Checkout, cart.ClearCart:
		if !found || owner == "" {
			return nil
		}
	case cart.ExpireCart, cart.MergeCarts, cart.MergeInto, cart.MergeReturned:
		// Internal or handled above: no client may send these.
		return fmt.Errorf("%w: %s is not a client command", ErrPermissionDenied, cmd.Kind())
	}
	if owner != who.Customer {
		return fmt.Errorf("%w: cart %s belongs to another customer", ErrPermissionDenied, id)
	}
	return nil
}

// owner looks the cart's customer up on the read side; found is false for
// a cart it does not know.
func (s *Server) owner(ctx context.Context, id cart.CartID) (owner cart.CustomerID, found bool, err error) {
	resp, err := s.cfg.Reader.GetCart(ctx, &cartv1.GetCartRequest{CartId: string(id)})
	if status.Code(err) == codes.NotFound {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("gateway: look up the owner of cart %s: %w", id, err)
	}
	return cart.CustomerID(resp.GetCart().GetCustomerId()), true, nil
}

// mayRead applies the read rule to a cart the read side returned.
func mayRead(who auth.Caller, c *cartv1.Cart) bool {
	return who.Dev || who.Operator || (c.GetCustomerId() != "" && c.GetCustomerId() == string(who.Customer))
}

func cartNotFound(id string) error { return fmt.Errorf("%w: %s", ErrCartNotFound, id) }

// checkRead refuses, as NOT_FOUND, a read of a cart that is not the
// caller's; for the reads that cannot check the cart they answer with.
func (s *Server) checkRead(ctx context.Context, who auth.Caller, id string) error {
	if who.Dev || who.Operator {
		return nil
	}
	resp, err := s.cfg.Reader.GetCart(ctx, &cartv1.GetCartRequest{CartId: id})
	if status.Code(err) == codes.NotFound {
		return cartNotFound(id)
	}
	if err != nil {
		return err
	}
	if !mayRead(who, resp.GetCart()) {
		return cartNotFound(id)
	}
	return nil
}

// readErr keeps a token-mode NOT_FOUND identical whatever its cause.
func readErr(who auth.Caller, id string, err error) error {
	if !who.Dev && status.Code(err) == codes.NotFound {
		return cartNotFound(id)
	}
	return err
}
