package cart_test

import (
	"strings"
	"testing"

	"github.com/cartstream/cartstream/cart"
)

// reserving runs cmds through ProcessReserving from a new snapshot of c1,
// one offset each from 0, and fails on anything but accepted.
func reserving(tb testing.TB, cmds ...cart.Command) cart.Snapshot {
	tb.Helper()
	s := cart.NewSnapshot("c1")
	for i, c := range cmds {
		var out cart.Outcome
		s, out = cart.ProcessReserving(s, c, int64(i), testCatalog(tb), cart.Limits{}, t0)
		if out.Disposition != cart.DispositionAccepted {
			tb.Fatalf("command %d: %v %+v", i, out.Disposition, out.Invalid)
		}
	}
	return s
}

func answer(r cart.Reservation, granted bool, avail int64) cart.ReservationAnswer {
	return cart.ReservationAnswer{Reservation: r, Granted: granted, Available: avail, DecidedAt: t0}
}

func startCheckout(tb testing.TB) (cart.Snapshot, cart.Outcome, cart.Checkout) {
	tb.Helper()
	s := reserving(tb, add("apple", 2), add("pear", 1))
	co := checkout()
	next, out := cart.ProcessReserving(s, co, 2, testCatalog(tb), cart.Limits{}, t0)
	mustEqual(tb, "disposition", out.Disposition, cart.DispositionPending)
	if len(out.Reserve) != 2 || out.Reserve[0].SKU != "apple" || out.Reserve[0].Quantity != 2 || out.Reserve[1].SKU != "pear" {
		tb.Fatalf("reserve %+v", out.Reserve)
	}
	mustEqual(tb, "reservation id", out.Reserve[0].ID, cart.ReservationIDOf("c1", co.RequestID, "apple"))
	mustEqual(tb, "status while pending", next.Cart.Status, cart.StatusOpen)
	if _, ok := next.Lookup(co.RequestID); ok {
		tb.Fatal("a pending checkout is in the window: a reader would take it for the final outcome")
	}
	if err := next.Validate(); err != nil {
		tb.Fatalf("pending snapshot: %v", err)
	}
	return next, out, co
}

func TestCheckoutReservesThenCloses(t *testing.T) {
	s, out, co := startCheckout(t)
	s, a1 := cart.Answer(s, answer(out.Reserve[0], true, 8), 3, t0)
	mustEqual(t, "first answer", a1.Disposition, cart.DispositionAnswered)
	s, a2 := cart.Answer(s, answer(out.Reserve[1], true, 0), 4, t0)
	mustEqual(t, "last answer", a2.Disposition, cart.DispositionAccepted)
	ev, ok := a2.Events[0].(cart.CartCheckedOut)
	if !ok || ev.RequestID != co.RequestID || ev.Version != 3 {
		t.Fatalf("event %+v", a2.Events)
	}
	mustEqual(t, "status", s.Cart.Status, cart.StatusCheckedOut)
	o, ok := s.Lookup(co.RequestID)
	if !ok || !o.Accepted || o.Kind != cart.KindCheckout {
		t.Fatalf("window entry %+v", o)
	}
	if s.Pending != nil || len(a2.Release) != 0 {
		t.Fatalf("pending %+v release %+v", s.Pending, a2.Release)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestCheckoutRefusedReleasesGranted(t *testing.T) {
	s, out, co := startCheckout(t)
	s, _ = cart.Answer(s, answer(out.Reserve[1], false, 0), 3, t0)
	s, a := cart.Answer(s, answer(out.Reserve[0], true, 5), 4, t0)
	mustEqual(t, "disposition", a.Disposition, cart.DispositionRejected)
	mustEqual(t, "reason", a.Invalid.Rejection.Reason, cart.ReasonOutOfStock)
	mustEqual(t, "kind", a.Invalid.Kind, cart.KindCheckout)
	mustEqual(t, "request", a.Invalid.RequestID, co.RequestID)
	if msg := a.Invalid.Rejection.Message; !strings.Contains(msg, "pear") || strings.Contains(msg, "apple") {
		t.Fatalf("message %q names the wrong lines", msg)
	}
	mustEqual(t, "release", a.Release, []cart.Reservation{out.Reserve[0]})
	mustEqual(t, "status", s.Cart.Status, cart.StatusOpen)
	if s.Pending != nil {
		t.Fatal("still pending")
	}
	// The cart is open again: the customer can lower the line and retry.
	if _, o := cart.ProcessReserving(s, remove("pear"), 5, testCatalog(t), cart.Limits{}, t0); o.Disposition != cart.DispositionAccepted {
		t.Fatalf("after a failed checkout: %v", o.Disposition)
	}
}

func TestCommandsWhileCheckoutPending(t *testing.T) {
	s, _, co := startCheckout(t)
	next, out := cart.ProcessReserving(s, add("pear", 1), 3, testCatalog(t), cart.Limits{}, t0)
	mustEqual(t, "add while pending", out.Invalid.Rejection.Reason, cart.ReasonCheckoutInProgress)
	if next.Pending == nil {
		t.Fatal("rejection dropped the pending checkout")
	}
	_, out = cart.ProcessReserving(next, co, 4, testCatalog(t), cart.Limits{}, t0)
	mustEqual(t, "retry of the pending checkout", out.Disposition, cart.DispositionDuplicate)
	reused := add("apple", 1)
	reused.RequestID = co.RequestID
	_, out = cart.ProcessReserving(next, reused, 4, testCatalog(t), cart.Limits{}, t0)
	mustEqual(t, "reused id", out.Invalid.Rejection.Reason, cart.ReasonDuplicateRequest)
	_, out = cart.ProcessReserving(next, co, 3, testCatalog(t), cart.Limits{}, t0)
	mustEqual(t, "redelivery", out.Disposition, cart.DispositionStale)
}

func TestStrayAnswerIsReleased(t *testing.T) {
	s := reserving(t, add("apple", 1))
	r := cart.Reservation{ID: "rsv-x", CartID: "c1", CheckoutRequestID: "nope", SKU: "apple", Quantity: 1}
	next, out := cart.Answer(s, answer(r, true, 3), 1, t0)
	mustEqual(t, "disposition", out.Disposition, cart.DispositionAnswered)
	mustEqual(t, "release", out.Release, []cart.Reservation{r})
	mustEqual(t, "offset", next.RequestOffset, int64(1))
	_, out = cart.Answer(s, answer(r, false, 3), 1, t0)
	if len(out.Release) != 0 {
		t.Fatal("a refusal holds nothing to release")
	}
	_, out = cart.Answer(next, answer(r, true, 3), 1, t0)
	mustEqual(t, "redelivered answer", out.Disposition, cart.DispositionStale)
}

func TestPendingSnapshotValidate(t *testing.T) {
	s, _, _ := startCheckout(t)
	s.Pending.Lines[0].Quantity = 7
	if err := s.Validate(); err == nil {
		t.Fatal("a pending line that differs from the cart's passed")
	}
}
