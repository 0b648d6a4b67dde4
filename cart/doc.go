// Package cart is the pure domain of cartstream: money, the catalog as the
// domain sees it, the four cart commands, the events they produce, the
// CartState aggregate with its decision function (Decide) and its fold
// (Apply), and the per-cart Snapshot whose bounded request window gives
// idempotency that survives restarts (Process).
//
// The package imports only the standard library and never reads the clock
// or makes identifiers: time and ids arrive as arguments. That is what makes
// a decision reproducible, so the write side, the read side and an operator
// replaying the log all compute the same carts. A test enforces the boundary.
//
// Invariants the package keeps, and its tests and fuzz targets check:
//
//   - Money is int64 minor units plus an ISO 4217 code; arithmetic reports
//     overflow as ErrAmountOverflow and never wraps.
//   - Every line holds 1..MaxQuantity units and at most its product's cap at
//     the time it grew; all lines share one currency, which is the cart's.
//   - Subtotal and ItemCount always equal the sums over the lines; Version is
//     the number of events applied.
//   - A checked-out cart never changes again.
//   - Apply never fails on an event Decide returned for the same state, and
//     folding the accepted events from the zero CartState reproduces the cart
//     exactly: cart.validated is the source of truth.
//   - Process leaves a trace for every request it is given (window entry and
//     RequestOffset), never produces an event for a duplicate, and keeps at
//     most RequestWindowSize entries.
//   - No input, however malformed (nil commands, corrupt states, broken
//     catalog entries), makes a function of this package panic.
//
// Values are plain data: functions take and return them by value and never
// mutate their inputs, so a state may be shared between goroutines as long as
// nobody writes to its slices.
package cart
