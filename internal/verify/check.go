package verify

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/partition"
	"github.com/cartstream/cartstream/internal/topics"
)

// Check verifies in and returns every violation it finds. It is pure,
// total and deterministic: the same input gives the same report, violations
// ordered by partition, cart and offset.
//
// The expectations model the write side (validation.session.handle over
// cart.Process) request by request, per cart and partition:
//   - a record that does not decode, whose key is not its command's cart
//     id, or whose key hashes to another partition (when Input.Partitions
//     is known), expects one MALFORMED InvalidRequest with no kind in the
//     same partition (matched by count: it carries no ids), under the same
//     key when that key is a cart id that belongs there, else under none;
//     it touches no cart;
//   - a request whose id is valid and held by the cart's window with the
//     same fingerprint is a retry: no outcome;
//   - held with another fingerprint: one DUPLICATE_REQUEST InvalidRequest;
//     the window is unchanged;
//   - otherwise one outcome, a validated event of the command's kind or an
//     InvalidRequest of its kind; the request enters the window (the
//     newest cart.RequestWindowSize entries are kept) only when its id is
//     valid, whether it was accepted or rejected.
//
// Every request that decodes, retries included, moves its cart's snapshot
// to its offset; malformed records do not.
func Check(in Input) Report {
	c := &checker{names: in.Topics, partitions: in.Partitions, answered: answerOffsets(in.Answers)}
	if c.names.Requests == "" {
		c.names = topics.DefaultSet()
	}
	c.report.Warnings = append([]string(nil), in.Warnings...)
	c.load(in)
	for _, k := range c.order {
		cd := c.carts[k]
		c.expect(cd)
	}
	c.assignOutcomes()
	c.checkMerges()
	for _, k := range c.order {
		c.checkCart(c.carts[k])
	}
	c.checkMalformed()
	if in.InventoryRead {
		c.checkReservations(in)
	}
	if in.OrdersRead {
		c.checkOrders(in.Orders)
		c.report.Summary.Orders = len(in.Orders)
	}
	c.summarize()
	return c.report
}

type cartKey struct {
	partition int32
	id        cart.CartID
}

func compareKeys(a, b cartKey) int {
	return cmp.Or(cmp.Compare(a.partition, b.partition), strings.Compare(string(a.id), string(b.id)))
}

// expectation is what a request must leave on the outcome topics.
type expectation uint8

const (
	expectOne    expectation = iota + 1 // one validated event or one InvalidRequest
	expectReused                        // one DUPLICATE_REQUEST InvalidRequest
	expectNone                          // a retry: nothing
	// expectSkipped: an ExpireCart or MergeReturned of a cart the manager
	// does not hold (never created, or expired): nothing, not even a
	// snapshot.
	expectSkipped
)

type slot struct {
	idx      int // position among the cart's requests
	req      *Request
	rid      cart.RequestID
	kind     cart.Kind
	fp       cart.Fingerprint
	expect   expectation
	original int64 // offset of the window entry a retry or reuse hit
	// The outcomes matched to the request, as indexes into the checker's
	// sorted records.
	validated []int
	invalid   []int
}

func (s *slot) outcomes() int { return len(s.validated) + len(s.invalid) }

type cartData struct {
	key       cartKey
	slots     []*slot
	byID      map[cart.RequestID][]*slot
	validated []int // decodable cart.validated records under the key, in offset order
	invalid   []int // decodable, non-malformed cart.invalid records, in offset order
	snapshot  *State
	window    []*slot // the modelled window after the last request
	// lastProcessed is the last slot of the last generation that moved
	// the snapshot; nil when that generation has none (no snapshot due).
	lastProcessed *slot
}

type malformedKey struct {
	partition int32
	key       string
}

type malformedGroup struct {
	requests []int64
	outcomes []int64
}

type checker struct {
	names      topics.Set
	partitions int
	requests   []Request
	validated  []Validated
	invalid    []Invalid
	state      []State

	carts map[cartKey]*cartData
	order []cartKey
	// requestOf maps a validated record (index) to the offset of the
	// request it was matched to or found to repeat.
	requestOf map[int]int64
	malformed map[malformedKey]*malformedGroup
	// answered: where each checkout that reserved stock was decided.
	answered map[cartKey]map[cart.RequestID]int64

	report Report
}

