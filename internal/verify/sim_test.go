package verify_test

import (
	"errors"
	"hash/fnv"
	"testing"
	"time"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/verify"
)

// sim is a reference write side over in-memory topics: it does per request
// what validation's session does (decode, cart.Process, write the outcome
// and the snapshot), so its output is a consistent history that tests then
// damage on purpose.
type sim struct {
	tb         testing.TB
	catalog    cart.MapCatalog
	partitions int32
	clock      time.Time
	snaps      map[cart.CartID]cart.Snapshot
	next       map[string]map[int32]int64 // topic role -> partition -> next offset
	in         verify.Input
}

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func eur(a int64) cart.Money { return cart.Money{Amount: a, Currency: "EUR"} }

func newSim(tb testing.TB) *sim {
	tb.Helper()
	cat, err := cart.NewMapCatalog(
		cart.Product{SKU: "apple", Name: "Apple", UnitPrice: eur(100), Active: true},
		cart.Product{SKU: "pear", Name: "Pear", UnitPrice: eur(250), Active: true},
		cart.Product{SKU: "plum", Name: "Plum", UnitPrice: eur(50), Active: false},
	)
	if err != nil {
		tb.Fatalf("catalog: %v", err)
	}
	return &sim{tb: tb, catalog: cat, partitions: 3, clock: t0, snaps: map[cart.CartID]cart.Snapshot{}, next: map[string]map[int32]int64{}}
}

func (s *sim) partitionOf(key string) int32 {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int32(h.Sum32() % uint32(s.partitions))
}

func (s *sim) offset(topic string, p int32) int64 {
	if s.next[topic] == nil {
		s.next[topic] = map[int32]int64{}
	}
	o := s.next[topic][p]
	s.next[topic][p] = o + 1
	return o
}

func (s *sim) now() time.Time {
	s.clock = s.clock.Add(time.Millisecond)
	return s.clock
}

// send writes cmd to cart.requests and processes it; it returns the
// request's position.
func (s *sim) send(cmd cart.Command) verify.Position {
	s.tb.Helper()
	id := cmd.Meta().CartID
	p := s.partitionOf(string(id))
	pos := verify.Position{Partition: p, Offset: s.offset("requests", p)}
	s.in.Requests = append(s.in.Requests, verify.Request{Position: pos, Key: string(id), Command: cmd})
	snap, ok := s.snaps[id]
	if !ok {
		switch cmd.(type) {
		case cart.ExpireCart, cart.MergeReturned:
			return pos // the manager skips these for a cart it does not hold
		}
		snap = cart.NewSnapshot(id)
	}
	next, out := cart.Process(snap, cmd, pos.Offset, s.catalog, cart.Limits{}, s.now())
	var handOn []cart.Command
	switch out.Disposition {
	case cart.DispositionAccepted:
		for _, ev := range out.Events {
			s.in.Validated = append(s.in.Validated, verify.Validated{Position: verify.Position{Partition: p, Offset: s.offset("validated", p)}, Key: string(id), Event: ev})
			if m, ok := ev.(cart.CartMerged); ok {
				handOn = append(handOn, cart.MergeIntoOf(m))
			}
		}
	case cart.DispositionRejected:
		s.in.Invalid = append(s.in.Invalid, verify.Invalid{Position: verify.Position{Partition: p, Offset: s.offset("invalid", p)}, Key: string(id), Invalid: *out.Invalid})
		if into, ok := cmd.(cart.MergeInto); ok && out.Invalid.Rejection.Reason != cart.ReasonDuplicateRequest {
			handOn = append(handOn, cart.MergeReturnedOf(into, out.Invalid.Rejection, s.now()))
		}
	case cart.DispositionDuplicate:
	default:
		s.tb.Fatalf("unexpected disposition %v", out.Disposition)
	}
	if next.Cart.CartID == "" { // expired: a tombstone
		delete(s.snaps, id)
		s.in.State = append(s.in.State, verify.State{Position: verify.Position{Partition: p, Offset: s.offset("state", p)}, Key: string(id), Tombstone: true})
		return pos
	}
	s.snaps[id] = next
	s.in.State = append(s.in.State, verify.State{Position: verify.Position{Partition: p, Offset: s.offset("state", p)}, Key: string(id), Snapshot: next})
	for _, c := range handOn {
		s.send(c)
	}
	return pos
}

