package gateway

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// boundReader is a read side that lists carts by owner and counts the
// look-ups; listErr, when set, fails ListCarts.
type boundReader struct {
	listingReader
	gets    atomic.Int32
	lists   atomic.Int32
	listErr error
}

func (r *boundReader) GetCart(ctx context.Context, req *cartv1.GetCartRequest) (*cartv1.GetCartResponse, error) {
	r.gets.Add(1)
	return r.listingReader.GetCart(ctx, req)
}

func (r *boundReader) ListCarts(ctx context.Context, req *cartv1.ListCartsRequest) (*cartv1.ListCartsResponse, error) {
	r.lists.Add(1)
	if r.listErr != nil {
		return nil, r.listErr
	}
	return r.listingReader.ListCarts(ctx, req)
}

// newBoundReader knows alice's carts a1 and a2, bob's b1, and "lost", a
// cart whose commands were all rejected (no owner).
func newBoundReader() *boundReader {
	return &boundReader{listingReader: listingReader{ownersReader: ownersReader{owners: map[string]string{
		"a1": "alice", "a2": "alice", "b1": "bob", "lost": "", "guest-1": "guest-1",
	}}}}
}

func boundServer(t *testing.T, p Producer, r Reader, limit int, token bool) *Server {
	t.Helper()
	return newTestServer(t, p, func(c *Config) {
		c.Reader, c.Authenticated, c.MaxCartsPerCustomer = r, token, limit
	})
}

// wantTooManyCarts checks the refusal: RESOURCE_EXHAUSTED naming the
// limit, with a QuotaFailure and no RetryInfo (waiting does not help).
func wantTooManyCarts(t *testing.T, err error, limit string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "at most "+limit+" open carts") {
		t.Fatalf("error = %v, want RESOURCE_EXHAUSTED naming the limit %s", err, limit)
	}
	var quota bool
	for _, d := range st.Details() {
		switch d.(type) {
		case *errdetails.QuotaFailure:
			quota = true
		case *errdetails.RetryInfo:
			t.Errorf("a refusal for too many carts carries RetryInfo")
		}
	}
	if !quota {
		t.Errorf("no QuotaFailure detail in %v", st.Details())
	}
}

// At the bound, a command that would create a cart is refused in both
// modes and nothing is produced; commands on the customer's existing carts
// and another customer's creations pass.
func TestCartBoundRefusesANewCartAtTheLimit(t *testing.T) {
	for _, token := range []bool{false, true} {
		name := map[bool]string{false: "dev", true: "token"}[token]
		t.Run(name, func(t *testing.T) {
			p := &fakeProducer{}
			r := newBoundReader()
			s := boundServer(t, p, r, 2, token)
			aliceCtx, bobCtx := t.Context(), t.Context()
			customer := func(c string) string { return c }
			if token {
				aliceCtx, bobCtx = as(t.Context(), alice), as(t.Context(), bob)
				customer = func(string) string { return "" } // the token's
			}
			_, err := s.AddItem(aliceCtx, &cartv1.AddItemRequest{CartId: "a3", RequestId: "r1", CustomerId: customer("alice"), Sku: "apple", Quantity: 1})
			wantTooManyCarts(t, err, "2")
			_, err = s.AddItem(aliceCtx, &cartv1.AddItemRequest{CartId: "lost", RequestId: "r2", CustomerId: customer("alice"), Sku: "apple", Quantity: 1})
			wantTooManyCarts(t, err, "2") // an unowned cart would become hers
			if n := len(p.records()); n != 0 {
				t.Fatalf("%d records produced for refused creations", n)
			}
			for _, req := range commands("a1") {
				if ar, ok := req.(*cartv1.AddItemRequest); ok {
					ar.CustomerId = customer("alice")
				}
				if co, ok := req.(*cartv1.CheckoutRequest); ok {
					co.CustomerId = customer("alice")
				}
				if _, _, err := call(aliceCtx, s, req); err != nil {
					t.Errorf("%T on alice's existing cart at the bound: %v", req, err)
				}
			}
			if _, err := s.AddItem(bobCtx, &cartv1.AddItemRequest{CartId: "b2", RequestId: "r3", CustomerId: customer("bob"), Sku: "apple", Quantity: 1}); err != nil {
				t.Errorf("bob (one cart) creates a second: %v", err)
			}
			if n := len(p.records()); n != 5 {
				t.Errorf("%d records produced, want 5 (four on a1, bob's new cart)", n)
			}
		})
	}
}

