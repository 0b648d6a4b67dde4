package cart_test

import (
	"slices"
	"testing"
	"time"

	"github.com/cartstream/cartstream/cart"
)

func clearCmd() cart.ClearCart {
	return cart.ClearCart{CartID: "c1", RequestID: nextReq(), CustomerID: "u1", RequestedAt: t0}
}

func expireCmd(ttl time.Duration) cart.ExpireCart {
	return cart.ExpireCart{CartID: "c1", RequestID: nextReq(), RequestedAt: t0, IdleSince: t0, TTL: ttl}
}

func mergeCmd(target cart.CartID) cart.MergeCarts {
	return cart.MergeCarts{CartID: "c1", RequestID: nextReq(), CustomerID: "u9", RequestedAt: t0, TargetCartID: target}
}

func lifecycleCases() []decideCase {
	otherClear := clearCmd()
	otherClear.CustomerID = "u2"
	return []decideCase{
		{name: "clear", state: fold(add("apple", 2), add("pear", 1)), cmd: clearCmd(), cat: catalog,
			check: func(tb testing.TB, before, after cart.CartState) {
				if len(after.Lines) != 0 || after.CustomerID != "u1" || after.Status != cart.StatusOpen || after.ItemCount != 0 {
					tb.Fatalf("after clear: %+v", after)
				}
			}},
		{name: "clear empty", state: empty, cmd: clearCmd(), cat: catalog, want: cart.ReasonEmptyCart},
		{name: "clear by another customer", state: fold(add("apple", 1)), cmd: otherClear, cat: catalog, want: cart.ReasonCustomerMismatch},
		{name: "clear checked out", state: fold(add("apple", 1), checkout()), cmd: clearCmd(), cat: catalog, want: cart.ReasonCartCheckedOut},
		{name: "expire within ttl", state: fold(add("apple", 1)), cmd: expireCmd(time.Hour), cat: catalog, want: cart.ReasonNotExpired},
		// A cart without events is idle since the command says (its
		// accepted expiry: TestExpireCartWithoutEvents).
		{name: "expire a cart without events within ttl", state: empty, cmd: expireCmd(time.Hour), cat: catalog, want: cart.ReasonNotExpired},
		{name: "merge", state: fold(add("apple", 2)), cmd: mergeCmd("c2"), cat: catalog,
			check: func(tb testing.TB, before, after cart.CartState) {
				if after.Status != cart.StatusMerged || after.MergedInto != "c2" || len(after.Lines) != 0 {
					tb.Fatalf("after merge: %+v", after)
				}
			}},
		{name: "merge empty", state: empty, cmd: mergeCmd("c2"), cat: catalog, want: cart.ReasonEmptyCart},
		{name: "add to merged", state: fold(add("apple", 2), mergeCmd("c2")), cmd: add("pear", 1), cat: catalog, want: cart.ReasonCartMerged},
		{name: "merge into itself", state: fold(add("apple", 2)), cmd: mergeCmd("c1"), cat: catalog, want: cart.ReasonMalformed},
	}
}

// An expiry decided after the TTL ends the cart: the fold starts over, and
// the id takes a new first event; a checked-out cart expires too.
func TestExpireStartsOver(t *testing.T) {
	for _, base := range [][]cart.Command{{add("apple", 1)}, {add("apple", 1), checkout()}} {
		s := run(t, testCatalog(t), base...)
		cmd := expireCmd(time.Hour)
		cmd.IdleSince = s.UpdatedAt
		d := cart.Decide(s, cmd, testCatalog(t), cart.Limits{}, s.UpdatedAt.Add(time.Hour))
		if !d.Accepted() {
			t.Fatalf("rejected: %v", d.Rejection)
		}
		ev := d.Events[0].(cart.CartExpired)
		if ev.Version != s.Version+1 || !ev.IdleSince.Equal(s.UpdatedAt) {
			t.Fatalf("event %+v", ev)
		}
		after, err := cart.Apply(s, ev)
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "expired cart", after, cart.CartState{})
		again := runFrom(t, after, testCatalog(t), add("pear", 1))
		mustEqual(t, "new version", again.Version, int64(1))
		// A just-touched cart is not expired by a late request.
		if d := cart.Decide(s, cmd, testCatalog(t), cart.Limits{}, s.UpdatedAt.Add(time.Hour-time.Nanosecond)); d.Accepted() {
			t.Fatal("expired one nanosecond before the TTL")
		}
	}
}