// garbage writes an undecodable record under key and its MALFORMED
// rejection, keyed as the write side keys it: by the key only when that is
// a cart id.
func (s *sim) garbage(key string) verify.Position {
	p := s.partitionOf(key)
	pos := verify.Position{Partition: p, Offset: s.offset("requests", p)}
	s.in.Requests = append(s.in.Requests, verify.Request{Position: pos, Key: key, DecodeErr: errors.New("not avro")})
	inv := cart.InvalidRequest{DecidedAt: s.now(), Rejection: cart.Rejection{Reason: cart.ReasonMalformed, Message: "record could not be decoded"}, Raw: []byte{0xff}}
	if id := cart.CartID(key); id.Validate() == nil {
		inv.CartID = id
	}
	s.in.Invalid = append(s.in.Invalid, verify.Invalid{Position: verify.Position{Partition: p, Offset: s.offset("invalid", p)}, Key: string(inv.CartID), Invalid: inv})
	return pos
}

// appendValidated appends a copy of the validated record i at the end of
// its partition, as a zombie producer would.
func (s *sim) appendValidated(i int) {
	v := s.in.Validated[i]
	v.Offset = s.offset("validated", v.Partition)
	s.in.Validated = append(s.in.Validated, v)
}

func (s *sim) appendInvalid(inv cart.InvalidRequest, key string) {
	p := s.partitionOf(key)
	s.in.Invalid = append(s.in.Invalid, verify.Invalid{Position: verify.Position{Partition: p, Offset: s.offset("invalid", p)}, Key: key, Invalid: inv})
}

func (s *sim) validatedOf(id cart.RequestID) int {
	s.tb.Helper()
	for i, v := range s.in.Validated {
		if v.Event.Meta().RequestID == id {
			return i
		}
	}
	s.tb.Fatalf("no validated event for request %s", id)
	return -1
}

func (s *sim) invalidOf(id cart.RequestID) int {
	s.tb.Helper()
	for i, v := range s.in.Invalid {
		if v.Invalid.RequestID == id && v.Invalid.Kind.Valid() {
			return i
		}
	}
	s.tb.Fatalf("no rejection for request %s", id)
	return -1
}

// latestState returns the index of the cart's last snapshot record.
func (s *sim) latestState(id cart.CartID) int {
	s.tb.Helper()
	for i := len(s.in.State) - 1; i >= 0; i-- {
		if s.in.State[i].Key == string(id) {
			return i
		}
	}
	s.tb.Fatalf("no snapshot of cart %s", id)
	return -1
}

func removeAt[T any](xs []T, i int) []T { return append(xs[:i:i], xs[i+1:]...) }

// Command builders.

func add(c cart.CartID, r cart.RequestID, sku cart.SKU, q int32) cart.AddItem {
	return cart.AddItem{CartID: c, RequestID: r, CustomerID: "u-" + cart.CustomerID(c), RequestedAt: t0, SKU: sku, Quantity: q}
}

func change(c cart.CartID, r cart.RequestID, sku cart.SKU, q int32) cart.ChangeQuantity {
	return cart.ChangeQuantity{CartID: c, RequestID: r, RequestedAt: t0, SKU: sku, Quantity: q}
}

func remove(c cart.CartID, r cart.RequestID, sku cart.SKU) cart.RemoveItem {
	return cart.RemoveItem{CartID: c, RequestID: r, RequestedAt: t0, SKU: sku}
}

func checkout(c cart.CartID, r cart.RequestID) cart.Checkout {
	return cart.Checkout{CartID: c, RequestID: r, CustomerID: "u-" + cart.CustomerID(c), RequestedAt: t0}
}

// nopDecoder satisfies verify.Decoder for configuration tests.
type nopDecoder struct{}

func (nopDecoder) DecodeRequest([]byte) (cart.Command, error) { return nil, errors.New("nop") }
func (nopDecoder) DecodeValidated([]byte) (cart.Event, error) { return nil, errors.New("nop") }
func (nopDecoder) DecodeInvalid([]byte) (cart.InvalidRequest, error) {
	return cart.InvalidRequest{}, errors.New("nop")
}
func (nopDecoder) DecodeSnapshot([]byte) (cart.Snapshot, error) {
	return cart.Snapshot{}, errors.New("nop")
}
func (nopDecoder) DecodeOrder([]byte) (cart.OrderPlaced, error) {
	return cart.OrderPlaced{}, errors.New("nop")
}
