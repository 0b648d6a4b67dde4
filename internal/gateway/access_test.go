package gateway

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/cartstream/cartstream/internal/auth"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// ownersReader is a read side that knows carts by owner ("" is a cart
// whose commands were all rejected: it has no owner yet).
type ownersReader struct {
	owners map[string]string
	err    error // every call fails with it when set
}

func (r ownersReader) cart(id string) (*cartv1.Cart, error) {
	if r.err != nil {
		return nil, r.err
	}
	owner, ok := r.owners[id]
	if !ok {
		return nil, status.Error(codes.NotFound, "projection: not found: cart "+id)
	}
	return &cartv1.Cart{CartId: id, CustomerId: owner, Version: 3}, nil
}

func (r ownersReader) GetCart(_ context.Context, req *cartv1.GetCartRequest) (*cartv1.GetCartResponse, error) {
	c, err := r.cart(req.GetCartId())
	if err != nil {
		return nil, err
	}
	return &cartv1.GetCartResponse{Cart: c}, nil
}

func (r ownersReader) WatchCart(req *cartv1.WatchCartRequest, s cartv1.CartService_WatchCartServer) error {
	c, err := r.cart(req.GetCartId())
	if err != nil {
		return err
	}
	return s.Send(&cartv1.WatchCartResponse{Cart: c})
}

func (r ownersReader) GetCartHistory(_ context.Context, req *cartv1.GetCartHistoryRequest) (*cartv1.GetCartHistoryResponse, error) {
	if _, err := r.cart(req.GetCartId()); err != nil {
		return nil, err
	}
	return &cartv1.GetCartHistoryResponse{Entries: []*cartv1.HistoryEntry{{RequestId: "r1"}}}, nil
}

// watchStream collects what WatchCart sends.
type watchStream struct {
	grpc.ServerStream
	ctx  context.Context
	sent []*cartv1.WatchCartResponse
}

func (w *watchStream) Context() context.Context { return w.ctx }
func (w *watchStream) Send(m *cartv1.WatchCartResponse) error {
	w.sent = append(w.sent, m)
	return nil
}

var (
	alice    = auth.Caller{Customer: "alice"}
	bob      = auth.Caller{Customer: "bob"}
	operator = auth.Caller{Customer: "ops-1", Operator: true}
)

func tokenServer(t *testing.T, p Producer, r Reader) *Server {
	t.Helper()
	return newTestServer(t, p, func(c *Config) { c.Reader, c.Authenticated = r, true })
}

func as(ctx context.Context, c auth.Caller) context.Context { return auth.NewContext(ctx, c) }

// commands are one of each command on cart id, with customer_id empty
// where the request has one.
func commands(id string) []proto.Message {
	return []proto.Message{
		&cartv1.AddItemRequest{CartId: id, RequestId: "r-add", Sku: "apple", Quantity: 1},
		&cartv1.RemoveItemRequest{CartId: id, RequestId: "r-rm", Sku: "apple"},
		&cartv1.ChangeQuantityRequest{CartId: id, RequestId: "r-chg", Sku: "apple", Quantity: 2},
		&cartv1.CheckoutRequest{CartId: id, RequestId: "r-co"},
	}
}

// reads runs GetCart, WatchCart and GetCartHistory of id as c.
func reads(ctx context.Context, s *Server, id string) []error {
	_, e1 := s.GetCart(ctx, &cartv1.GetCartRequest{CartId: id})
	e2 := s.WatchCart(&cartv1.WatchCartRequest{CartId: id}, &watchStream{ctx: ctx})
	_, e3 := s.GetCartHistory(ctx, &cartv1.GetCartHistoryRequest{CartId: id})
	return []error{e1, e2, e3}
}

// A stolen cart id: bob, with a valid token of his own, knows alice's cart
// id. Every command is PERMISSION_DENIED and nothing reaches Kafka; every
// read is NOT_FOUND with the very message an unknown cart gets.
func TestStolenCartIDIsRefusedForEveryCommandAndRead(t *testing.T) {
	p := &fakeProducer{}
	s := tokenServer(t, p, ownersReader{owners: map[string]string{"cart-a": "alice"}})
	ctx := as(t.Context(), bob)
	for _, req := range commands("cart-a") {
		if _, _, err := call(ctx, s, req); status.Code(err) != codes.PermissionDenied {
			t.Errorf("%T by bob: %v, want PERMISSION_DENIED", req, err)
		}
	}
	if n := len(p.records()); n != 0 {
		t.Fatalf("%d records produced for another customer's cart", n)
	}
	stolen, unknown := reads(ctx, s, "cart-a"), reads(ctx, s, "cart-zz")
	for i := range stolen {
		if status.Code(stolen[i]) != codes.NotFound {
			t.Errorf("read %d by bob: %v, want NOT_FOUND", i, stolen[i])
		}
		if msg := status.Convert(stolen[i]).Message(); msg != strings.ReplaceAll(status.Convert(unknown[i]).Message(), "cart-zz", "cart-a") {
			t.Errorf("read %d: %q differs from an unknown cart's %q", i, msg, status.Convert(unknown[i]).Message())
		}
	}
}