// The target's half combines lines under the caps: a line at its cap is
// clamped, an unsellable or foreign-currency SKU dropped, the rest repriced
// from the catalog.
func TestMergeIntoCombinesUnderCaps(t *testing.T) {
	target := run(t, testCatalog(t), add("apple", 8))
	target.CartID = "c1"
	merge := cart.MergeInto{CartID: "c1", RequestID: cart.MergeIntoRequestID("g1", "m1", t0), CustomerID: "u1", RequestedAt: t0,
		SourceCartID: "g1", Lines: []cart.Line{
			{SKU: "apple", Name: "Apple", UnitPrice: eur(90), Quantity: 5}, // cap 10: clamped to 10
			{SKU: "pear", Name: "Pear", UnitPrice: eur(250), Quantity: 2},
			{SKU: "plum", Name: "Plum", UnitPrice: eur(50), Quantity: 1},    // inactive: dropped
			{SKU: "bagel", Name: "Bagel", UnitPrice: usd(300), Quantity: 1}, // USD: dropped
		}}
	d := cart.Decide(target, merge, testCatalog(t), cart.Limits{}, t0.Add(time.Minute))
	if !d.Accepted() {
		t.Fatalf("rejected: %v", d.Rejection)
	}
	ev := d.Events[0].(cart.CartMergedInto)
	mustEqual(t, "dropped", ev.Dropped, []cart.SKU{"plum", "bagel"})
	after, err := cart.Apply(target, ev)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "apple", lineOf(t, after, "apple").Quantity, int32(10))
	mustEqual(t, "apple price", lineOf(t, after, "apple").UnitPrice, eur(100))
	mustEqual(t, "pear", lineOf(t, after, "pear").Quantity, int32(2))
	mustEqual(t, "subtotal", after.Subtotal, eur(10*100+2*250))

	other := merge
	other.CustomerID = "u2"
	if d := cart.Decide(target, other, testCatalog(t), cart.Limits{}, t0); d.Rejection.Reason != cart.ReasonCustomerMismatch {
		t.Fatalf("merge into another customer's cart: %v", d.Rejection)
	}
	// The source's event hands the target exactly its lines, under a
	// derived request id.
	src := run(t, testCatalog(t), add("pear", 3))
	m := mergeCmd("c2")
	md := cart.Decide(src, m, testCatalog(t), cart.Limits{}, t0.Add(time.Hour))
	into := cart.MergeIntoOf(md.Events[0].(cart.CartMerged))
	mustEqual(t, "into", into.Lines, src.Lines)
	mustEqual(t, "into id", into.RequestID, cart.MergeIntoRequestID("c1", m.RequestID, t0.Add(time.Hour)))
	if err := into.Validate(); err != nil {
		t.Fatal(err)
	}
}

// A retried merge on the source is a duplicate: Process answers the first
// outcome and writes no second event, so the target is handed one MergeInto.
func TestMergeRetryIsDuplicate(t *testing.T) {
	snap := cart.NewSnapshot("c1")
	snap, _ = cart.Process(snap, add("apple", 1), 0, testCatalog(t), cart.Limits{}, t0)
	m := mergeCmd("c2")
	snap, out := cart.Process(snap, m, 1, testCatalog(t), cart.Limits{}, t0)
	mustEqual(t, "first", out.Disposition, cart.DispositionAccepted)
	_, out = cart.Process(snap, m, 2, testCatalog(t), cart.Limits{}, t0)
	mustEqual(t, "retry", out.Disposition, cart.DispositionDuplicate)
}

func TestLifecycleKinds(t *testing.T) {
	for k := cart.KindClearCart; k <= cart.KindMergeReturned; k++ {
		if !k.Valid() {
			t.Errorf("%v not valid", k)
		}
		inv := cart.InvalidRequest{Kind: k}
		if et := inv.EventType(); !et.IsInvalid() || et.Kind() != k {
			t.Errorf("%v: invalid type %v", k, et)
		}
	}
	for _, et := range []cart.EventType{cart.EventTypeCartCleared, cart.EventTypeCartExpired, cart.EventTypeCartMerged, cart.EventTypeCartMergedInto} {
		if !et.IsValidated() || et.IsRequest() {
			t.Errorf("%v not a validated type", et)
		}
	}
	if !cart.EventTypeMergeIntoRequest.IsRequest() || cart.EventTypeCheckoutInvalidRequest.Kind() != cart.KindCheckout {
		t.Error("request types")
	}
}