func sortedByPosition[T any](in []T, pos func(*T) Position) []T {
	out := slices.Clone(in)
	slices.SortStableFunc(out, func(a, b T) int {
		pa, pb := pos(&a), pos(&b)
		return cmp.Or(cmp.Compare(pa.Partition, pb.Partition), cmp.Compare(pa.Offset, pb.Offset))
	})
	return out
}

func (c *checker) cart(k cartKey) *cartData {
	if cd, ok := c.carts[k]; ok {
		return cd
	}
	cd := &cartData{key: k, byID: map[cart.RequestID][]*slot{}}
	c.carts[k] = cd
	return cd
}

func (c *checker) malformedGroup(k malformedKey) *malformedGroup {
	if g, ok := c.malformed[k]; ok {
		return g
	}
	g := &malformedGroup{}
	c.malformed[k] = g
	return g
}

func (c *checker) add(v Violation) { c.report.Violations = append(c.report.Violations, v) }

// misplaced tells a request whose key hashes (murmur2, as every cartstream
// producer partitions) to another partition than the one it sits in.
func (c *checker) misplaced(r *Request) bool {
	return c.partitions > 0 && partition.For([]byte(r.Key), c.partitions) != r.Partition
}

// malformedOutcomeKey is the key the write side gives a malformed
// request's outcome: the request's key when it is a cart id that belongs
// in the request's partition, else none (the outcome belongs to no cart).
func (c *checker) malformedOutcomeKey(r *Request) string {
	if cart.CartID(r.Key).Validate() != nil || c.misplaced(r) {
		return ""
	}
	return r.Key
}

