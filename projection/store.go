package projection

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/cartstream/cartstream/cart"
)

// entry is one cart of a shard. All fields are guarded by the shard's mu.
// An entry exists for a cart with a snapshot, with history, or with
// waiters; one with none of them is removed. A replica holds millions: the
// fields are ordered so the struct fills a 256-byte size class, and what
// few carts have (a history index: a pointer) costs the others 8 bytes.
type entry struct {
	// snap is the latest snapshot; meaningful only when has is set. Its
	// slices are never modified once stored: an update replaces snap. Its
	// strings share no memory with the record it was decoded from
	// (interner.compact), so no record stays held by a cart.
	snap cart.Snapshot
	// changed is closed and set to nil when snap changes. It is made only
	// when somebody waits, so a cart nobody watches costs no channel.
	changed chan struct{}
	// hist indexes the cart's most recent records on cart.validated and
	// cart.invalid, in the order each topic holds them; nil until the cart
	// has one.
	hist *histIndex
	// bad is set while the cart's latest record in cart.state does not
	// decode (has is then false): the cart is quarantined, not served from
	// an older snapshot.
	bad     *unreadable
	waiters int32
	has     bool
}

// unreadable is a cart's latest cart.state record this replica cannot
// decode: corrupt bytes, or a newer schema version it was not shipped.
type unreadable struct {
	stateOffset int64
}

func (u *unreadable) err(id cart.CartID, partition int32) error {
	return fmt.Errorf("%w: cart %s (cart.state partition %d, offset %d)", ErrUnreadable, id, partition, u.stateOffset)
}

func (e *entry) notify() {
	if e.changed != nil {
		close(e.changed)
		e.changed = nil
	}
}

// idle: nothing to keep. A cart whose history was all evicted still has
// an index (it remembers the positions evicted), so it is not idle.
func (e *entry) idle() bool {
	return !e.has && e.bad == nil && e.waiters == 0 && e.hist.len() == 0 && !e.hist.truncated()
}

// shard is the materialized part of one owned partition of cart.state.
type shard struct {
	partition int32

	mu    sync.RWMutex
	carts map[cart.CartID]*entry
	// snapshots counts entries with a snapshot.
	snapshots int
	// high is the highest RequestOffset of any snapshot applied.
	high int64
	// settled is high as of the last time the follower had read the
	// partition to its end: every transaction up to it is fully applied.
	settled int64
	// settledCh is closed and replaced when settled grows.
	settledCh chan struct{}
	// offsets are the partition's offsets behind Stats.
	offsets partOffsets
	// byCustomer indexes the carts with a snapshot by their customer, for
	// ListCarts (customers.go).
	byCustomer customerIndex
}

func newShard(partition int32) *shard {
	return &shard{partition: partition, carts: map[cart.CartID]*entry{}, high: -1, settled: -1, settledCh: make(chan struct{})}
}

// apply stores s as the cart's snapshot unless it is a redelivery (older,
// or the very snapshot held), and wakes the cart's waiters. A snapshot of
// the same request offset with another cart is stored: cartctl replay
// --rewrite repairs a cart in place, keeping its offset and window. It
// reports whether s was stored and whether the cart is new to the shard.
func (sh *shard) apply(s cart.Snapshot) (stored, isNew bool) {
	id := s.Cart.CartID
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.carts[id]
	if e == nil {
		e = &entry{}
		sh.carts[id] = e
	}
	if e.has && (s.RequestOffset < e.snap.RequestOffset ||
		s.RequestOffset == e.snap.RequestOffset && reflect.DeepEqual(s.Cart, e.snap.Cart)) {
		return false, false
	}
	e.bad = nil
	if !e.has {
		sh.snapshots++
		isNew = true
	} else {
		sh.byCustomer.drop(e.snap.Cart.CustomerID, id)
	}
	s.Cart.CustomerID = sh.byCustomer.add(s.Cart.CustomerID, id)
	e.snap, e.has = s, true
	sh.high = max(sh.high, s.RequestOffset)
	e.notify()
	return true, isNew
}

// remove handles a tombstone: the cart is gone.
func (sh *shard) remove(id cart.CartID) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.carts[id]
	if e == nil || (!e.has && e.bad == nil) {
		return
	}
	e.bad = nil
	if !e.has {
		e.notify()
		if e.idle() {
			delete(sh.carts, id)
		}
		return
	}
	sh.byCustomer.drop(e.snap.Cart.CustomerID, id)
	e.snap, e.has = cart.Snapshot{}, false
	sh.snapshots--
	e.notify()
	if e.idle() {
		delete(sh.carts, id)
	}
}

// quarantine marks the cart unreadable: its latest cart.state record does
// not decode. The snapshot held before is dropped, never served again: it
// is older than the cart's true state.
func (sh *shard) quarantine(id cart.CartID, u *unreadable) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.carts[id]
	if e == nil {
		e = &entry{}
		sh.carts[id] = e
	}
	if e.has {
		sh.byCustomer.drop(e.snap.Cart.CustomerID, id)
		e.snap, e.has = cart.Snapshot{}, false
		sh.snapshots--
	}
	e.bad = u
	e.notify()
}

// settle records that the partition was read to its end.
func (sh *shard) settle() {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.high > sh.settled {
		sh.settled = sh.high
		close(sh.settledCh)
		sh.settledCh = make(chan struct{})
	}
}

