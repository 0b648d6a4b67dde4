package cart_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/cartstream/cartstream/cart"
)

func addID(id cart.RequestID, sku cart.SKU, q int32) cart.AddItem {
	c := add(sku, q)
	c.RequestID = id
	return c
}

func process(tb testing.TB, s cart.Snapshot, cmd cart.Command, off int64) (cart.Snapshot, cart.Outcome) {
	tb.Helper()
	keep := s.Clone()
	next, out := cart.Process(s, cmd, off, testCatalog(tb), cart.Limits{}, t0.Add(time.Duration(off)*time.Second))
	mustEqual(tb, "input snapshot untouched", s, keep)
	if err := next.Validate(); err != nil {
		tb.Fatalf("snapshot after offset %d: %v", off, err)
	}
	return next, out
}

func TestProcessAcceptedAndRejected(t *testing.T) {
	s := cart.NewSnapshot("c1")
	s, out := process(t, s, addID("a", "apple", 2), 10)
	mustEqual(t, "disposition", out.Disposition, cart.DispositionAccepted)
	if len(out.Events) != 1 || out.Invalid != nil {
		t.Fatalf("outcome %+v", out)
	}
	mustEqual(t, "offset", s.RequestOffset, int64(10))
	mustEqual(t, "cart", out.Cart, s.Cart)
	mustEqual(t, "recorded", out.Recorded.Accepted, true)
	mustEqual(t, "recorded version", out.Recorded.CartVersion, int64(1))

	s, out = process(t, s, addID("b", "kiwi", 1), 11)
	mustEqual(t, "disposition", out.Disposition, cart.DispositionRejected)
	if len(out.Events) != 0 || out.Invalid == nil {
		t.Fatalf("outcome %+v", out)
	}
	mustEqual(t, "invalid", *out.Invalid, cart.InvalidRequest{
		CartID: "c1", RequestID: "b", Kind: cart.KindAddItem, RequestedAt: t0, DecidedAt: t0.Add(11 * time.Second),
		Rejection: cart.Rejection{Reason: cart.ReasonUnknownSKU, Message: "sku kiwi is not in the catalog"},
	})
	mustEqual(t, "invalid type", out.Invalid.EventType(), cart.EventTypeAddItemInvalidRequest)
	// A rejection leaves a trace: offset and window move, the cart does not.
	mustEqual(t, "offset", s.RequestOffset, int64(11))
	mustEqual(t, "version", s.Cart.Version, int64(1))
	got, ok := s.Lookup("b")
	if !ok {
		t.Fatal("rejected request not in window")
	}
	mustEqual(t, "lookup", got, cart.RequestOutcome{RequestID: "b", Offset: 11, Kind: cart.KindAddItem,
		Reason: cart.ReasonUnknownSKU, Message: "sku kiwi is not in the catalog", Fingerprint: cart.FingerprintOf(addID("b", "kiwi", 1)), CartVersion: 1})
	if !s.Covers(11) || s.Covers(12) {
		t.Fatal("Covers disagrees with RequestOffset")
	}
}

func TestProcessDuplicate(t *testing.T) {
	s := cart.NewSnapshot("c1")
	first := addID("a", "apple", 2)
	s, orig := process(t, s, first, 0)
	retry := first
	retry.RequestedAt = t0.Add(time.Hour) // a retry is stamped anew
	s2, out := process(t, s, retry, 1)
	mustEqual(t, "disposition", out.Disposition, cart.DispositionDuplicate)
	if len(out.Events) != 0 || out.Invalid != nil {
		t.Fatalf("a duplicate produced records: %+v", out)
	}
	mustEqual(t, "recorded", out.Recorded, orig.Recorded)
	mustEqual(t, "cart", s2.Cart, s.Cart)
	mustEqual(t, "window", s2.Window, s.Window)
	mustEqual(t, "offset advances", s2.RequestOffset, int64(1))

	// A retry of a rejected request replays the rejection, also without a record.
	s3, bad := process(t, s2, addID("k", "kiwi", 1), 2)
	_, out = process(t, s3, addID("k", "kiwi", 1), 3)
	mustEqual(t, "disposition", out.Disposition, cart.DispositionDuplicate)
	mustEqual(t, "recorded", out.Recorded, bad.Recorded)
	if out.Invalid != nil {
		t.Fatal("duplicate of a rejection wrote a second rejection")
	}
}

func TestProcessReusedRequestID(t *testing.T) {
	s := cart.NewSnapshot("c1")
	s, orig := process(t, s, addID("a", "apple", 2), 0)
	s2, out := process(t, s, addID("a", "apple", 3), 1)
	mustEqual(t, "disposition", out.Disposition, cart.DispositionRejected)
	mustEqual(t, "reason", out.Invalid.Rejection.Reason, cart.ReasonDuplicateRequest)
	mustEqual(t, "cart", s2.Cart, s.Cart)
	mustEqual(t, "offset", s2.RequestOffset, int64(1))
	// The window keeps the original, so a genuine retry still deduplicates.
	got, _ := s2.Lookup("a")
	mustEqual(t, "window entry", got, orig.Recorded)
	_, out = process(t, s2, addID("a", "apple", 2), 2)
	mustEqual(t, "retry of original", out.Disposition, cart.DispositionDuplicate)
}

func TestProcessStale(t *testing.T) {
	s := cart.NewSnapshot("c1")
	s, _ = process(t, s, addID("a", "apple", 1), 5)
	for _, off := range []int64{-1, 0, 5} {
		next, out := process(t, s, addID("z", "apple", 1), off)
		mustEqual(t, "disposition", out.Disposition, cart.DispositionStale)
		mustEqual(t, "snapshot", next, s)
		if len(out.Events) != 0 || out.Invalid != nil {
			t.Fatalf("stale request produced records: %+v", out)
		}
	}
}