// load sorts the records and groups them by cart.
func (c *checker) load(in Input) {
	c.requests = sortedByPosition(in.Requests, func(r *Request) Position { return r.Position })
	c.validated = sortedByPosition(in.Validated, func(r *Validated) Position { return r.Position })
	c.invalid = sortedByPosition(in.Invalid, func(r *Invalid) Position { return r.Position })
	c.state = sortedByPosition(in.State, func(r *State) Position { return r.Position })
	c.carts = map[cartKey]*cartData{}
	c.requestOf = map[int]int64{}
	c.malformed = map[malformedKey]*malformedGroup{}

	for i := range c.requests {
		r := &c.requests[i]
		cmd, ok := cart.Concrete(r.Command)
		if r.DecodeErr != nil || !ok || string(cmd.Meta().CartID) != r.Key || c.misplaced(r) {
			g := c.malformedGroup(malformedKey{r.Partition, c.malformedOutcomeKey(r)})
			g.requests = append(g.requests, r.Offset)
			c.report.Summary.Malformed++
			continue
		}
		m := cmd.Meta()
		cd := c.cart(cartKey{r.Partition, m.CartID})
		s := &slot{idx: len(cd.slots), req: r, rid: m.RequestID, kind: cmd.Kind(), fp: cart.FingerprintOf(cmd), original: -1}
		cd.slots = append(cd.slots, s)
		cd.byID[s.rid] = append(cd.byID[s.rid], s)
	}

	for i := range c.validated {
		v := &c.validated[i]
		if v.DecodeErr != nil || v.Event == nil {
			c.add(Violation{Kind: KindUndecodable, CartID: cart.CartID(v.Key), Partition: v.Partition, RequestOffset: -1,
				Topic: c.names.Validated, Offsets: []int64{v.Offset}, Detail: fmt.Sprintf("validated event does not decode: %v", v.DecodeErr)})
			continue
		}
		m := v.Event.Meta()
		if string(m.CartID) != v.Key {
			c.add(Violation{Kind: KindOutcomeMismatch, CartID: cart.CartID(v.Key), RequestID: m.RequestID, Partition: v.Partition, RequestOffset: -1,
				Topic: c.names.Validated, Offsets: []int64{v.Offset}, Detail: fmt.Sprintf("event of cart %q under key %q", m.CartID, v.Key)})
		}
		cd := c.cart(cartKey{v.Partition, cart.CartID(v.Key)})
		cd.validated = append(cd.validated, i)
	}

	for i := range c.invalid {
		v := &c.invalid[i]
		if v.DecodeErr != nil {
			c.add(Violation{Kind: KindUndecodable, CartID: cart.CartID(v.Key), Partition: v.Partition, RequestOffset: -1,
				Topic: c.names.Invalid, Offsets: []int64{v.Offset}, Detail: fmt.Sprintf("invalid request does not decode: %v", v.DecodeErr)})
			continue
		}
		inv := v.Invalid
		if !inv.Kind.Valid() {
			// Only an undecodable request yields a rejection without a
			// kind (session.malformed); it is matched by count.
			if inv.Rejection.Reason != cart.ReasonMalformed {
				c.add(Violation{Kind: KindOutcomeMismatch, CartID: cart.CartID(v.Key), RequestID: inv.RequestID, Partition: v.Partition, RequestOffset: -1,
					Topic: c.names.Invalid, Offsets: []int64{v.Offset}, Detail: fmt.Sprintf("rejection without a command kind has reason %s, want MALFORMED", inv.Rejection.Reason)})
				continue
			}
			g := c.malformedGroup(malformedKey{v.Partition, v.Key})
			g.outcomes = append(g.outcomes, v.Offset)
			continue
		}
		if string(inv.CartID) != v.Key {
			c.add(Violation{Kind: KindOutcomeMismatch, CartID: cart.CartID(v.Key), RequestID: inv.RequestID, Partition: v.Partition, RequestOffset: -1,
				Topic: c.names.Invalid, Offsets: []int64{v.Offset}, Detail: fmt.Sprintf("rejection of cart %q under key %q", inv.CartID, v.Key)})
		}
		cd := c.cart(cartKey{v.Partition, cart.CartID(v.Key)})
		cd.invalid = append(cd.invalid, i)
	}

	// The latest snapshot per key wins, as when the write side restores:
	// a tombstone deletes it, an undecodable record or one naming another
	// cart is skipped (the previous one stays).
	for i := range c.state {
		st := &c.state[i]
		k := cartKey{st.Partition, cart.CartID(st.Key)}
		switch {
		case st.Tombstone:
			if cd, ok := c.carts[k]; ok {
				cd.snapshot = nil
			}
		case st.DecodeErr != nil:
			c.add(Violation{Kind: KindUndecodable, CartID: k.id, Partition: st.Partition, RequestOffset: -1,
				Topic: c.names.State, Offsets: []int64{st.Offset}, Detail: fmt.Sprintf("snapshot does not decode: %v", st.DecodeErr)})
		case st.Snapshot.Cart.CartID != k.id:
			c.add(Violation{Kind: KindSnapshotMismatch, CartID: k.id, Partition: st.Partition, RequestOffset: -1,
				Topic: c.names.State, Offsets: []int64{st.Offset}, Detail: fmt.Sprintf("snapshot of cart %q under key %q", st.Snapshot.Cart.CartID, st.Key)})
		default:
			c.cart(k).snapshot = st
		}
	}

	c.order = make([]cartKey, 0, len(c.carts))
	for k := range c.carts {
		c.order = append(c.order, k)
	}
	slices.SortFunc(c.order, compareKeys)
}

// expect walks a cart's requests through the request window as
// cart.Process keeps it and records what each request must leave.
func (c *checker) expect(cd *cartData) {
	var window []*slot
	fresh := true // no request of this generation moved the snapshot yet
	expiries := c.expiriesOf(cd)
	for _, s := range cd.slots {
		if fresh && (s.kind == cart.KindExpireCart || s.kind == cart.KindMergeReturned) {
			s.expect = expectSkipped
			continue
		}
		fresh = false
		cd.lastProcessed = s
		if expiries.ends(s) {
			// The cart is gone: its window and snapshot with it.
			s.expect = expectOne
			window, fresh, cd.lastProcessed = nil, true, nil
			continue
		}
		recordable := s.rid.Validate() == nil
		if recordable {
			if w := lookup(window, s.rid); w != nil {
				s.original = w.req.Offset
				if w.fp == s.fp {
					s.expect = expectNone
					c.report.Summary.Retries++
				} else {
					s.expect = expectReused
					c.report.Summary.Reused++
				}
				continue
			}
		}
		s.expect = expectOne
		if recordable {
			if len(window) >= cart.RequestWindowSize {
				window = window[len(window)-cart.RequestWindowSize+1:]
			}
			window = append(window, s)
		}
	}
	cd.window = window
}

