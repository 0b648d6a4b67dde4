package cart_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cartstream/cartstream/cart"
)

// FuzzLifecycle drives the lifecycle commands (ClearCart, MergeCarts with
// its MergeInto and MergeReturned halves, ExpireCart as the manager's scan
// asks it, and as a zombie's stale ask) mixed with the cart commands
// through Process over three carts, delivering the internal requests the
// way the manager does: in a later step, sometimes twice. After every step
// it checks the fold's invariants:
//
//   - Process leaves its input alone and returns a valid snapshot;
//   - the accepted events, folded from nothing, give the live cart
//     (apply(decide) agrees with the state), and versions step by one;
//   - no line is ever below 1 or above its cap;
//   - a merge neither loses nor doubles: the source hands over exactly its
//     lines, the target gains at most what was handed over (the rest is
//     clamped to a cap or named as dropped), a refused MergeInto returns
//     exactly those lines to the source, and a redelivered half changes
//     nothing;
//   - an expiry is accepted only when the cart was idle for its TTL (for a
//     cart without events: since its last request), leaves nothing, and
//     the id starts over at version 1.
func FuzzLifecycle(f *testing.F) {
	for _, seed := range lifecycleSeeds() {
		f.Add(seed)
	}
	f.Fuzz(checkLifecycleSequence)
}

// lifecycleSeeds are the hand-written starting points (also under
// testdata/fuzz/FuzzLifecycle): a merge that lands, one that returns, an
// expiry of a cart with events and of one without, clear, and retries.
func lifecycleSeeds() [][]byte {
	return [][]byte{
		// merge lands, redelivered
		{0x00, 0x00, 0x0c, 0x00, 0x00, 0x01, 0x00, 0x01, 0x01, 0x04, 0x00, 0x01, 0x06, 0x00, 0x00, 0x07, 0x00, 0x00},
		// merge returns from a checked-out target
		{0x00, 0x00, 0x0c, 0x00, 0x01, 0x01, 0x03, 0x01, 0x00, 0x04, 0x00, 0x01, 0x06, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x01},
		// expire a cart with events, start over
		{0x00, 0x01, 0x0c, 0x3e, 0x04, 0x00, 0x3e, 0x04, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x01},
		// expire a cart without events, zombie refused
		{0x00, 0x02, 0x04, 0x3e, 0x04, 0x00, 0x3e, 0x04, 0x00, 0x05, 0x02, 0x01, 0x3e, 0x04, 0x00, 0x3e, 0x04, 0x00, 0x05, 0x02, 0x00, 0x00, 0x02, 0x00},
		// clear, change, remove
		{0x00, 0x01, 0x0c, 0x02, 0x01, 0x00, 0x00, 0x01, 0x13, 0x01, 0x01, 0x0d, 0x01, 0x01, 0x25, 0x02, 0x01, 0x00},
		// merges refused: wrong customer, itself, empty
		{0x00, 0x00, 0x00, 0x04, 0x00, 0x82, 0x04, 0x00, 0x00, 0x04, 0x02, 0x01, 0x06, 0x00, 0x00},
		// merge clamps and drops
		{0x00, 0x01, 0x12, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x02, 0x04, 0x00, 0x01, 0x06, 0x00, 0x00, 0x07, 0x00, 0x00},
		// merge into a target that expires first
		{0x00, 0x00, 0x0d, 0x00, 0x01, 0x00, 0x04, 0x00, 0x01, 0x3e, 0x04, 0x00, 0x3e, 0x04, 0x00, 0x05, 0x01, 0x00, 0x06, 0x00, 0x00, 0x05, 0x00, 0x00},
	}
}

// lcCarts are the fuzz carts: a guest cart and two customers' carts.
var lcCarts = []cart.CartID{"g1", "c1", "c2"}

// lcOwners are the customers of lcCarts, by index.
var lcOwners = []cart.CustomerID{"guest", "u1", "u2"}

// lcSKUs index the lifecycle catalog; "kiwi" is not in it.
var lcSKUs = []cart.SKU{"apple", "pear", "bagel", "plum", "kiwi", "yen"}

