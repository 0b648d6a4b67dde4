package records

import (
	"reflect"
	"testing"
	"time"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/codec"
)

// v1Era builds the Codec of the code before the cart lifecycle (it writes
// cart_request, cart_snapshot and invalid_request v1) that was shipped the
// v2 schemas, as every reader is before a writer uses them.
func v1Era(t *testing.T) *Codec {
	t.Helper()
	all := embeddedSchemas(t)
	cur := currentSchemas(t)
	for i, s := range cur {
		switch s.FullName() {
		case nameRequest:
			cur[i] = parseFile(t, embedded.ReadFile, "schemas/cart_request.v1.avsc")
		case nameSnapshot:
			cur[i] = parseFile(t, embedded.ReadFile, "schemas/cart_snapshot.v1.avsc")
		case nameInvalid:
			cur[i] = parseFile(t, embedded.ReadFile, "schemas/invalid_request.v1.avsc")
		}
	}
	c, err := newCodec(Config{}, all, cur)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var lt0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

// Issue 14 item 4: cart_request v2 appends the lifecycle's branches. Old
// records read as before; the old branches written by v2 read in old code;
// the new branches are unreadable there (so managers upgrade first).
func TestEvolutionRequestV2(t *testing.T) {
	old, cur := v1Era(t), newTestCodec(t)
	add := cart.AddItem{CartID: "c1", RequestID: "r1", CustomerID: "u1", RequestedAt: lt0, SKU: "s1", Quantity: 2}
	b1, err := old.EncodeRequest(add)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := cur.DecodeRequest(b1); err != nil || !reflect.DeepEqual(got, cart.Command(add)) {
		t.Fatalf("v1 AddItem read by v2 code: %#v, %v", got, err)
	}
	b2, err := cur.EncodeRequest(add)
	if err != nil {
		t.Fatal(err)
	}
	if writerFP(b2) != cur.request.Fingerprint() || writerFP(b1) == writerFP(b2) {
		t.Fatal("writers did not write their own versions")
	}
	if got, err := old.DecodeRequest(b2); err != nil || !reflect.DeepEqual(got, cart.Command(add)) {
		t.Fatalf("v2 AddItem read by v1 code: %#v, %v", got, err)
	}
	for _, cmd := range lifecycleCommands() {
		b, err := cur.EncodeRequest(cmd)
		if err != nil {
			t.Fatalf("%T: %v", cmd, err)
		}
		got, err := cur.DecodeRequest(b)
		if err != nil || !reflect.DeepEqual(got, cmd) {
			t.Fatalf("%T round trip: %#v, %v", cmd, got, err)
		}
		if ref, err := cur.decodeRequestReference(b); err != nil || !reflect.DeepEqual(ref, cmd) {
			t.Fatalf("%T reference: %#v, %v", cmd, ref, err)
		}
		if _, err := old.DecodeRequest(b); !IsMalformed(err) {
			t.Fatalf("%T read by v1 code: %v, want a malformed record", cmd, err)
		}
	}
}

func lifecycleCommands() []cart.Command {
	return []cart.Command{
		cart.ClearCart{CartID: "c1", RequestID: "r2", CustomerID: "u1", RequestedAt: lt0},
		cart.ExpireCart{CartID: "c1", RequestID: "expire-v3", RequestedAt: lt0, IdleSince: lt0.Add(-time.Hour), TTL: 30 * time.Second},
		cart.MergeCarts{CartID: "g1", RequestID: "r3", CustomerID: "u1", RequestedAt: lt0, TargetCartID: "c1"},
		cart.MergeInto{CartID: "c1", RequestID: cart.MergeIntoRequestID("g1", "r3", lt0), CustomerID: "u1", RequestedAt: lt0, SourceCartID: "g1",
			Lines: []cart.Line{{SKU: "s1", Name: "One", UnitPrice: cart.Money{Amount: 100, Currency: "EUR"}, Quantity: 3}}},
		cart.MergeReturned{CartID: "g1", RequestID: cart.MergeReturnedRequestID("c1", "merge-x"), RequestedAt: lt0, TargetCartID: "c1",
			Lines: []cart.Line{{SKU: "s1", Name: "One", UnitPrice: cart.Money{Amount: 100, Currency: "EUR"}, Quantity: 3}}, Reason: cart.ReasonCartCheckedOut},
	}
}

// The lifecycle's events round-trip through their own schemas.
func TestLifecycleEventsRoundTrip(t *testing.T) {
	c := newTestCodec(t)
	lines := []cart.Line{{SKU: "s1", Name: "One", UnitPrice: cart.Money{Amount: 100, Currency: "EUR"}, Quantity: 3}}
	for _, ev := range []cart.Event{
		cart.CartCleared{CartID: "c1", RequestID: "r1", Version: 3, RequestedAt: lt0, DecidedAt: lt0, CustomerID: "u1"},
		cart.CartExpired{CartID: "c1", RequestID: "expire-v3", Version: 4, RequestedAt: lt0, DecidedAt: lt0, IdleSince: lt0.Add(-time.Hour)},
		cart.CartMerged{CartID: "g1", RequestID: "r3", Version: 2, RequestedAt: lt0, DecidedAt: lt0, CustomerID: "u1", TargetCartID: "c1", Lines: lines},
		cart.CartMergedInto{CartID: "c1", RequestID: "merge-x", Version: 5, RequestedAt: lt0, DecidedAt: lt0, CustomerID: "u1",
			SourceCartID: "g1", Lines: lines, Dropped: []cart.SKU{"s2"}},
		cart.CartMergeReturned{CartID: "g1", RequestID: "return-x", Version: 3, RequestedAt: lt0, DecidedAt: lt0, TargetCartID: "c1",
			Lines: lines, Reason: cart.ReasonCustomerMismatch},
	} {
		b, err := c.EncodeValidated(ev)
		if err != nil {
			t.Fatalf("%T: %v", ev, err)
		}
		got, err := c.DecodeValidated(b)
		if err != nil || !reflect.DeepEqual(got, ev) {
			t.Fatalf("%T: %#v, %v", ev, got, err)
		}
		if any, err := c.DecodeAny(b); err != nil || !reflect.DeepEqual(any, ev) {
			t.Fatalf("%T DecodeAny: %#v, %v", ev, any, err)
		}
	}
}

// cart_snapshot v2 adds MERGED, the lifecycle's request kinds and
// merged_into: a v1 snapshot reads in v2 code (merged_into null); a v2
// snapshot of an open cart reads in v1 code; a MERGED one does not (the
// status has no default on purpose), and the manager quarantines it.
func TestEvolutionSnapshotV2(t *testing.T) {
	old, cur := v1Era(t), newTestCodec(t)
	snap := cart.NewSnapshot("c1")
	snap, _ = cart.Process(snap, cart.AddItem{CartID: "c1", RequestID: "r1", CustomerID: "u1", RequestedAt: lt0, SKU: "s1", Quantity: 1}, 0,
		cart.MapCatalog{"s1": {SKU: "s1", Name: "One", UnitPrice: cart.Money{Amount: 100, Currency: "EUR"}, Active: true}}, cart.Limits{}, lt0)
	b1, err := old.EncodeSnapshot(snap)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := cur.DecodeSnapshot(b1); err != nil || !reflect.DeepEqual(got, snap) {
		t.Fatalf("v1 snapshot read by v2 code: %+v, %v", got, err)
	}
	b2, err := cur.EncodeSnapshot(snap)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := old.DecodeSnapshot(b2); err != nil || !reflect.DeepEqual(got, snap) {
		t.Fatalf("v2 snapshot read by v1 code: %+v, %v", got, err)
	}
	merged, _ := cart.Process(snap, cart.MergeCarts{CartID: "c1", RequestID: "r2", CustomerID: "u2", RequestedAt: lt0, TargetCartID: "c2"}, 1, nil, cart.Limits{}, lt0)
	if merged.Cart.Status != cart.StatusMerged {
		t.Fatalf("not merged: %+v", merged.Cart)
	}
	bm, err := cur.EncodeSnapshot(merged)
	if err != nil {
		t.Fatal(err)
	}
	got, err := cur.DecodeSnapshot(bm)
	if err != nil || !reflect.DeepEqual(got, merged) {
		t.Fatalf("merged snapshot: %+v, %v", got, err)
	}
	native, err := codec.DecodeAs(cur.format, cur.reg, bm, cur.snapshot)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := cur.snapshotFrom(cur.snapshot, native)
	if err != nil || !reflect.DeepEqual(ref, merged) {
		t.Fatalf("reference decode of the fast encoding: %+v, %v", ref, err)
	}
	if _, err := old.DecodeSnapshot(bm); !IsMalformed(err) {
		t.Fatalf("MERGED read by v1 code: %v, want malformed", err)
	}
}

// invalid_request v2: a lifecycle rejection reads in v1 code with kind
// UNKNOWN (the enum's default), not as an error.
func TestEvolutionInvalidV2(t *testing.T) {
	old, cur := v1Era(t), newTestCodec(t)
	inv := cart.NewInvalidRequest(lifecycleCommands()[0], cart.Rejection{Reason: cart.ReasonEmptyCart, Message: "cart is empty"}, lt0)
	b, err := cur.EncodeInvalid(inv)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := cur.DecodeInvalid(b); err != nil || !reflect.DeepEqual(got, inv) {
		t.Fatalf("v2 round trip: %+v, %v", got, err)
	}
	got, err := old.DecodeInvalid(b)
	if err != nil || got.Kind != cart.KindUnspecified || got.RequestID != inv.RequestID {
		t.Fatalf("v2 rejection read by v1 code: %+v, %v", got, err)
	}
}