func lookup(window []*slot, id cart.RequestID) *slot {
	for i := len(window) - 1; i >= 0; i-- {
		if window[i].rid == id {
			return window[i]
		}
	}
	return nil
}

// assignOutcomes matches each cart's outcomes to its requests, in the order
// of each outcome topic (a two-pointer walk that tolerates faults): an
// outcome goes to the first request with its id that still lacks one and
// comes after the request the previous outcome went to; failing that, to an
// earlier one (out of order); failing that it is a duplicate or an orphan.
func (c *checker) assignOutcomes() {
	for _, k := range c.order {
		cd := c.carts[k]
		c.assignValidated(cd)
		c.assignInvalid(cd)
		for _, s := range cd.slots {
			if s.outcomes() > 0 || s.expect == expectNone || s.expect == expectSkipped {
				continue
			}
			v := c.requestViolation(KindMissingOutcome, cd, s)
			if s.expect == expectReused {
				v.Detail = fmt.Sprintf("no DUPLICATE_REQUEST rejection for a %s reusing the request id of offset %d", s.kind, s.original)
			} else {
				v.Detail = fmt.Sprintf("no validated event and no rejection for a %s", s.kind)
			}
			c.add(v)
		}
	}
}

func (c *checker) requestViolation(k Kind, cd *cartData, s *slot) Violation {
	return Violation{Kind: k, CartID: cd.key.id, RequestID: s.rid, Partition: cd.key.partition, RequestOffset: s.req.Offset}
}

// pick returns the first slot of cands without an outcome that satisfies
// ok, preferring one after position last; late is true when only an earlier
// one was left.
func pick(cands []*slot, last int, ok func(*slot) bool) (s *slot, late bool) {
	var early *slot
	for _, cand := range cands {
		if cand.outcomes() > 0 || !ok(cand) {
			continue
		}
		if cand.idx > last {
			return cand, false
		}
		if early == nil {
			early = cand
		}
	}
	return early, early != nil
}

// duplicateOf names the request a surplus outcome most likely repeats: the
// latest request with the id at or before position last, else the first.
func duplicateOf(cands []*slot, last int) *slot {
	best := cands[0]
	for _, s := range cands {
		if s.idx <= last {
			best = s
		}
	}
	return best
}

func expects(e expectation) func(*slot) bool { return func(s *slot) bool { return s.expect == e } }

func (c *checker) assignValidated(cd *cartData) {
	last := -1
	for _, i := range cd.validated {
		v := &c.validated[i]
		rid := v.Event.Meta().RequestID
		base := Violation{CartID: cd.key.id, RequestID: rid, Partition: cd.key.partition, RequestOffset: -1, Topic: c.names.Validated, Offsets: []int64{v.Offset}}
		cands := cd.byID[rid]
		if len(cands) == 0 {
			base.Kind, base.Detail = KindOrphanOutcome, fmt.Sprintf("%s for a request id the cart has no request with", v.Event.EventType())
			c.add(base)
			continue
		}
		s, late := pick(cands, last, expects(expectOne))
		if s == nil {
			if s, late = pick(cands, last, expects(expectReused)); s != nil {
				base.Kind, base.RequestOffset = KindOutcomeMismatch, s.req.Offset
				base.Detail = fmt.Sprintf("%s for a request reusing the id of offset %d for another command; want a DUPLICATE_REQUEST rejection", v.Event.EventType(), s.original)
				c.add(base)
			}
		}
		if s == nil {
			d := duplicateOf(cands, last)
			c.requestOf[i] = d.req.Offset
			c.add(c.duplicate(base, d))
			continue
		}
		c.requestOf[i] = s.req.Offset
		s.validated = append(s.validated, i)
		base.RequestOffset = s.req.Offset
		if late && !c.decidedLater(s) {
			base.Kind, base.Detail = KindOutOfOrder, fmt.Sprintf("%s appears after the outcome of a later request of the cart", v.Event.EventType())
			c.add(base)
		}
		if !c.decidedLater(s) {
			last = max(last, s.idx)
		}
		if got := v.Event.EventType().Kind(); got != s.kind {
			base.Kind, base.Detail = KindOutcomeMismatch, fmt.Sprintf("%s answers a %s", v.Event.EventType(), s.kind)
			c.add(base)
		}
	}
}