// lcTTL is the expiry's time to live; a step advances the clock by 0 to
// 7 times lcTick, so carts expire within a few steps.
const (
	lcTTL  = 10 * time.Second
	lcTick = 3 * time.Second
)

func lifecycleCatalog(tb testing.TB) cart.MapCatalog {
	tb.Helper()
	c, err := cart.NewMapCatalog(
		cart.Product{SKU: "apple", Name: "Apple", UnitPrice: eur(100), Active: true, MaxQuantityPerLine: 3},
		cart.Product{SKU: "pear", Name: "Pear", UnitPrice: eur(250), Active: true},
		cart.Product{SKU: "bagel", Name: "Bagel", UnitPrice: usd(300), Active: true, MaxQuantityPerLine: 2},
		cart.Product{SKU: "plum", Name: "Plum", UnitPrice: eur(50), Active: false},
		cart.Product{SKU: "yen", Name: "Yen thing", UnitPrice: cart.Money{Amount: 1, Currency: "JPY"}, Active: true, MaxQuantityPerLine: 1},
	)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// lcCart is one cart as the manager holds it, with the fuzz's model of it.
type lcCart struct {
	snap cart.Snapshot
	// replay folds the accepted events of the current generation.
	replay cart.CartState
	// lastRequestAt is when the cart's last request was decided: what a
	// cart without events is idle since.
	lastRequestAt time.Time
	// generation counts expiries.
	generation int
}

// lcDelivered is a request already handed to its cart once, and the
// cart's generation then: a redelivery or a retry comes from it.
type lcDelivered struct {
	cmd        cart.Command
	generation int // of the receiving cart then
}

// lcMerge is a merge's lines in flight: handed over by the source, not yet
// landed in the target or returned.
type lcMerge struct {
	lines []cart.Line
}

type lcRun struct {
	tb        testing.TB
	cat       cart.MapCatalog
	carts     []*lcCart
	offset    int64
	at        time.Time
	queue     []cart.Command // internal requests not yet delivered
	delivered []lcDelivered
	merges    map[cart.RequestID]lcMerge // by MergeInto request id
	history   []lcDelivered              // client commands, for retries
	step      int
	nextID    int
	// seen counts what the sequence reached, by event type and a few
	// named cases (TestLifecycleSeedsReachEveryCase).
	seen map[string]int
}

func checkLifecycleSequence(t *testing.T, data []byte) {
	runLifecycle(t, data)
}

func runLifecycle(t *testing.T, data []byte) *lcRun {
	r := &lcRun{tb: t, cat: lifecycleCatalog(t), at: t0, merges: map[cart.RequestID]lcMerge{}, seen: map[string]int{}}
	for _, id := range lcCarts {
		r.carts = append(r.carts, &lcCart{snap: cart.NewSnapshot(id)})
	}
	for i := 0; i+3 <= len(data) && i < 3*fuzzMaxSteps; i += 3 {
		r.step = i / 3
		r.do(data[i], data[i+1], data[i+2])
	}
	return r
}

// The seeds reach every lifecycle case the invariants are about, so the
// fuzzer starts from all of them.
func TestLifecycleSeedsReachEveryCase(t *testing.T) {
	seen := map[string]int{}
	for _, seed := range lifecycleSeeds() {
		for k, n := range runLifecycle(t, seed).seen {
			seen[k] += n
		}
	}
	for _, want := range []string{"CartMerged", "CartMergedInto", "CartMergeReturned", "CartCleared", "CartExpired",
		"expired without events", "merge clamped or dropped", "rejected MergeInto", "duplicate MergeInto", "zombie expiry refused", "version 1 after expiry"} {
		if seen[want] == 0 {
			t.Errorf("no seed reaches %q (seen %v)", want, seen)
		}
	}
}

func (r *lcRun) index(id cart.CartID) int {
	return slices.Index(lcCarts, id)
}

func (r *lcRun) freshID() cart.RequestID {
	r.nextID++
	return cart.RequestID("q" + strconv.Itoa(r.nextID))
}

// do decodes one step: op's low 3 bits pick the command, its high bits
// advance the clock; a and b pick the cart, the sku, the quantity.
func (r *lcRun) do(op, a, b byte) {
	r.at = r.at.Add(time.Duration(op>>3&7) * lcTick)
	ci := int(a) % len(lcCarts)
	c := r.carts[ci]
	id, owner := lcCarts[ci], lcOwners[ci]
	sku := lcSKUs[int(b)%len(lcSKUs)]
	qty := int32(b>>3&3) + 1
	var cmd cart.Command
	switch op & 7 {
	case 0:
		cmd = cart.AddItem{CartID: id, RequestID: r.freshID(), CustomerID: owner, RequestedAt: r.at, SKU: sku, Quantity: qty}
	case 1:
		if b&0x20 == 0 {
			cmd = cart.ChangeQuantity{CartID: id, RequestID: r.freshID(), RequestedAt: r.at, SKU: sku, Quantity: qty - 1}
		} else {
			cmd = cart.RemoveItem{CartID: id, RequestID: r.freshID(), RequestedAt: r.at, SKU: sku}
		}
	case 2:
		cmd = cart.ClearCart{CartID: id, RequestID: r.freshID(), CustomerID: owner, RequestedAt: r.at}
	case 3:
		cmd = cart.Checkout{CartID: id, RequestID: r.freshID(), CustomerID: owner, RequestedAt: r.at}
	case 4:
		ti := int(b) % len(lcCarts)
		customer := lcOwners[ti]
		if b&0x80 != 0 {
			customer = lcOwners[(ti+1)%len(lcOwners)] // not the target's owner
		}
		cmd = cart.MergeCarts{CartID: id, RequestID: r.freshID(), CustomerID: customer, RequestedAt: r.at, TargetCartID: lcCarts[ti]}
	case 5:
		cmd = r.expiry(c, b&1 != 0)
	case 6:
		if a&4 != 0 || len(r.queue) == 0 {
			return // only time passes
		}
		cmd, r.queue = r.queue[0], r.queue[1:]
	case 7:
		// A redelivery: an internal request again (its cart has not
		// expired since, as a retried transaction's would be), or a
		// client's retry of an earlier command.
		if b&1 == 0 && len(r.delivered) > 0 {
			d := r.delivered[int(b>>1)%len(r.delivered)]
			if r.carts[r.index(d.cmd.Meta().CartID)].generation != d.generation {
				return
			}
			cmd = d.cmd
		} else if len(r.history) > 0 {
			// A client's retry, also of a command older than its cart's
			// expiry: that one is a new request again (the window went
			// with the cart), and a MergeCarts retried so is a new
			// decision whose MergeInto the target must not take for the
			// first one's (MergeIntoRequestID).
			h := r.history[int(b>>1)%len(r.history)]
			cmd = h.cmd
		} else {
			return
		}
	}
	r.process(cmd)
}

// expiry is the ExpireCart the manager's scan would ask for c now, or, as
// a zombie, one from an older look at it (a stale id and idle time).
func (r *lcRun) expiry(c *lcCart, zombie bool) cart.ExpireCart {
	s := c.snap
	ex := cart.ExpireCart{CartID: s.Cart.CartID, RequestedAt: r.at, TTL: lcTTL}
	if ex.CartID == "" {
		ex.CartID = lcCarts[slices.Index(r.carts, c)]
	}
	switch {
	case s.Cart.Version > 0:
		ex.RequestID, ex.IdleSince = cart.ExpireRequestID(s.Cart.Version), s.Cart.UpdatedAt
	case !c.lastRequestAt.IsZero():
		ex.RequestID, ex.IdleSince = cart.ExpireUntouchedRequestID(s.RequestOffset), c.lastRequestAt
	default:
		ex.RequestID, ex.IdleSince = cart.ExpireUntouchedRequestID(s.RequestOffset), r.at
	}
	if zombie {
		ex.RequestID = cart.ExpireUntouchedRequestID(s.RequestOffset - 1)
		if s.Cart.Version > 1 {
			ex.RequestID = cart.ExpireRequestID(s.Cart.Version - 1)
		}
		ex.IdleSince = t0.Add(-time.Hour)
	}
	return ex
}

func (r *lcRun) fatalf(format string, args ...any) {
	r.tb.Helper()
	r.tb.Fatalf("step %d: "+format, append([]any{r.step}, args...)...)
}

// process runs cmd through Process on its cart and checks the outcome.
func (r *lcRun) process(cmd cart.Command) {
	r.tb.Helper()
	meta := cmd.Meta()
	ci := r.index(meta.CartID)
	c := r.carts[ci]
	switch cmd.(type) {
	case cart.ExpireCart, cart.MergeReturned:
		if c.snap.RequestOffset < 0 {
			// The manager skips these for a cart it does not hold (one
			// that expired): deciding them would bring it back.
			r.seen["skipped on a gone cart"]++
			return
		}
	}
	r.offset++
	prev := c.snap.Clone()
	next, out := cart.Process(c.snap, cmd, r.offset, r.cat, fuzzLimits, r.at)
	if !sameSnapshot(c.snap, prev) {
		r.fatalf("Process modified its input")
	}
	// An expired cart's next snapshot is never written (a tombstone is):
	// only a live one must be valid.
	if err := next.Validate(); err != nil && next.Cart.CartID != "" {
		r.fatalf("invalid snapshot of %s after %T: %v", meta.CartID, cmd, err)
	}
	if !sameCart(out.Cart, next.Cart) {
		r.fatalf("outcome cart differs from the snapshot's")
	}
	switch cmd.(type) {
	case cart.MergeInto, cart.MergeReturned:
		r.delivered = append(r.delivered, lcDelivered{cmd: cmd, generation: c.generation})
	default:
		r.history = append(r.history, lcDelivered{cmd: cmd, generation: c.generation})
	}
	switch out.Disposition {
	case cart.DispositionAccepted:
		if len(out.Events) != 1 || out.Invalid != nil {
			r.fatalf("bad acceptance %+v", out)
		}
		r.seen[out.Events[0].EventType().String()]++
		if c.generation > 0 && prev.Cart.Version == 0 && out.Events[0].Meta().Version == 1 {
			r.seen["version 1 after expiry"]++
		}
		r.accepted(c, prev, next, cmd, out.Events[0])
	case cart.DispositionRejected:
		if out.Invalid == nil || out.Invalid.Rejection.Reason == cart.ReasonNone || len(out.Events) != 0 {
			r.fatalf("bad rejection %+v", out)
		}
		if !sameCart(next.Cart, prev.Cart) {
			r.fatalf("a rejection changed the cart")
		}
		if ex, ok := cmd.(cart.ExpireCart); ok && ex.IdleSince.Before(t0) {
			r.seen["zombie expiry refused"]++
		}
		if into, ok := cmd.(cart.MergeInto); ok {
			r.seen["rejected MergeInto"]++
			// The manager hands the lines back: exactly what was handed over.
			ret := cart.MergeReturnedOf(into, out.Invalid.Rejection, r.at)
			if m, ok := r.merges[into.RequestID]; !ok || !slices.Equal(m.lines, ret.Lines) {
				r.fatalf("MergeReturned carries %v, the merge handed over %v", ret.Lines, m.lines)
			}
			r.queue = append(r.queue, ret)
		}
	case cart.DispositionDuplicate:
		if _, ok := cmd.(cart.MergeInto); ok {
			r.seen["duplicate MergeInto"]++
		}
		if len(out.Events) != 0 || out.Invalid != nil || !sameCart(next.Cart, prev.Cart) || !slices.Equal(next.Window, prev.Window) {
			r.fatalf("a duplicate changed something: %+v", out)
		}
	default:
		r.fatalf("disposition %v", out.Disposition)
	}
	for _, l := range next.Cart.Lines {
		if p, ok := r.cat[l.SKU]; !ok || l.Quantity < 1 || l.Quantity > fuzzLimits.QuantityCap(p) {
			r.fatalf("cart %s: line %s holds %d", meta.CartID, l.SKU, l.Quantity)
		}
	}
	c.lastRequestAt = r.at
	if next.Cart.CartID == "" {
		// Expired: the manager writes a tombstone and forgets the cart;
		// the id starts over.
		c.snap, c.replay, c.lastRequestAt = cart.NewSnapshot(meta.CartID), cart.CartState{}, time.Time{}
		c.generation++
		return
	}
	c.snap = next
	want := c.replay
	if want.Version == 0 {
		want.CartID = meta.CartID
	}
	if !sameCart(want, next.Cart) {
		r.fatalf("cart %s: the fold of its events differs\n  fold %+v\n  live %+v", meta.CartID, c.replay, next.Cart)
	}
}

// accepted checks an accepted command's event against the cart before and
// after, folds it into the model, and queues what the manager would write.
func (r *lcRun) accepted(c *lcCart, prev, next cart.Snapshot, cmd cart.Command, ev cart.Event) {
	r.tb.Helper()
	folded, err := cart.Apply(c.replay, ev)
	if err != nil {
		r.fatalf("Apply of a decided %v: %v", ev.EventType(), err)
	}
	if _, expired := ev.(cart.CartExpired); !expired && next.Cart.Version != prev.Cart.Version+1 {
		r.fatalf("version %d after %d", next.Cart.Version, prev.Cart.Version)
	}
	c.replay = folded
	switch e := ev.(type) {
	case cart.CartExpired:
		since := prev.Cart.UpdatedAt
		if prev.Cart.Version == 0 {
			since = c.lastRequestAt
		}
		if r.at.Sub(since) < lcTTL {
			r.fatalf("cart %s expired %s after it was last touched, TTL %s", e.CartID, r.at.Sub(since), lcTTL)
		}
		if next.Cart.CartID != "" || len(next.Cart.Lines) != 0 || e.Version != prev.Cart.Version+1 {
			r.fatalf("expiry left %+v (event version %d)", next.Cart, e.Version)
		}
		if prev.Cart.Version == 0 {
			r.seen["expired without events"]++
		}
	case cart.CartMerged:
		if !slices.Equal(e.Lines, prev.Cart.Lines) || len(next.Cart.Lines) != 0 || next.Cart.Status != cart.StatusMerged {
			r.fatalf("merge handed over %v of %v, left %+v", e.Lines, prev.Cart.Lines, next.Cart)
		}
		into := cart.MergeIntoOf(e)
		if _, dup := r.merges[into.RequestID]; dup {
			r.fatalf("a second merge with request id %s", into.RequestID)
		}
		r.merges[into.RequestID] = lcMerge{lines: slices.Clone(e.Lines)}
		r.queue = append(r.queue, into)
	case cart.CartMergedInto:
		into := cmd.(cart.MergeInto)
		m, ok := r.merges[into.RequestID]
		if !ok || !slices.Equal(m.lines, into.Lines) {
			r.fatalf("MergeInto carries %v, the merge handed over %v", into.Lines, m.lines)
		}
		delete(r.merges, into.RequestID) // landed: any later delivery is a duplicate
		for _, src := range into.Lines {
			before, after := quantityOf(prev.Cart, src.SKU), quantityOf(next.Cart, src.SKU)
			capped := fuzzLimits.QuantityCap(r.cat[src.SKU])
			switch {
			case after > before+src.Quantity:
				r.fatalf("merge doubled %s: %d + %d became %d", src.SKU, before, src.Quantity, after)
			case after == before+src.Quantity:
			case after == capped && after >= before, after == before && slices.Contains(e.Dropped, src.SKU):
				r.seen["merge clamped or dropped"]++
			default:
				r.fatalf("merge lost %s: %d + %d became %d (cap %d, dropped %v)", src.SKU, before, src.Quantity, after, capped, e.Dropped)
			}
		}
		for _, l := range prev.Cart.Lines {
			if !slices.ContainsFunc(into.Lines, func(s cart.Line) bool { return s.SKU == l.SKU }) && quantityOf(next.Cart, l.SKU) != l.Quantity {
				r.fatalf("merge changed %s, which it did not carry", l.SKU)
			}
		}
	case cart.CartMergeReturned:
		if !slices.Equal(next.Cart.Lines, e.Lines) || next.Cart.Status != cart.StatusOpen {
			r.fatalf("returned lines %v, the cart holds %+v", e.Lines, next.Cart)
		}
	}
}

func quantityOf(s cart.CartState, sku cart.SKU) int32 {
	for _, l := range s.Lines {
		if l.SKU == sku {
			return l.Quantity
		}
	}
	return 0
}
