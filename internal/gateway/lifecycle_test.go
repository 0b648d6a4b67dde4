package gateway

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// listingReader is an ownersReader that also lists carts (gateway.CartLister).
type listingReader struct {
	ownersReader
	asked []string
}

func (r *listingReader) ListCarts(_ context.Context, req *cartv1.ListCartsRequest) (*cartv1.ListCartsResponse, error) {
	r.asked = append(r.asked, req.GetCustomerId())
	var out []*cartv1.Cart
	for id, owner := range r.owners {
		if owner == req.GetCustomerId() {
			out = append(out, &cartv1.Cart{CartId: id, CustomerId: owner})
		}
	}
	return &cartv1.ListCartsResponse{Carts: out}, nil
}

// A customer lists only their own carts, an operator anyone's; a reader
// that cannot list answers UNIMPLEMENTED.
func TestListCartsOwnership(t *testing.T) {
	r := &listingReader{ownersReader: ownersReader{owners: map[string]string{"cart-a": "alice", "cart-b": "bob"}}}
	s := tokenServer(t, &fakeProducer{}, r)
	if resp, err := s.ListCarts(as(t.Context(), alice), &cartv1.ListCartsRequest{CustomerId: "alice"}); err != nil || len(resp.GetCarts()) != 1 {
		t.Fatalf("alice lists her carts: %v, %v", resp, err)
	}
	if _, err := s.ListCarts(as(t.Context(), alice), &cartv1.ListCartsRequest{CustomerId: "bob"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("alice lists bob's carts: %v, want PERMISSION_DENIED", err)
	}
	if resp, err := s.ListCarts(as(t.Context(), operator), &cartv1.ListCartsRequest{CustomerId: "bob"}); err != nil || len(resp.GetCarts()) != 1 {
		t.Fatalf("an operator lists bob's carts: %v, %v", resp, err)
	}
	if _, err := s.ListCarts(as(t.Context(), operator), &cartv1.ListCartsRequest{CustomerId: "no such id!"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("malformed customer id: %v", err)
	}
	if len(r.asked) != 2 {
		t.Errorf("reader asked for %v, want alice and bob only", r.asked)
	}
	plain := tokenServer(t, &fakeProducer{}, ownersReader{})
	if _, err := plain.ListCarts(as(t.Context(), alice), &cartv1.ListCartsRequest{CustomerId: "alice"}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("reader without ListCarts: %v, want UNIMPLEMENTED", err)
	}
}

// MergeCarts in token mode: the guest cart must be the caller's (or the
// caller an operator) and the target the customer's or new; ClearCart
// follows the ownership rule of the other commands.
func TestMergeAndClearOwnership(t *testing.T) {
	p := &fakeProducer{}
	s := tokenServer(t, p, ownersReader{owners: map[string]string{"guest-1": "guest-1", "cart-a": "alice", "cart-b": "bob"}})
	cases := []struct {
		name string
		who  context.Context
		req  any
		want codes.Code
	}{
		{"operator merges a guest cart into alice's", as(t.Context(), operator), &cartv1.MergeCartsRequest{CartId: "guest-1", RequestId: "m1", CustomerId: "alice", TargetCartId: "cart-a"}, codes.OK},
		{"operator merges into bob's cart for alice", as(t.Context(), operator), &cartv1.MergeCartsRequest{CartId: "guest-1", RequestId: "m0", CustomerId: "alice", TargetCartId: "cart-b"}, codes.PermissionDenied},
		{"alice merges a stranger's cart", as(t.Context(), alice), &cartv1.MergeCartsRequest{CartId: "guest-1", RequestId: "m2", TargetCartId: "cart-a"}, codes.PermissionDenied},
		{"alice merges her cart into bob's", as(t.Context(), alice), &cartv1.MergeCartsRequest{CartId: "cart-a", RequestId: "m3", TargetCartId: "cart-b"}, codes.PermissionDenied},
		{"alice merges her cart into a new one", as(t.Context(), alice), &cartv1.MergeCartsRequest{CartId: "cart-a", RequestId: "m4", TargetCartId: "cart-new"}, codes.OK},
		{"alice merges an unknown cart", as(t.Context(), alice), &cartv1.MergeCartsRequest{CartId: "cart-zz", RequestId: "m5", TargetCartId: "cart-a"}, codes.NotFound},
		{"bob clears alice's cart", as(t.Context(), bob), &cartv1.ClearCartRequest{CartId: "cart-a", RequestId: "c1"}, codes.PermissionDenied},
		{"alice clears her cart", as(t.Context(), alice), &cartv1.ClearCartRequest{CartId: "cart-a", RequestId: "c2"}, codes.OK},
	}
	for _, tc := range cases {
		var err error
		switch r := tc.req.(type) {
		case *cartv1.MergeCartsRequest:
			_, err = s.MergeCarts(tc.who, r)
		case *cartv1.ClearCartRequest:
			_, err = s.ClearCart(tc.who, r)
		}
		if status.Code(err) != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if n := len(p.records()); n != 3 {
		t.Errorf("%d records produced, want 3 (the allowed merges and clear)", n)
	}
}

// Request ids of the manager's own form are refused, so a client cannot
// make the manager's expiry or merge a DUPLICATE_REQUEST.
func TestReservedRequestIDs(t *testing.T) {
	p := &fakeProducer{}
	s := newTestServer(t, p)
	for _, id := range []string{"expire-v3", "merge-abc", "return-1"} {
		_, err := s.AddItem(t.Context(), &cartv1.AddItemRequest{CartId: "c1", RequestId: id, CustomerId: "u1", Sku: "apple", Quantity: 1})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("request id %s: %v, want INVALID_ARGUMENT", id, err)
		}
	}
	if n := len(p.records()); n != 0 {
		t.Fatalf("%d records produced", n)
	}
}