func (c *checker) assignInvalid(cd *cartData) {
	last := -1
	for _, i := range cd.invalid {
		v := &c.invalid[i]
		inv := v.Invalid
		base := Violation{CartID: cd.key.id, RequestID: inv.RequestID, Partition: cd.key.partition, RequestOffset: -1, Topic: c.names.Invalid, Offsets: []int64{v.Offset}}
		cands := cd.byID[inv.RequestID]
		if len(cands) == 0 {
			base.Kind, base.Detail = KindOrphanOutcome, fmt.Sprintf("%s rejection (%s) for a request id the cart has no request with", inv.Rejection.Reason, inv.EventType())
			c.add(base)
			continue
		}
		want, other := expectOne, expectReused
		if inv.Rejection.Reason == cart.ReasonDuplicateRequest {
			want, other = expectReused, expectOne
		}
		s, late := pick(cands, last, expects(want))
		mismatch := false
		if s == nil {
			s, late = pick(cands, last, expects(other))
			mismatch = s != nil
		}
		if s == nil {
			c.add(c.duplicate(base, duplicateOf(cands, last)))
			continue
		}
		s.invalid = append(s.invalid, i)
		base.RequestOffset = s.req.Offset
		if late && !c.decidedLater(s) {
			base.Kind, base.Detail = KindOutOfOrder, fmt.Sprintf("%s rejection appears after the outcome of a later request of the cart", inv.Rejection.Reason)
			c.add(base)
		}
		if !c.decidedLater(s) {
			last = max(last, s.idx)
		}
		switch {
		case mismatch && want == expectReused:
			base.Kind, base.Detail = KindOutcomeMismatch, "DUPLICATE_REQUEST rejection for a request whose id the window did not hold"
			c.add(base)
		case mismatch:
			base.Kind, base.Detail = KindOutcomeMismatch, fmt.Sprintf("%s rejection for a request reusing the id of offset %d for another command; want DUPLICATE_REQUEST", inv.Rejection.Reason, s.original)
			c.add(base)
		}
		if inv.Kind != s.kind {
			base.Kind, base.Detail = KindOutcomeMismatch, fmt.Sprintf("rejection of kind %s answers a %s", inv.Kind, s.kind)
			c.add(base)
		}
	}
}

// duplicate reports a surplus outcome v of the request s.
func (c *checker) duplicate(v Violation, s *slot) Violation {
	v.Kind, v.RequestOffset = KindDuplicateOutcome, s.req.Offset
	var prior []string
	for _, i := range s.validated {
		prior = append(prior, fmt.Sprintf("%s@%d", c.names.Validated, c.validated[i].Offset))
	}
	for _, i := range s.invalid {
		prior = append(prior, fmt.Sprintf("%s@%d", c.names.Invalid, c.invalid[i].Offset))
	}
	switch {
	case s.expect == expectNone && len(prior) == 0:
		v.Detail = fmt.Sprintf("outcome for a retry of the request at offset %d; a retry must have none", s.original)
	case len(prior) == 0:
		v.Detail = "surplus outcome"
	default:
		v.Detail = "second outcome; the request already has " + strings.Join(prior, ", ")
	}
	return v
}