func TestOwnerMayDoEverythingAndTheTokenNamesTheCustomer(t *testing.T) {
	p := &fakeProducer{}
	s := tokenServer(t, p, ownersReader{owners: map[string]string{"cart-a": "alice"}})
	ctx := as(t.Context(), alice)
	for _, req := range commands("cart-a") {
		if _, _, err := call(ctx, s, req); err != nil {
			t.Fatalf("%T by alice: %v", req, err)
		}
	}
	recs := p.records()
	if len(recs) != 4 || !strings.Contains(string(recs[0].Value), `CustomerID:"alice"`) || !strings.Contains(string(recs[3].Value), `CustomerID:"alice"`) {
		t.Fatalf("records %q: want alice's customer id from the token", recs)
	}
	for i, err := range reads(ctx, s, "cart-a") {
		if err != nil {
			t.Errorf("read %d by alice: %v", i, err)
		}
	}
	// A body naming someone else is refused, not silently replaced.
	_, _, err := call(ctx, s, &cartv1.AddItemRequest{CartId: "cart-a", RequestId: "r2", CustomerId: "bob", Sku: "apple", Quantity: 1})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("alice naming bob: %v, want PERMISSION_DENIED", err)
	}
	_, _, err = call(ctx, s, &cartv1.CheckoutRequest{CartId: "cart-a", RequestId: "r3", CustomerId: "alice"})
	if err != nil {
		t.Fatalf("alice naming herself: %v", err)
	}
}

func TestNewAndOwnerlessCarts(t *testing.T) {
	p := &fakeProducer{}
	s := tokenServer(t, p, ownersReader{owners: map[string]string{"cart-rejected": ""}})
	ctx := as(t.Context(), bob)
	for _, id := range []string{"cart-new", "cart-rejected"} {
		// AddItem and Checkout may create the cart: the domain settles
		// who owns it.
		if _, _, err := call(ctx, s, commands(id)[0]); err != nil {
			t.Errorf("AddItem on %s: %v", id, err)
		}
		if _, _, err := call(ctx, s, commands(id)[3]); err != nil {
			t.Errorf("Checkout on %s: %v", id, err)
		}
		// RemoveItem and ChangeQuantity carry no customer: they need a
		// cart the read side shows as the caller's.
		for _, req := range commands(id)[1:3] {
			if _, _, err := call(ctx, s, req); status.Code(err) != codes.NotFound {
				t.Errorf("%T on %s: %v, want NOT_FOUND", req, id, err)
			}
		}
		for i, err := range reads(ctx, s, id) {
			if status.Code(err) != codes.NotFound {
				t.Errorf("read %d of %s: %v, want NOT_FOUND", i, id, err)
			}
		}
	}
	if n := len(p.records()); n != 4 {
		t.Fatalf("%d records, want 4 (AddItem and Checkout of both carts)", n)
	}
}

func TestOperatorReadsAnyCartButChangesNone(t *testing.T) {
	p := &fakeProducer{}
	s := tokenServer(t, p, ownersReader{owners: map[string]string{"cart-a": "alice"}})
	ctx := as(t.Context(), operator)
	for i, err := range reads(ctx, s, "cart-a") {
		if err != nil {
			t.Errorf("read %d by an operator: %v", i, err)
		}
	}
	ws := &watchStream{ctx: ctx}
	if err := s.WatchCart(&cartv1.WatchCartRequest{CartId: "cart-a"}, ws); err != nil || len(ws.sent) != 1 || ws.sent[0].GetCart().GetCustomerId() != "alice" {
		t.Fatalf("WatchCart by an operator: %v, %v", ws.sent, err)
	}
	if _, _, err := call(ctx, s, commands("cart-a")[1]); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("operator's RemoveItem on alice's cart: %v, want PERMISSION_DENIED", err)
	}
}

func TestTokenModeFailsClosed(t *testing.T) {
	p := &fakeProducer{}
	s := tokenServer(t, p, ownersReader{owners: map[string]string{"cart-a": "alice"}})
	// No caller in the context (the interceptors were not run): refused.
	for _, req := range commands("cart-a") {
		if _, _, err := call(t.Context(), s, req); status.Code(err) != codes.Unauthenticated {
			t.Errorf("%T without a caller: %v, want UNAUTHENTICATED", req, err)
		}
	}
	for i, err := range reads(t.Context(), s, "cart-a") {
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("read %d without a caller: %v, want UNAUTHENTICATED", i, err)
		}
	}
	// The read side cannot say who owns the cart: refused, not guessed.
	s = tokenServer(t, p, ownersReader{err: status.Error(codes.Unavailable, "projection: rebuilding")})
	if _, _, err := call(as(t.Context(), alice), s, commands("cart-a")[0]); status.Code(err) != codes.Unavailable {
		t.Fatalf("owner unknown: %v, want UNAVAILABLE", err)
	}
	if n := len(p.records()); n != 0 {
		t.Fatalf("%d records produced", n)
	}
	if _, err := NewServer(Config{Topic: "t", Producer: p, Encoder: fakeEncoder{}, Authenticated: true}); err == nil || !strings.Contains(err.Error(), "read side") {
		t.Fatalf("token mode without a Reader: %v", err)
	}
}

func TestDevModeKeepsTheRequestsCustomer(t *testing.T) {
	p := &fakeProducer{}
	s := newTestServer(t, p, func(c *Config) { c.Reader = ownersReader{owners: map[string]string{"cart-a": "alice"}} })
	// Development mode: bob's request names alice, and nothing stops it at
	// the gateway (the domain's CUSTOMER_MISMATCH is the only guard).
	if _, _, err := call(t.Context(), s, &cartv1.AddItemRequest{CartId: "cart-a", RequestId: "r1", CustomerId: "alice", Sku: "apple", Quantity: 1}); err != nil {
		t.Fatal(err)
	}
	for i, err := range reads(t.Context(), s, "cart-a") {
		if err != nil {
			t.Errorf("read %d in development mode: %v", i, err)
		}
	}
}
