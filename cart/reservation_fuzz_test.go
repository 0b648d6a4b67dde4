package cart_test

import (
	"testing"
	"time"

	"github.com/cartstream/cartstream/cart"
)

// sagaSeeds start FuzzReservingSaga at a pending checkout and its answers.
var sagaSeeds = [][]byte{
	{0, 0, 0, 2, 1, 0, 0, 1, 1, 2, 0, 4, 0, 0, 3, 250, 0, 0, 0, 0},
	{0, 0, 0, 2, 1, 0, 0, 1, 1, 2, 0, 4, 0, 0, 3, 250, 1, 0, 0, 0, 0, 0, 0, 1, 1},
	// Two lines: both granted (closed), or one refused (released, reopened).
	{0, 0, 0, 2, 1, 0, 0, 1, 1, 2, 0, 4, 0, 0, 3, 250, 0, 0, 0, 0, 250, 1, 0, 0, 0},
	{0, 0, 0, 2, 1, 0, 0, 1, 1, 2, 0, 4, 0, 0, 3, 250, 0, 0, 0, 0, 250, 1, 1, 0, 0, 0, 4, 0, 0, 5},
}

// FuzzReservingSaga runs random commands through ProcessReserving, with
// the inventory's answers to pending checkouts interleaved (granted or
// refused), and checks the saga's invariants after every step: the
// snapshot is valid; folding the emitted events gives the snapshot's cart
// (the replay guarantee holds with reservations); a checkout is decided
// exactly once, and only after every line answered; a failed checkout
// releases exactly its granted reservations, a successful one none; only
// granted reservations are ever released.
func FuzzReservingSaga(f *testing.F) {
	for _, seed := range sagaSeeds {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkSagaSequence(t, data) })
}

// checkSagaSequence is FuzzReservingSaga's body; it returns how many
// checkouts were decided.
func checkSagaSequence(t *testing.T, data []byte) int {
	{
		cats := fuzzCatalogs(t)
		snap := cart.NewSnapshot("c1")
		var fold cart.CartState
		var history []cart.Command
		granted := map[cart.ReservationID]bool{}
		released := map[cart.ReservationID]bool{}
		decided := map[cart.RequestID]int{}
		offset := int64(-1)
		for i := 0; i+5 <= len(data) && i < 5*fuzzMaxSteps; i += 5 {
			at := t0.Add(time.Duration(i) * time.Second)
			var next cart.Snapshot
			var out cart.Outcome
			if data[i] >= 200 && snap.Pending != nil {
				p := snap.Pending
				j := int(data[i+1]) % len(p.Lines)
				l := p.Lines[j]
				r := cart.Reservation{ID: cart.ReservationIDOf("c1", p.RequestID, l.SKU), CartID: "c1", CheckoutRequestID: p.RequestID, SKU: l.SKU, Quantity: l.Quantity}
				ok := data[i+2]%2 == 0
				offset++
				next, out = cart.Answer(snap, cart.ReservationAnswer{Reservation: r, Granted: ok, DecidedAt: at}, offset, at)
				if ok && l.Answer == cart.AnswerWaiting {
					granted[r.ID] = true
				}
			} else {
				cmd, ci, delta := decodeStep(data[i+1:i+5], history, at)
				history = append(history, cmd)
				offset += delta
				next, out = cart.ProcessReserving(snap, cmd, offset, cats[ci], fuzzLimits, at)
				if out.Disposition == cart.DispositionStale {
					offset = snap.RequestOffset
				}
			}
			if err := next.Validate(); err != nil {
				t.Fatalf("step %d: invalid snapshot: %v", i/5, err)
			}
			for _, ev := range out.Events {
				var err error
				if fold, err = cart.Apply(fold, ev); err != nil {
					t.Fatalf("step %d: the fold refuses %T: %v", i/5, ev, err)
				}
				if co, ok := ev.(cart.CartCheckedOut); ok {
					decided[co.RequestID]++
					for _, l := range co.Lines {
						if released[cart.ReservationIDOf("c1", co.RequestID, l.SKU)] {
							t.Fatalf("step %d: a successful checkout's reservation was released", i/5)
						}
					}
				}
			}
			for _, r := range out.Release {
				if !granted[r.ID] || released[r.ID] {
					t.Fatalf("step %d: release of %s: granted %t, released before %t", i/5, r.ID, granted[r.ID], released[r.ID])
				}
				released[r.ID] = true
			}
			if inv := out.Invalid; inv != nil && inv.Rejection.Reason == cart.ReasonOutOfStock && snap.Pending != nil && inv.RequestID == snap.Pending.RequestID {
				decided[inv.RequestID]++
				for _, l := range snap.Pending.Lines {
					id := cart.ReservationIDOf("c1", inv.RequestID, l.SKU)
					if granted[id] && !released[id] {
						t.Fatalf("step %d: a failed checkout kept its grant of %s", i/5, l.SKU)
					}
				}
			}
			if snap.Pending != nil && next.Pending == nil && decided[snap.Pending.RequestID] != 1 {
				t.Fatalf("step %d: a pending checkout ended without a decision", i/5)
			}
			for id, n := range decided {
				if n > 1 {
					t.Fatalf("checkout %s decided %d times", id, n)
				}
			}
			if next.Cart.Version > 0 && !sameCart(next.Cart, fold) {
				t.Fatalf("step %d: snapshot cart differs from the fold of the events", i/5)
			}
			snap = next
		}
		return len(decided)
	}
}

// TestSagaSeedsDecide: the seeds reach both decisions, so the fuzz starts
// from the interesting paths.
func TestSagaSeedsDecide(t *testing.T) {
	n := 0
	for _, seed := range sagaSeeds {
		n += checkSagaSequence(t, seed)
	}
	if n < 2 {
		t.Fatalf("the seeds decide %d checkouts, want at least 2", n)
	}
}