// checkCart checks a cart's versions, its fold and its latest snapshot.
func (c *checker) checkCart(cd *cartData) {
	state := cart.CartState{CartID: cd.key.id}
	foldOK := true
	prev := int64(0)
	for _, i := range cd.validated {
		v := &c.validated[i]
		m := v.Event.Meta()
		base := Violation{CartID: cd.key.id, RequestID: m.RequestID, Partition: cd.key.partition, RequestOffset: -1, Topic: c.names.Validated, Offsets: []int64{v.Offset}}
		if off, ok := c.requestOf[i]; ok {
			base.RequestOffset = off
		}
		switch {
		case m.Version > prev+1:
			base.Kind, base.Detail = KindVersionGap, fmt.Sprintf("version %d after version %d", m.Version, prev)
			c.add(base)
		case m.Version <= prev:
			base.Kind, base.Detail = KindVersionRepeat, fmt.Sprintf("version %d after version %d", m.Version, prev)
			c.add(base)
		}
		prev = max(prev, m.Version)
		if !foldOK || m.Version <= state.Version {
			// A repeated version is reported above; the fold keeps the
			// first event of each version.
			continue
		}
		next, err := cart.Apply(state, v.Event)
		if _, expired := v.Event.(cart.CartExpired); expired && err == nil {
			// A new generation: versions start over.
			state, prev = cart.CartState{CartID: cd.key.id}, 0
			continue
		}
		if err != nil {
			// After a gap or a refused event the fold cannot go on; the
			// snapshot's cart is then not compared (the cart already has
			// a violation).
			foldOK = false
			if !errors.Is(err, cart.ErrVersionMismatch) {
				base.Kind, base.Detail = KindFoldFailed, fmt.Sprintf("cart.Apply refuses %s: %v", v.Event.EventType(), err)
				c.add(base)
			}
			continue
		}
		state = next
	}

	base := Violation{CartID: cd.key.id, Partition: cd.key.partition, RequestOffset: -1}
	if cd.snapshot != nil {
		base.Topic, base.Offsets = c.names.State, []int64{cd.snapshot.Offset}
	}
	switch {
	case len(cd.slots) == 0 && cd.snapshot != nil:
		base.Kind, base.Detail = KindOrphanSnapshot, "snapshot of a cart without requests in this partition"
		c.add(base)
		return
	case len(cd.slots) == 0:
		return
	}
	if cd.lastProcessed == nil {
		// Expired (or only ever asked to expire): a tombstone is due.
		if cd.snapshot != nil {
			base.Kind, base.Detail = KindSnapshotMismatch, "the cart expired but cart.state still holds a snapshot of it"
			c.add(base)
		}
		return
	}
	lastReq := cd.lastProcessed.req.Offset
	for _, off := range c.answered[cd.key] {
		lastReq = max(lastReq, off) // an answer moves the snapshot too
	}
	base.RequestOffset = lastReq
	if cd.snapshot == nil {
		base.Kind, base.Detail = KindMissingSnapshot, fmt.Sprintf("cart has %d requests but no snapshot", len(cd.slots))
		c.add(base)
		return
	}
	snap := cd.snapshot.Snapshot
	if snap.RequestOffset != lastReq {
		v := base
		v.Kind, v.Detail = KindSnapshotOffset, fmt.Sprintf("snapshot covers request offset %d, the cart's last request is at %d", snap.RequestOffset, lastReq)
		c.add(v)
	}
	if foldOK {
		if diff := diffCart(snap.Cart, state); diff != "" {
			v := base
			v.Kind, v.Detail = KindSnapshotMismatch, "snapshot differs from the fold of the validated events: "+diff
			c.add(v)
		}
	}
	if diff := c.diffWindow(snap.Window, c.decidedOrder(cd)); diff != "" {
		v := base
		v.Kind, v.Detail = KindSnapshotWindow, diff
		c.add(v)
	}
}

// normalize makes equal carts compare equal whatever a codec did with
// empty slices and time zones.
func normalize(s cart.CartState) cart.CartState {
	if len(s.Lines) == 0 {
		s.Lines = nil
	}
	s.UpdatedAt = normalTime(s.UpdatedAt)
	s.CheckedOutAt = normalTime(s.CheckedOutAt)
	return s
}

func normalTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Round(0).UTC()
}

// diffCart names the fields in which got differs from want; "" when equal.
func diffCart(got, want cart.CartState) string {
	got, want = normalize(got), normalize(want)
	if reflect.DeepEqual(got, want) {
		return ""
	}
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	var diffs []string
	for i := range g.NumField() {
		if !reflect.DeepEqual(g.Field(i).Interface(), w.Field(i).Interface()) {
			diffs = append(diffs, fmt.Sprintf("%s is %v, want %v", g.Type().Field(i).Name, g.Field(i).Interface(), w.Field(i).Interface()))
		}
	}
	return strings.Join(diffs, "; ")
}