// get returns the cart's snapshot, if any, or ErrUnreadable for a
// quarantined cart.
func (sh *shard) get(id cart.CartID) (cart.Snapshot, bool, error) {
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	e := sh.carts[id]
	switch {
	case e == nil:
		return cart.Snapshot{}, false, nil
	case e.bad != nil:
		return cart.Snapshot{}, false, e.bad.err(id, sh.partition)
	}
	return e.snap, e.has, nil
}

// view is what a wait condition sees, under the shard's lock. e is the
// cart's entry (nil when none), for conditions on its history.
type view struct {
	snap    cart.Snapshot
	has     bool
	bad     *unreadable
	settled int64
	e       *entry
}

// await blocks until check says done (or fails), the cart's snapshot or the
// shard's settled offset changing in between; ctx and closed end the wait.
// It never polls.
func (sh *shard) await(ctx context.Context, closed <-chan struct{}, id cart.CartID, check func(view) (bool, error)) (cart.Snapshot, error) {
	for {
		sh.mu.Lock()
		e := sh.carts[id]
		v := view{settled: sh.settled, e: e}
		if e != nil {
			v.snap, v.has, v.bad = e.snap, e.has, e.bad
		}
		done, err := check(v)
		if err != nil || done {
			sh.mu.Unlock()
			return v.snap, err
		}
		if e == nil {
			e = &entry{}
			sh.carts[id] = e
		}
		if e.changed == nil {
			e.changed = make(chan struct{})
		}
		changed, settled := e.changed, sh.settledCh
		e.waiters++
		sh.mu.Unlock()

		var werr error
		select {
		case <-changed:
		case <-settled:
		case <-ctx.Done():
			werr = ctx.Err()
		case <-closed:
			werr = ErrClosed
		}

		sh.mu.Lock()
		e.waiters--
		if e.idle() && sh.carts[id] == e {
			delete(sh.carts, id)
		}
		sh.mu.Unlock()
		if werr != nil {
			return cart.Snapshot{}, werr
		}
	}
}

// interner shares equal strings (SKUs, currencies, product names,
// rejection messages) between carts, up to max distinct values; beyond
// that each string is copied on its own. Either way what it returns shares
// no memory with its argument: a decoded record's strings are slices of the
// record, which a cart must not keep alive. Safe for concurrent use.
type interner struct {
	mu  sync.Mutex
	m   map[string]string
	max int
}

func newInterner(max int) *interner {
	return &interner{m: map[string]string{}, max: max}
}

func (in *interner) get(s string) string {
	if s == "" {
		return ""
	}
	if in.max <= 0 {
		return strings.Clone(s)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if v, ok := in.m[s]; ok {
		return v
	}
	v := strings.Clone(s)
	if len(in.m) < in.max {
		in.m[v] = v
	}
	return v
}

// compact returns s as a shard keeps it: id (the record's key, equal to
// s.Cart.CartID) as its cart id, repeated strings shared with other carts,
// the cart's own strings (request ids, ...) copied into one allocation, no
// spare slice capacity, and nothing that points into the decoded record.
// The customer id is shared by the shard's customer index (shard.apply).
func (in *interner) compact(id cart.CartID, s cart.Snapshot) cart.Snapshot {
	s.Cart.CartID = id
	s.Cart.Currency = cart.Currency(in.get(string(s.Cart.Currency)))
	s.Cart.Subtotal.Currency = cart.Currency(in.get(string(s.Cart.Subtotal.Currency)))
	if len(s.Cart.Lines) > 0 {
		lines := make([]cart.Line, len(s.Cart.Lines))
		copy(lines, s.Cart.Lines)
		for i := range lines {
			l := &lines[i]
			l.SKU = cart.SKU(in.get(string(l.SKU)))
			l.Name = in.get(l.Name)
			l.UnitPrice.Currency = cart.Currency(in.get(string(l.UnitPrice.Currency)))
		}
		s.Cart.Lines = lines
	}
	// The cart's own strings, copied into one allocation (each apart
	// would round up to its size class).
	own := make([]*string, 0, 3+len(s.Window))
	own = append(own, (*string)(&s.Cart.MergedInto))
	if len(s.Window) > 0 {
		w := make([]cart.RequestOutcome, len(s.Window))
		copy(w, s.Window)
		for i := range w {
			own = append(own, (*string)(&w[i].RequestID))
			w[i].Message = in.get(w[i].Message)
		}
		s.Window = w
	}
	if s.Pending != nil {
		pc := *s.Pending
		own = append(own, (*string)(&pc.RequestID), (*string)(&pc.CustomerID))
		if len(pc.Lines) > 0 {
			pl := make([]cart.PendingLine, len(pc.Lines))
			copy(pl, pc.Lines)
			for i := range pl {
				pl[i].SKU = cart.SKU(in.get(string(pl[i].SKU)))
			}
			pc.Lines = pl
		}
		s.Pending = &pc
	}
	copyInto(own)
	return s
}

// copyInto replaces the strings ps point to with copies that share one
// new allocation.
func copyInto(ps []*string) {
	n := 0
	for _, p := range ps {
		n += len(*p)
	}
	if n == 0 {
		return
	}
	var b strings.Builder
	b.Grow(n)
	for _, p := range ps {
		b.WriteString(*p)
	}
	all, at := b.String(), 0
	for _, p := range ps {
		l := len(*p)
		*p = all[at : at+l]
		at += l
	}
}
