package inventory_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/inventory"
)

var t0 = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func reserve(cartID cart.CartID, q int32) inventory.Request {
	r := cart.Reservation{ID: cart.ReservationIDOf(cartID, "co", "sku1"), CartID: cartID, CheckoutRequestID: "co", SKU: "sku1", Quantity: q}
	return inventory.Request{Kind: inventory.KindReserve, RequestID: cart.RequestID(r.ID), SKU: "sku1", RequestedAt: t0, Reservation: r}
}

func release(r inventory.Request) inventory.Request {
	r.Kind = inventory.KindRelease
	return r
}

func set(n int64) inventory.Request {
	return inventory.Request{Kind: inventory.KindSet, RequestID: "op-1", SKU: "sku1", RequestedAt: t0, Units: n}
}

func adjust(n int64) inventory.Request {
	return inventory.Request{Kind: inventory.KindAdjust, RequestID: "op-2", SKU: "sku1", RequestedAt: t0, Units: n}
}

// The race for the last unit, decided in the order of the SKU's partition:
// the first reservation gets it, the second is refused, nothing goes
// negative, and a release makes the unit available again.
func TestLastUnitGoesToOneCheckout(t *testing.T) {
	l := inventory.Step(inventory.Level{}, set(1), t0).Level
	a := inventory.Step(l, reserve("a", 1), t0)
	if !a.Answer.Granted || a.Level.Available != 0 || a.Level.Reserved != 1 {
		t.Fatalf("first: %+v", a)
	}
	b := inventory.Step(a.Level, reserve("b", 1), t0)
	if b.Answer.Granted || b.Changed || !b.Level.Equal(a.Level) {
		t.Fatalf("second: %+v", b)
	}
	c := inventory.Step(a.Level, release(reserve("a", 1)), t0)
	if c.Level.Available != 1 || c.Level.Reserved != 0 {
		t.Fatalf("release: %+v", c.Level)
	}
}

func TestAdjustNeverGoesNegative(t *testing.T) {
	l := inventory.Step(inventory.Level{}, set(2), t0).Level
	if r := inventory.Step(l, adjust(-3), t0); !errors.Is(r.Err, inventory.ErrInvalidRequest) || !r.Level.Equal(l) {
		t.Fatalf("adjust below zero: %+v", r)
	}
	if r := inventory.Step(l, adjust(5), t0); r.Level.Available != 7 || r.Level.Version != 2 {
		t.Fatalf("restock: %+v", r.Level)
	}
	// A release never granted cannot create stock.
	if r := inventory.Step(l, release(reserve("x", 4)), t0); r.Level.Available != 2 || r.Level.Reserved != 0 {
		t.Fatalf("stray release: %+v", r.Level)
	}
}

func TestStepRefusesMalformed(t *testing.T) {
	bad := reserve("a", 0)
	if r := inventory.Step(inventory.Level{}, bad, t0); r.Err == nil || r.Answer != nil {
		t.Fatalf("zero quantity: %+v", r)
	}
	if r := inventory.Step(inventory.Level{}, set(-1), t0); r.Err == nil {
		t.Fatal("negative stock set")
	}
	other := set(1)
	other.SKU = "sku2"
	if r := inventory.Step(inventory.Level{SKU: "sku1"}, other, t0); r.Err == nil {
		t.Fatal("request of another sku")
	}
}

func TestUntrackedSKUIsNotLimited(t *testing.T) {
	r := inventory.Step(inventory.Level{}, reserve("a", 5), t0)
	if !r.Answer.Granted || r.Changed {
		t.Fatalf("reserve of an untracked sku: %+v", r)
	}
	if r := inventory.Step(inventory.Level{}, release(reserve("a", 5)), t0); r.Changed {
		t.Fatalf("release of an untracked sku: %+v", r)
	}
	if r := inventory.Step(inventory.Level{}, adjust(3), t0); !r.Level.Tracked() || r.Level.Available != 3 {
		t.Fatalf("adjust starts tracking: %+v", r.Level)
	}
}

func adjustID(id inventory.AdjustmentID, n int64) inventory.Request {
	r := adjust(n)
	r.AdjustmentID = id
	return r
}