// diffWindow compares a snapshot's window with the modelled one: ids,
// offsets, kinds and fingerprints exactly, and the accepted flag, reason
// and version wherever the request has exactly one outcome.
func (c *checker) diffWindow(got []cart.RequestOutcome, want []*slot) string {
	if len(got) != len(want) {
		return fmt.Sprintf("request window holds %d entries, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if off := c.entryOffset(w); g.RequestID != w.rid || g.Offset != off || g.Kind != w.kind || g.Fingerprint != w.fp {
			return fmt.Sprintf("window entry %d is %s@%d (%s, %s), want %s@%d (%s, %s)", i, g.RequestID, g.Offset, g.Kind, g.Fingerprint, w.rid, off, w.kind, w.fp)
		}
		if w.outcomes() != 1 {
			continue
		}
		if len(w.validated) == 1 {
			ver := c.validated[w.validated[0]].Event.Meta().Version
			if !g.Accepted || g.CartVersion != ver {
				return fmt.Sprintf("window entry %d (%s@%d): accepted %t at version %d, want accepted at version %d", i, g.RequestID, g.Offset, g.Accepted, g.CartVersion, ver)
			}
			continue
		}
		reason := c.invalid[w.invalid[0]].Invalid.Rejection.Reason
		if g.Accepted || g.Reason != reason {
			return fmt.Sprintf("window entry %d (%s@%d): accepted %t reason %s, want rejected with %s", i, g.RequestID, g.Offset, g.Accepted, g.Reason, reason)
		}
	}
	return ""
}

// entryOffset is where a request's window entry sits: its own offset, or
// for a checkout that reserved stock the offset of the answer that
// decided it.
func (c *checker) entryOffset(s *slot) int64 {
	if s.kind == cart.KindCheckout {
		if off, ok := c.answered[cartKey{s.req.Partition, cart.CartID(s.req.Key)}][s.rid]; ok && off > s.req.Offset {
			return off
		}
	}
	return s.req.Offset
}

// decidedLater reports whether s is a checkout that reserved stock: decided
// when its last answer came, after the requests that arrived meanwhile
// (rejected CHECKOUT_IN_PROGRESS), so its outcome follows theirs.
func (c *checker) decidedLater(s *slot) bool { return c.entryOffset(s) != s.req.Offset }

// decidedOrder is the modelled window in the order the write side entered
// it: by entryOffset.
func (c *checker) decidedOrder(cd *cartData) []*slot {
	w := slices.Clone(cd.window)
	slices.SortStableFunc(w, func(a, b *slot) int { return cmp.Compare(c.entryOffset(a), c.entryOffset(b)) })
	return w
}

// checkMalformed matches undecodable requests with MALFORMED rejections by
// count per partition and key.
func (c *checker) checkMalformed() {
	keys := make([]malformedKey, 0, len(c.malformed))
	for k := range c.malformed {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b malformedKey) int {
		return cmp.Or(cmp.Compare(a.partition, b.partition), strings.Compare(a.key, b.key))
	})
	for _, k := range keys {
		g := c.malformed[k]
		if len(g.requests) == len(g.outcomes) {
			continue
		}
		v := Violation{Kind: KindMalformedCount, Partition: k.partition, RequestOffset: -1, Topic: c.names.Invalid, Offsets: g.outcomes,
			Detail: fmt.Sprintf("key %q: %d undecodable requests (offsets %v) but %d MALFORMED rejections", k.key, len(g.requests), g.requests, len(g.outcomes))}
		if id := cart.CartID(k.key); id.Validate() == nil {
			v.CartID = id
		}
		if len(g.requests) == 1 {
			v.RequestOffset = g.requests[0]
		}
		c.add(v)
	}
}

func (c *checker) summarize() {
	s := &c.report.Summary
	s.Requests = len(c.requests)
	s.Validated = len(c.validated)
	s.Invalid = len(c.invalid)
	for _, cd := range c.carts {
		if len(cd.slots) > 0 {
			s.Carts++
		}
		if cd.snapshot != nil {
			s.Snapshots++
		}
	}
	// Violations were added phase by phase; order them by place.
	slices.SortStableFunc(c.report.Violations, func(a, b Violation) int {
		return cmp.Or(
			cmp.Compare(a.Partition, b.Partition),
			strings.Compare(string(a.CartID), string(b.CartID)),
			cmp.Compare(a.RequestOffset, b.RequestOffset),
		)
	})
	s.Violations = map[Kind]int{}
	for _, v := range c.report.Violations {
		s.Violations[v.Kind]++
	}
	if c.report.Violations == nil {
		c.report.Violations = []Violation{}
	}
}
