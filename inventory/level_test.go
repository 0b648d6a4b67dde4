package inventory_test

import (
	"errors"
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
	if b.Answer.Granted || b.Changed || b.Level != a.Level {
		t.Fatalf("second: %+v", b)
	}
	c := inventory.Step(a.Level, release(reserve("a", 1)), t0)
	if c.Level.Available != 1 || c.Level.Reserved != 0 {
		t.Fatalf("release: %+v", c.Level)
	}
}

func TestAdjustNeverGoesNegative(t *testing.T) {
	l := inventory.Step(inventory.Level{}, set(2), t0).Level
	if r := inventory.Step(l, adjust(-3), t0); !errors.Is(r.Err, inventory.ErrInvalidRequest) || r.Level != l {
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
