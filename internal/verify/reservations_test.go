package verify

import (
	"testing"
	"time"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/inventory"
)

func TestCheckReservations(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	res := cart.Reservation{ID: cart.ReservationIDOf("c1", "co", "s1"), CartID: "c1", CheckoutRequestID: "co", SKU: "s1", Quantity: 1}
	set := InventoryRecord{Position: Position{0, 0}, Key: "s1", Request: inventory.Request{Kind: inventory.KindSet, RequestID: "op", SKU: "s1", RequestedAt: t0, Units: 1}}
	reserve := InventoryRecord{Position: Position{0, 1}, Key: "s1", Request: inventory.Request{Kind: inventory.KindReserve, RequestID: cart.RequestID(res.ID), SKU: "s1", RequestedAt: t0, Reservation: res}}
	release := InventoryRecord{Position: Position{0, 2}, Key: "s1", Request: inventory.Request{Kind: inventory.KindRelease, RequestID: cart.RequestID(res.ID), SKU: "s1", RequestedAt: t0, Reservation: res}}
	answer := Answer{Position: Position{0, 5}, Key: "c1", Answer: cart.ReservationAnswer{Reservation: res, Granted: true, DecidedAt: t0}}
	failed := Invalid{Position: Position{0, 0}, Key: "c1", Invalid: cart.InvalidRequest{CartID: "c1", RequestID: "co", Kind: cart.KindCheckout, DecidedAt: t0, Rejection: cart.Rejection{Reason: cart.ReasonOutOfStock}}}
	level := func(avail, reserved, version int64) StockRecord {
		return StockRecord{Position: Position{0, version}, Key: "s1", Level: inventory.Level{SKU: "s1", Available: avail, Reserved: reserved, Version: version}}
	}
	count := func(in Input, k Kind) int {
		in.InventoryRead = true
		return Check(in).Count(k)
	}
	clean := Input{Inventory: []InventoryRecord{set, reserve, release}, Answers: []Answer{answer}, Invalid: []Invalid{failed},
		Stock: []StockRecord{level(1, 0, 1), level(0, 1, 2), level(1, 0, 3)}}
	for _, k := range []Kind{KindNegativeStock, KindReservationAnswer, KindReservationRelease, KindUndecidedCheckout, KindStockMismatch} {
		if n := count(clean, k); n != 0 {
			t.Errorf("clean history: %d %v", n, k)
		}
	}
	unreleased := clean
	unreleased.Inventory = []InventoryRecord{set, reserve}
	if count(unreleased, KindReservationRelease) != 1 || count(unreleased, KindStockMismatch) != 1 {
		t.Error("a failed checkout's grant never released was not reported")
	}
	undecided := clean
	undecided.Invalid = nil
	if count(undecided, KindUndecidedCheckout) != 1 {
		t.Error("a checkout without an outcome was not reported")
	}
	negative := clean
	negative.Stock = append(negative.Stock, level(-1, 2, 4))
	if count(negative, KindNegativeStock) != 1 {
		t.Error("a negative level was not reported")
	}
	twice := clean
	twice.Answers = []Answer{answer, answer}
	if count(twice, KindReservationAnswer) != 1 {
		t.Error("a reservation answered twice was not reported")
	}
}