// Below the bound a new cart passes; 0 turns the bound off and asks the
// read side nothing it did not ask before.
func TestCartBoundBelowTheLimitAndOff(t *testing.T) {
	r := newBoundReader()
	s := boundServer(t, &fakeProducer{}, r, 3, false)
	if _, err := s.AddItem(t.Context(), &cartv1.AddItemRequest{CartId: "a3", RequestId: "r1", CustomerId: "alice", Sku: "apple", Quantity: 1}); err != nil {
		t.Fatalf("alice's third cart under a bound of 3: %v", err)
	}
	if r.lists.Load() != 1 {
		t.Errorf("ListCarts asked %d times, want 1", r.lists.Load())
	}
	// An AddItem on an existing cart costs one GetCart and no ListCarts.
	if _, err := s.AddItem(t.Context(), &cartv1.AddItemRequest{CartId: "a1", RequestId: "r2", CustomerId: "alice", Sku: "apple", Quantity: 1}); err != nil {
		t.Fatal(err)
	}
	if r.lists.Load() != 1 || r.gets.Load() != 2 {
		t.Errorf("after an AddItem on an existing cart: %d ListCarts, %d GetCart; want 1 and 2", r.lists.Load(), r.gets.Load())
	}

	off := newBoundReader()
	so := boundServer(t, &fakeProducer{}, off, 0, false)
	if _, err := so.AddItem(t.Context(), &cartv1.AddItemRequest{CartId: "a9", RequestId: "r1", CustomerId: "alice", Sku: "apple", Quantity: 1}); err != nil {
		t.Fatalf("bound off: %v", err)
	}
	if off.lists.Load()+off.gets.Load() != 0 {
		t.Errorf("bound off asked the read side %d times", off.lists.Load()+off.gets.Load())
	}
}

// In token mode the ownership rule and the bound share one owner look-up.
func TestCartBoundSharesTheOwnerLookUp(t *testing.T) {
	r := newBoundReader()
	s := boundServer(t, &fakeProducer{}, r, 5, true)
	if _, err := s.AddItem(as(t.Context(), alice), &cartv1.AddItemRequest{CartId: "a3", RequestId: "r1", Sku: "apple", Quantity: 1}); err != nil {
		t.Fatal(err)
	}
	if r.gets.Load() != 1 {
		t.Errorf("GetCart asked %d times for one AddItem, want 1", r.gets.Load())
	}
}

// A MergeCarts into a new target creates a cart: refused at the bound,
// unless the guest cart is the customer's own (the count stays).
func TestCartBoundMergeIntoANewTarget(t *testing.T) {
	p := &fakeProducer{}
	s := boundServer(t, p, newBoundReader(), 2, true)
	_, err := s.MergeCarts(as(t.Context(), operator), &cartv1.MergeCartsRequest{CartId: "guest-1", RequestId: "m1", CustomerId: "alice", TargetCartId: "a-new"})
	wantTooManyCarts(t, err, "2")
	if _, err := s.MergeCarts(as(t.Context(), operator), &cartv1.MergeCartsRequest{CartId: "guest-1", RequestId: "m2", CustomerId: "alice", TargetCartId: "a1"}); err != nil {
		t.Errorf("merge into alice's existing cart: %v", err)
	}
	if _, err := s.MergeCarts(as(t.Context(), alice), &cartv1.MergeCartsRequest{CartId: "a2", RequestId: "m3", TargetCartId: "a-new"}); err != nil {
		t.Errorf("alice merges her own cart into a new one: %v", err)
	}
	if n := len(p.records()); n != 2 {
		t.Errorf("%d records produced, want 2", n)
	}
}

// A read side that cannot count fails the command (as the ownership rule
// does) instead of letting it through unchecked.
func TestCartBoundReadSideDown(t *testing.T) {
	r := newBoundReader()
	r.listErr = status.Error(codes.Unavailable, "projection: not ready")
	p := &fakeProducer{}
	s := boundServer(t, p, r, 2, false)
	_, err := s.AddItem(t.Context(), &cartv1.AddItemRequest{CartId: "c-new", RequestId: "r1", CustomerId: "carol", Sku: "apple", Quantity: 1})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("read side down: %v, want UNAVAILABLE", err)
	}
	if n := len(p.records()); n != 0 {
		t.Fatalf("%d records produced", n)
	}
}

// The bound is off without a read side that lists carts, and Validate
// refuses what the read side could not count.
func TestCartBoundConfig(t *testing.T) {
	s := newTestServer(t, &fakeProducer{}, func(c *Config) { c.MaxCartsPerCustomer = 1 })
	if _, err := s.AddItem(t.Context(), &cartv1.AddItemRequest{CartId: "c1", RequestId: "r1", CustomerId: "u1", Sku: "apple", Quantity: 1}); err != nil {
		t.Fatalf("no read side: %v, want the bound off", err)
	}
	for _, n := range []int{-1, MaxCartsBoundCeiling + 1} {
		cfg := Config{Topic: "t", Producer: &fakeProducer{}, Encoder: fakeEncoder{}, MaxCartsPerCustomer: n}
		if err := cfg.Validate(); err == nil {
			t.Errorf("max carts per customer %d accepted", n)
		}
		if err := (Options{Kafka: KafkaConfig{Brokers: "b:9092"}, Encoder: fakeEncoder{}, MaxCartsPerCustomer: n}).Validate(); err == nil {
			t.Errorf("Options: max carts per customer %d accepted", n)
		}
	}
}