// A target that refuses the merge hands the lines back: the merged cart
// reopens with them; a return to a cart not merged into that target is
// refused.
func TestMergeReturnedReopens(t *testing.T) {
	src := run(t, testCatalog(t), add("pear", 3))
	m := mergeCmd("c2")
	d := cart.Decide(src, m, testCatalog(t), cart.Limits{}, t0.Add(time.Hour))
	merged, err := cart.Apply(src, d.Events[0])
	if err != nil {
		t.Fatal(err)
	}
	into := cart.MergeIntoOf(d.Events[0].(cart.CartMerged))
	back := cart.MergeReturnedOf(into, cart.Rejection{Reason: cart.ReasonCartCheckedOut}, t0.Add(2*time.Hour))
	if back.CartID != "c1" || back.RequestID != cart.MergeReturnedRequestID("c2", into.RequestID) || back.Validate() != nil {
		t.Fatalf("return request %+v", back)
	}
	d = cart.Decide(merged, back, testCatalog(t), cart.Limits{}, t0.Add(2*time.Hour))
	if !d.Accepted() {
		t.Fatalf("rejected: %v", d.Rejection)
	}
	reopened, err := cart.Apply(merged, d.Events[0])
	if err != nil {
		t.Fatal(err)
	}
	if reopened.Status != cart.StatusOpen || reopened.MergedInto != "" || !slices.Equal(reopened.Lines, src.Lines) || reopened.Subtotal != src.Subtotal {
		t.Fatalf("reopened %+v, want the lines of %+v", reopened, src)
	}
	wrong := back
	wrong.TargetCartID = "c3"
	if d := cart.Decide(merged, wrong, testCatalog(t), cart.Limits{}, t0); d.Rejection.Reason != cart.ReasonWrongCart {
		t.Fatalf("return from another target: %v", d.Rejection)
	}
}

// Issue 14: a cart whose every request was rejected (version 0) expires
// through Process like any other; its expiry names the last request the
// manager saw, and a request after it keeps the cart.
func TestExpireCartWithoutEvents(t *testing.T) {
	cat := cart.MapCatalog{}
	snap := cart.NewSnapshot("c1")
	snap, out := cart.Process(snap, cart.AddItem{CartID: "c1", RequestID: "r1", CustomerID: "u1", RequestedAt: t0, SKU: "nope", Quantity: 1}, 4, cat, cart.Limits{}, t0)
	if out.Disposition != cart.DispositionRejected || snap.Cart.Version != 0 || len(snap.Window) != 1 {
		t.Fatalf("setup: %v %+v", out.Disposition, snap)
	}
	ttl := time.Hour
	later := t0.Add(2 * ttl)
	stale := cart.ExpireCart{CartID: "c1", RequestID: cart.ExpireUntouchedRequestID(3), RequestedAt: later, IdleSince: t0, TTL: ttl}
	if _, out := cart.Process(snap, stale, 5, cat, cart.Limits{}, later); out.Disposition != cart.DispositionRejected || out.Invalid.Rejection.Reason != cart.ReasonNotExpired {
		t.Fatalf("expiry naming an older request: %v %+v", out.Disposition, out.Invalid)
	}
	ex := stale
	ex.RequestID = cart.ExpireUntouchedRequestID(4)
	next, out := cart.Process(snap, ex, 5, cat, cart.Limits{}, later)
	if out.Disposition != cart.DispositionAccepted || len(out.Events) != 1 {
		t.Fatalf("expiry of an idle cart without events: %v %+v", out.Disposition, out.Invalid)
	}
	ev, ok := out.Events[0].(cart.CartExpired)
	if !ok || ev.Version != 1 || !ev.IdleSince.Equal(t0) {
		t.Fatalf("event %+v", out.Events[0])
	}
	if next.Cart.CartID != "" {
		t.Fatalf("the cart is not gone: %+v", next.Cart)
	}
	// The fold agrees: a new generation starts from nothing.
	if st, err := cart.Apply(snap.Cart, ev); err != nil || st.CartID != "" {
		t.Fatalf("Apply: %+v %v", st, err)
	}
}

// The same MergeCarts request id decided twice (retried after the source
// expired and was refilled) hands on two MergeInto requests the target
// tells apart: the first one's id would have the second taken for its
// duplicate, and its lines lost.
func TestMergeDecidedTwiceHandsOnTwoRequests(t *testing.T) {
	m := mergeCmd("c2")
	first := cart.Decide(run(t, testCatalog(t), add("pear", 3)), m, testCatalog(t), cart.Limits{}, t0)
	again := cart.Decide(run(t, testCatalog(t), add("apple", 1)), m, testCatalog(t), cart.Limits{}, t0.Add(31*24*time.Hour))
	a := cart.MergeIntoOf(first.Events[0].(cart.CartMerged))
	b := cart.MergeIntoOf(again.Events[0].(cart.CartMerged))
	if a.RequestID == b.RequestID {
		t.Fatalf("two decisions of merge %s hand on one request id %s", m.RequestID, a.RequestID)
	}
	if a.RequestID == cart.LegacyMergeIntoRequestID("c1", m.RequestID) {
		t.Fatal("the id does not depend on the decision")
	}
}
