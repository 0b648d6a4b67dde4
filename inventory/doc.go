// Package inventory is the pure core of the stock side: a SKU's stock
// Level and Step, which applies one Request (reserve or release units for a
// checkout, set or adjust the stock) and says what to answer. Like cart/,
// it imports only the standard library and the cart domain, never reads a
// clock and never makes an id, so the inventory processor, a replay and the
// verifier all compute the same levels.
//
// Invariants: Available and Reserved are never negative, whatever the
// requests; a reservation is granted only when Available covers it whole,
// so two checkouts of the last unit cannot both be granted.
package inventory
