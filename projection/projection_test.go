package projection

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cartstream/cartstream/cart"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

func snapAt(id cart.CartID, offset, version int64) cart.Snapshot {
	s := cart.NewSnapshot(id)
	s.RequestOffset = offset
	s.Cart.Version = version
	return s
}

// A waiter is woken by the snapshot that covers its offset, not before,
// and a stale snapshot never replaces a newer one.
func TestShardAwaitIsNotifiedAndMonotonic(t *testing.T) {
	sh := newShard(0)
	closed := make(chan struct{})
	got := make(chan cart.Snapshot, 1)
	go func() {
		s, err := sh.await(context.Background(), closed, "c1", func(v view) (bool, error) {
			return v.has && v.snap.Covers(5), nil
		})
		if err != nil {
			t.Errorf("await: %v", err)
		}
		got <- s
	}()
	sh.apply(snapAt("c1", 3, 1))
	select {
	case s := <-got:
		t.Fatalf("woken at offset %d, before 5", s.RequestOffset)
	case <-time.After(50 * time.Millisecond):
	}
	sh.apply(snapAt("c1", 7, 2))
	if s := <-got; s.RequestOffset != 7 {
		t.Fatalf("woken with offset %d, want 7", s.RequestOffset)
	}
	if stored, _ := sh.apply(snapAt("c1", 6, 1)); stored {
		t.Fatal("an older snapshot replaced a newer one")
	}
}

// A waiter that gives up leaves no entry behind.
func TestShardAwaitCleansUpPlaceholders(t *testing.T) {
	sh := newShard(0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := sh.await(ctx, nil, "ghost", func(v view) (bool, error) { return v.has, nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
	if len(sh.carts) != 0 {
		t.Fatalf("%d entries left", len(sh.carts))
	}
	if c := status.Code(statusOf(err)); c != codes.DeadlineExceeded {
		t.Fatalf("code %v", c)
	}
}

func TestOutcomeOfRetriesAndOffsets(t *testing.T) {
	s := snapAt("c1", 9, 1)
	s.Window = []cart.RequestOutcome{
		{RequestID: "r1", Offset: 2, Kind: cart.KindAddItem, Accepted: true, CartVersion: 1},
		{RequestID: "r2", Offset: 5, Kind: cart.KindAddItem, Reason: cart.ReasonUnknownSKU, Message: "no", CartVersion: 1},
	}
	if o, ok := outcomeOf(s, "r2", 5, 0); !ok || o.Accepted {
		t.Fatalf("r2 at 5: %+v %t", o, ok)
	}
	if o, ok := outcomeOf(s, "r1", 9, 0); !ok || !o.Accepted { // a retry at 9
		t.Fatalf("retry of r1: %+v %t", o, ok)
	}
	s.Window[0].Fingerprint = 7
	if o, ok := outcomeOf(s, "r1", 9, 7); !ok || !o.Accepted { // a retry, same content
		t.Fatalf("retry of r1 with its fingerprint: %+v %t", o, ok)
	}
	// The id reused for another command: rejected, not the first outcome.
	if o, ok := outcomeOf(s, "r1", 9, 8); !ok || o.Accepted || o.Reason != cart.ReasonDuplicateRequest || o.Offset != 9 {
		t.Fatalf("reuse of r1: %+v %t", o, ok)
	}
	if _, ok := outcomeOf(s, "r3", 9, 0); ok {
		t.Fatal("unknown request id found")
	}
	if _, ok := findOffset(s, 3); ok {
		t.Fatal("found an offset not in the window")
	}
}

func TestEveryReasonHasAnAPICode(t *testing.T) {
	for _, r := range cart.Reasons() {
		if reasonPB(r) == cartv1.ReasonCode_REASON_CODE_UNSPECIFIED {
			t.Errorf("reason %s has no API code", r)
		}
	}
}

func TestPageTokensRoundTripAndBindToTheirCart(t *testing.T) {
	c := histCursor{events: 3, rejections: 2, version: 3}
	got, err := parseHistToken(c.token("a"), "a")
	if err != nil || got != c {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if _, err := parseHistToken(c.token("a"), "b"); !cart.IsInvalidArgument(err) {
		t.Fatalf("token of another cart: %v", err)
	}
	if _, err := parseProductToken(productToken("SKU-A", true), false); !cart.IsInvalidArgument(err) {
		t.Fatalf("token with another include_inactive: %v", err)
	}
	if sku, err := parseProductToken(productToken("SKU-A", false), false); err != nil || sku != "SKU-A" {
		t.Fatalf("product token: %q, %v", sku, err)
	}
}

func TestStatusOfMapsEveryClass(t *testing.T) {
	for _, c := range []struct {
		err  error
		want codes.Code
	}{
		{invalid("page_size", "bad"), codes.InvalidArgument},
		{ErrNotFound, codes.NotFound},
		{ErrNotReady, codes.Unavailable},
		{ErrNotOwned, codes.Unavailable},
		{ErrClosed, codes.Unavailable},
		{ErrCommandNotServed, codes.FailedPrecondition},
		{context.Canceled, codes.Canceled},
		{errors.New("boom"), codes.Internal},
	} {
		if got := status.Code(statusOf(c.err)); got != c.want {
			t.Errorf("%v: %v, want %v", c.err, got, c.want)
		}
	}
}
