package cart

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// OrderID names the order a successful checkout hands on. It is derived
// from the cart and the checkout's request id, never drawn at random: the
// same checkout always names the same order, whichever manager decides it
// and however often a transaction is retried, so a downstream service can
// deduplicate on it, and the read side can tell a client its order id
// without reading the orders topic.
type OrderID string

// OrderIDOf is the order of the checkout request req on cart id: "ord-"
// and the first 128 bits of SHA-256 over both ids, in hex.
func OrderIDOf(id CartID, req RequestID) OrderID {
	h := sha256.New()
	h.Write([]byte(id))
	h.Write([]byte{0}) // ids cannot contain NUL, so the pair is unambiguous
	h.Write([]byte(req))
	return OrderID("ord-" + hex.EncodeToString(h.Sum(nil)[:16]))
}

// OrderPlaced is what a successful checkout hands on to an order or
// payment service, on the orders topic keyed by OrderID: exactly one per
// accepted Checkout, in the same transaction as its CartCheckedOut, and
// none for a rejected one (docs/domain.md).
type OrderPlaced struct {
	OrderID    OrderID
	CartID     CartID
	CustomerID CustomerID
	// CheckoutRequestID is the Checkout command's request id.
	CheckoutRequestID RequestID
	// CartVersion is the cart's version after the checkout.
	CartVersion int64
	Lines       []Line
	Subtotal    Money
	ItemCount   int64
	// RequestedAt is when the gateway accepted the checkout; PlacedAt when
	// the manager decided it.
	RequestedAt time.Time
	PlacedAt    time.Time
}

// OrderOf is the order a CartCheckedOut event places. The lines are
// copied, so the order shares no memory with the event.
func OrderOf(ev CartCheckedOut) OrderPlaced {
	return OrderPlaced{
		OrderID:           OrderIDOf(ev.CartID, ev.RequestID),
		CartID:            ev.CartID,
		CustomerID:        ev.CustomerID,
		CheckoutRequestID: ev.RequestID,
		CartVersion:       ev.Version,
		Lines:             append([]Line(nil), ev.Lines...),
		Subtotal:          ev.Subtotal,
		ItemCount:         ev.ItemCount,
		RequestedAt:       ev.RequestedAt,
		PlacedAt:          ev.DecidedAt,
	}
}