// Issue 14: an AdjustStock retried by its client (same adjustment id) was
// applied twice.
func TestRepeatedAdjustmentAppliesOnce(t *testing.T) {
	l := inventory.Step(inventory.Level{}, set(10), t0).Level
	first := inventory.Step(l, adjustID("adj-1", 5), t0)
	if first.Err != nil || !first.Changed || first.Level.Available != 15 || first.Level.Version != 2 || first.Repeat != nil {
		t.Fatalf("first: %+v", first)
	}
	again := inventory.Step(first.Level, adjustID("adj-1", 5), t0.Add(time.Minute))
	if again.Err != nil || again.Changed || !again.Level.Equal(first.Level) {
		t.Fatalf("repeat changed the level: %+v", again)
	}
	if again.Repeat == nil || !again.Repeat.Applied || again.Repeat.Available != 15 || again.Repeat.Delta != 5 {
		t.Fatalf("repeat answers %+v, want the first result (applied, 15 available)", again.Repeat)
	}
	// Another id applies; the same id with another delta is a reused id:
	// nothing changes and it is refused.
	other := inventory.Step(first.Level, adjustID("adj-2", 5), t0)
	if other.Level.Available != 20 {
		t.Fatalf("a second adjustment: %+v", other.Level)
	}
	reused := inventory.Step(other.Level, adjustID("adj-1", 7), t0)
	if !errors.Is(reused.Err, inventory.ErrInvalidRequest) || reused.Changed || reused.Repeat == nil {
		t.Fatalf("reused id: %+v", reused)
	}
	// No id: every request applies, as before.
	plain := inventory.Step(inventory.Step(other.Level, adjust(1), t0).Level, adjust(1), t0)
	if plain.Level.Available != 22 {
		t.Fatalf("adjustments without an id: %+v", plain.Level)
	}
	// Step is pure: the first level's window was not written.
	if len(l.Adjustments) != 0 || len(first.Level.Adjustments) != 1 {
		t.Fatalf("windows shared memory: %v, %v", l.Adjustments, first.Level.Adjustments)
	}
}

// A refused adjustment is remembered too: its retry is refused even when a
// restock came in between, so one request has one outcome.
func TestRepeatedRefusedAdjustmentStaysRefused(t *testing.T) {
	l := inventory.Step(inventory.Level{}, set(3), t0).Level
	refused := inventory.Step(l, adjustID("fix-1", -5), t0)
	if !errors.Is(refused.Err, inventory.ErrInvalidRequest) || !refused.Changed || refused.Level.Available != 3 || refused.Level.Version != l.Version {
		t.Fatalf("refused: %+v", refused)
	}
	restocked := inventory.Step(refused.Level, adjust(10), t0).Level
	retry := inventory.Step(restocked, adjustID("fix-1", -5), t0)
	if retry.Err == nil || retry.Changed || retry.Level.Available != 13 || retry.Repeat == nil || retry.Repeat.Applied {
		t.Fatalf("retry of a refused adjustment: %+v", retry)
	}
	// On an untracked SKU nothing is written for a refusal.
	if r := inventory.Step(inventory.Level{}, adjustID("fix-2", -1), t0); r.Err == nil || r.Changed {
		t.Fatalf("refusal on an untracked sku: %+v", r)
	}
}

// The window keeps the last AdjustmentWindow ids: the oldest is forgotten
// (its repeat applies again), the newer ones are still recognized.
func TestAdjustmentWindowEvictsOldest(t *testing.T) {
	l := inventory.Step(inventory.Level{}, set(0), t0).Level
	for i := range inventory.AdjustmentWindow + 1 {
		r := inventory.Step(l, adjustID(inventory.AdjustmentID(fmt.Sprintf("a%d", i)), 1), t0)
		if r.Err != nil || !r.Changed {
			t.Fatalf("adjustment %d: %+v", i, r)
		}
		l = r.Level
	}
	if len(l.Adjustments) != inventory.AdjustmentWindow || l.Adjustments[0].ID != "a1" {
		t.Fatalf("window holds %d, oldest %q; want %d from a1", len(l.Adjustments), l.Adjustments[0].ID, inventory.AdjustmentWindow)
	}
	if err := l.Validate(); err != nil {
		t.Fatalf("full window: %v", err)
	}
	if r := inventory.Step(l, adjustID("a1", 1), t0); r.Changed || r.Repeat == nil {
		t.Fatalf("a1 is still in the window: %+v", r)
	}
	r := inventory.Step(l, adjustID("a0", 1), t0)
	if r.Repeat != nil || r.Level.Available != l.Available+1 {
		t.Fatalf("a0 was evicted and applies again: %+v", r)
	}
}

func TestAdjustmentIDOnlyOnAdjust(t *testing.T) {
	s := set(1)
	s.AdjustmentID = "x"
	if err := s.Validate(); err == nil {
		t.Fatal("set with an adjustment id validates")
	}
	if err := adjustID("bad id!", 1).Validate(); err == nil {
		t.Fatal("malformed adjustment id validates")
	}
}