func TestProcessUnrecordable(t *testing.T) {
	s := cart.NewSnapshot("c1")
	bad := addID("not valid!", "apple", 1)
	s, out := process(t, s, bad, 0)
	mustEqual(t, "reason", out.Invalid.Rejection.Reason, cart.ReasonMalformed)
	mustEqual(t, "window", len(s.Window), 0)
	mustEqual(t, "offset", s.RequestOffset, int64(0))
	s, out = process(t, s, nil, 1)
	mustEqual(t, "nil reason", out.Invalid.Rejection.Reason, cart.ReasonMalformed)
	mustEqual(t, "nil type", out.Invalid.EventType(), cart.EventTypeUnspecified)
	mustEqual(t, "offset", s.RequestOffset, int64(1))
}

func TestWindowBound(t *testing.T) {
	s := cart.NewSnapshot("c1")
	cat := testCatalog(t)
	for i := range 3 * cart.RequestWindowSize {
		var cmd cart.Command = addID(cart.RequestID("q"+strconv.Itoa(i)), "pear", 1)
		if i%2 == 1 {
			cmd = cart.RemoveItem{CartID: "c1", RequestID: cart.RequestID("q" + strconv.Itoa(i)), RequestedAt: t0, SKU: "pear"}
		}
		s, _ = cart.Process(s, cmd, int64(i), cat, cart.Limits{}, t0)
		if len(s.Window) > cart.RequestWindowSize {
			t.Fatalf("window holds %d after %d requests", len(s.Window), i+1)
		}
	}
	mustEqual(t, "window size", len(s.Window), cart.RequestWindowSize)
	// Oldest dropped first: the window is the newest requests, in order.
	for i, o := range s.Window {
		mustEqual(t, "entry", o.RequestID, cart.RequestID("q"+strconv.Itoa(2*cart.RequestWindowSize+i)))
	}
	if _, ok := s.Lookup("q0"); ok {
		t.Fatal("oldest request still in window")
	}
	// An oversized window read back from a bad record heals on the next step.
	big := s.Clone()
	for i := range 10 {
		big.Window = append(big.Window, cart.RequestOutcome{RequestID: cart.RequestID("x" + strconv.Itoa(i)), Offset: big.RequestOffset, Kind: cart.KindCheckout, Reason: cart.ReasonEmptyCart})
	}
	healed, _ := cart.Process(big, checkout(), big.RequestOffset+1, cat, cart.Limits{}, t0)
	mustEqual(t, "healed window size", len(healed.Window), cart.RequestWindowSize)
}

func TestSnapshotValidate(t *testing.T) {
	if err := cart.NewSnapshot("c1").Validate(); err != nil {
		t.Fatal(err)
	}
	ok, _ := process(t, cart.NewSnapshot("c1"), addID("a", "apple", 1), 3)
	broken := []func(s *cart.Snapshot){
		func(s *cart.Snapshot) { s.RequestOffset = -2 },
		func(s *cart.Snapshot) { s.Window[0].Offset = 4 },
		func(s *cart.Snapshot) { s.Window = append(s.Window, s.Window[0]) },
		func(s *cart.Snapshot) { s.Window[0].Reason = cart.ReasonEmptyCart },
		func(s *cart.Snapshot) { s.Window[0].Kind = 0 },
		func(s *cart.Snapshot) { s.Window[0].CartVersion = 9 },
		func(s *cart.Snapshot) { s.Cart.ItemCount = 7 },
	}
	for i, b := range broken {
		s := ok.Clone()
		b(&s)
		if err := s.Validate(); err == nil {
			t.Errorf("case %d: broken snapshot validated", i)
		}
	}
}

func TestFingerprint(t *testing.T) {
	a := addID("a", "apple", 2)
	b := a
	b.RequestedAt, b.RequestID = t0.Add(time.Hour), "other"
	mustEqual(t, "timestamp and id do not count", cart.FingerprintOf(a), cart.FingerprintOf(b))
	mustEqual(t, "pointer", cart.FingerprintOf(&a), cart.FingerprintOf(a))
	differ := []cart.Command{
		addID("a", "apple", 3),
		addID("a", "pear", 2),
		func() cart.Command { c := a; c.CustomerID = "u2"; return c }(),
		func() cart.Command { c := a; c.CartID = "c2"; return c }(),
		cart.ChangeQuantity{CartID: "c1", RequestID: "a", RequestedAt: t0, SKU: "apple", Quantity: 2},
		cart.RemoveItem{CartID: "c1", RequestID: "a", RequestedAt: t0, SKU: "apple"},
		cart.Checkout{CartID: "c1", RequestID: "a", CustomerID: "u1", RequestedAt: t0},
	}
	seen := map[cart.Fingerprint]int{cart.FingerprintOf(a): -1}
	for i, c := range differ {
		f := cart.FingerprintOf(c)
		if j, dup := seen[f]; dup {
			t.Errorf("command %d has the fingerprint of %d", i, j)
		}
		seen[f] = i
	}
	mustEqual(t, "nil", cart.FingerprintOf(nil), cart.Fingerprint(0))
	// Pinned so that a change of the canonical form, which would break
	// deduplication across a deploy, is deliberate.
	mustEqual(t, "pinned", cart.FingerprintOf(a).String(), "f4c47e0aaf14bf91")
}
