package records

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/codec"
)

func TestRequestRoundTrip(t *testing.T) {
	c := newTestCodec(t)
	for _, cmd := range testCommands() {
		t.Run(cmd.EventType().String(), func(t *testing.T) {
			b, err := c.EncodeRequest(cmd)
			if err != nil {
				t.Fatalf("EncodeRequest: %v", err)
			}
			if fp := binary.LittleEndian.Uint64(b[2:10]); b[0] != 0xC3 || b[1] != 0x01 || fp != c.request.Fingerprint() {
				t.Fatalf("header % x does not name %s", b[:10], c.request)
			}
			got, err := c.DecodeRequest(b)
			if err != nil {
				t.Fatalf("DecodeRequest: %v", err)
			}
			if !reflect.DeepEqual(got, cmd) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got, cmd)
			}
			// A pointer to a command encodes the same bytes.
			var p cart.Command
			switch v := cmd.(type) {
			case cart.AddItem:
				p = &v
			case cart.RemoveItem:
				p = &v
			case cart.ChangeQuantity:
				p = &v
			case cart.Checkout:
				p = &v
			}
			if bp, err := c.EncodeRequest(p); err != nil || !bytes.Equal(bp, b) {
				t.Fatalf("pointer encodes differently: %v", err)
			}
			if any, err := c.DecodeAny(b); err != nil || !reflect.DeepEqual(any, cmd) {
				t.Fatalf("DecodeAny = %#v, %v", any, err)
			}
		})
	}
}

// TestTimesExact: the domain's times (wall clock, nanoseconds, UTC, no
// monotonic reading) survive a round trip bit for bit, at both ends of the
// representable range too.
func TestTimesExact(t *testing.T) {
	c := newTestCodec(t)
	times := []time.Time{
		time.Now().Round(0).UTC(),
		time.Unix(0, 1).UTC(),
		time.Unix(0, -1).UTC(), // before the epoch
		minNanoTime.UTC(),
		maxNanoTime.UTC(),
	}
	for _, tm := range times {
		cmd := cart.Checkout{CartID: "c", RequestID: "r", CustomerID: "u", RequestedAt: tm}
		b, err := c.EncodeRequest(cmd)
		if err != nil {
			t.Fatalf("%v: %v", tm, err)
		}
		got, err := c.DecodeRequest(b)
		if err != nil || !reflect.DeepEqual(got, cmd) {
			t.Fatalf("%v: got %#v, %v", tm, got, err)
		}
	}
	// Outside the nanosecond range: an error, never a wrapped value.
	for _, tm := range []time.Time{minNanoTime.Add(-1), maxNanoTime.Add(1), time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)} {
		cmd := cart.Checkout{CartID: "c", RequestID: "r", CustomerID: "u", RequestedAt: tm}
		if _, err := c.EncodeRequest(cmd); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%v encoded: %v", tm, err)
		}
	}
}

func TestEventRoundTrip(t *testing.T) {
	c := newTestCodec(t)
	for _, ev := range testEvents() {
		t.Run(ev.EventType().String(), func(t *testing.T) {
			b, err := c.EncodeValidated(ev)
			if err != nil {
				t.Fatalf("EncodeValidated: %v", err)
			}
			got, err := c.DecodeValidated(b)
			if err != nil {
				t.Fatalf("DecodeValidated: %v", err)
			}
			if !reflect.DeepEqual(got, ev) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got, ev)
			}
			if any, err := c.DecodeAny(b); err != nil || !reflect.DeepEqual(any, ev) {
				t.Fatalf("DecodeAny = %#v, %v", any, err)
			}
		})
	}
}

// TestFoldRoundTrip: events the domain decided, encoded and decoded, fold
// to the same cart as the originals.
func TestFoldRoundTrip(t *testing.T) {
	c := newTestCodec(t)
	cat := testCatalog(t, 3)
	var live, replayed cart.CartState
	cmds := []cart.Command{
		cart.AddItem{CartID: "c1", RequestID: "a", CustomerID: "u", RequestedAt: t0, SKU: "p0", Quantity: 2},
		cart.AddItem{CartID: "c1", RequestID: "b", CustomerID: "u", RequestedAt: at(1), SKU: "p1", Quantity: 1},
		cart.ChangeQuantity{CartID: "c1", RequestID: "c", RequestedAt: at(2), SKU: "p1", Quantity: 5},
		cart.RemoveItem{CartID: "c1", RequestID: "d", RequestedAt: at(3), SKU: "p0"},
		cart.Checkout{CartID: "c1", RequestID: "e", CustomerID: "u", RequestedAt: at(4)},
	}
	for i, cmd := range cmds {
		d := cart.Decide(live, cmd, cat, cart.Limits{}, time.Now())
		if !d.Accepted() {
			t.Fatalf("command %d rejected: %v", i, d.Rejection)
		}
		for _, ev := range d.Events {
			var err error
			if live, err = cart.Apply(live, ev); err != nil {
				t.Fatal(err)
			}
			b, err := c.EncodeValidated(ev)
			if err != nil {
				t.Fatal(err)
			}
			dev, err := c.DecodeValidated(b)
			if err != nil {
				t.Fatal(err)
			}
			if replayed, err = cart.Apply(replayed, dev); err != nil {
				t.Fatalf("replay: %v", err)
			}
		}
	}
	if !reflect.DeepEqual(live, replayed) {
		t.Fatalf("replayed cart differs:\n got %#v\nwant %#v", replayed, live)
	}
}

func TestInvalidRoundTrip(t *testing.T) {
	c := newTestCodec(t)
	cases := map[string]cart.InvalidRequest{
		"malformed": {
			DecidedAt: t0,
			Rejection: cart.Rejection{Reason: cart.ReasonMalformed, Message: "record could not be decoded: codec: bad magic"},
			Raw:       []byte{0, 1, 2, 0xC3, 0xff},
		},
		"malformed with key": {
			CartID: "cart-1", DecidedAt: t0,
			Rejection: cart.Rejection{Reason: cart.ReasonMalformed, Message: "x"},
			Raw:       []byte("{not avro}"),
		},
	}
	cmds := testCommands()
	for i, r := range cart.Reasons() {
		cmd := cmds[i%len(cmds)]
		inv := cart.NewInvalidRequest(cmd, cart.Rejection{Reason: r, Message: "because " + r.String()}, at(time.Duration(i)))
		cases[inv.EventType().String()+"/"+r.String()] = inv
	}
	for name, inv := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := c.EncodeInvalid(inv)
			if err != nil {
				t.Fatalf("EncodeInvalid: %v", err)
			}
			got, err := c.DecodeInvalid(b)
			if err != nil {
				t.Fatalf("DecodeInvalid: %v", err)
			}
			if !reflect.DeepEqual(got, inv) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got, inv)
			}
		})
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	c := newTestCodec(t)
	cases := map[string]cart.Snapshot{
		"new":                  cart.NewSnapshot("cart-1"),
		"full window":          buildSnapshot(t, 40, 3*cart.RequestWindowSize, false),
		"checked out":          buildSnapshot(t, 5, 20, true),
		"bench shape":          buildSnapshot(t, 5, 20, false),
		"max lines, full, out": buildSnapshot(t, 120, 200, true),
	}
	if n := len(cases["full window"].Window); n != cart.RequestWindowSize {
		t.Fatalf("fixture window holds %d", n)
	}
	if cases["checked out"].Cart.CheckedOutAt.IsZero() {
		t.Fatal("fixture not checked out")
	}
	for name, s := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := c.EncodeSnapshot(s)
			if err != nil {
				t.Fatalf("EncodeSnapshot: %v", err)
			}
			got, err := c.DecodeSnapshot(b)
			if err != nil {
				t.Fatalf("DecodeSnapshot: %v", err)
			}
			if !reflect.DeepEqual(got, s) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got, s)
			}
			t.Logf("%d lines, %d window entries: %d bytes", len(s.Cart.Lines), len(s.Window), len(b))
		})
	}
}

func TestProductRoundTrip(t *testing.T) {
	c := newTestCodec(t)
	for _, p := range []cart.Product{
		testProduct(),
		{SKU: "free", Name: "Sample", UnitPrice: cart.Money{Amount: 0, Currency: "JPY"}, Active: false},
	} {
		b, err := c.EncodeProduct(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.DecodeProduct(b)
		if err != nil || !reflect.DeepEqual(got, p) {
			t.Fatalf("got %#v, %v; want %#v", got, err, p)
		}
	}
}

// encodeAll returns one record of every type, by name.
func encodeAll(t *testing.T, c *Codec) map[string][]byte {
	t.Helper()
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	evs := testEvents()
	return map[string][]byte{
		"request":  must(c.EncodeRequest(testCommands()[0])),
		"event":    must(c.EncodeValidated(evs[0])),
		"checkout": must(c.EncodeValidated(evs[3])),
		"invalid":  must(c.EncodeInvalid(cart.InvalidRequest{DecidedAt: t0, Rejection: cart.Rejection{Reason: cart.ReasonMalformed}})),
		"snapshot": must(c.EncodeSnapshot(buildSnapshot(t, 2, 5, false))),
		"product":  must(c.EncodeProduct(testProduct())),
	}
}

// TestWrongType: every decoder refuses every other record type with
// ErrWrongType and no value.
func TestWrongType(t *testing.T) {
	c := newTestCodec(t)
	recs := encodeAll(t, c)
	decoders := map[string]func([]byte) (any, error){
		"request":  func(b []byte) (any, error) { return c.DecodeRequest(b) },
		"event":    func(b []byte) (any, error) { return c.DecodeValidated(b) },
		"checkout": func(b []byte) (any, error) { return c.DecodeValidated(b) },
		"invalid":  func(b []byte) (any, error) { return c.DecodeInvalid(b) },
		"snapshot": func(b []byte) (any, error) { return c.DecodeSnapshot(b) },
		"product":  func(b []byte) (any, error) { return c.DecodeProduct(b) },
	}
	isEvent := func(s string) bool { return s == "event" || s == "checkout" }
	for dn, decode := range decoders {
		for rn, b := range recs {
			if dn == rn || (isEvent(dn) && isEvent(rn)) {
				continue
			}
			v, err := decode(b)
			if !errors.Is(err, ErrWrongType) || !IsMalformed(err) {
				t.Errorf("decode %s as %s: %v", rn, dn, err)
			}
			if rv := reflect.ValueOf(v); rv.IsValid() && !rv.IsZero() {
				t.Errorf("decode %s as %s returned %#v with its error", rn, dn, v)
			}
		}
	}
}

// TestDecodeRefusesImpossibleValues: well-formed Avro that the domain
// refuses is malformed, with the domain's error kept.
func TestDecodeRefusesImpossibleValues(t *testing.T) {
	c := newTestCodec(t)
	request := func(quantity int32, customer any) []byte {
		b, err := c.format.Encode(c.request, map[string]any{
			"request_id": "r-1", "cart_id": "cart-1", "customer_id": customer,
			"requested_at": t0.UnixNano(),
			"command":      map[string]any{branchAddItem: map[string]any{"sku": "p0", "quantity": quantity}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for name, b := range map[string][]byte{
		"negative quantity": request(-1, map[string]any{"string": "u"}),
		"zero quantity":     request(0, map[string]any{"string": "u"}),
		"no customer":       request(1, nil),
		"bad customer id":   request(1, map[string]any{"string": "has space"}),
	} {
		cmd, err := c.DecodeRequest(b)
		if cmd != nil || !IsMalformed(err) || !errors.Is(err, ErrInvalid) || !cart.IsInvalidArgument(err) {
			t.Errorf("%s: %#v, %v", name, cmd, err)
		}
	}

	// A snapshot whose totals do not match its lines.
	s := buildSnapshot(t, 3, 5, false)
	s.Cart.Subtotal.Amount++
	b, err := c.EncodeSnapshot(s)
	if err != nil {
		t.Fatalf("EncodeSnapshot does not validate: %v", err)
	}
	if _, err := c.DecodeSnapshot(b); !IsMalformed(err) || !errors.Is(err, cart.ErrInvalidState) {
		t.Errorf("corrupt snapshot: %v", err)
	}

	// A product with a negative price, written by a foreign producer.
	b, err = c.format.Encode(c.product, map[string]any{
		"sku": "p0", "name": "x", "unit_price": map[string]any{"amount_minor": int64(-1), "currency": "EUR"},
		"active": true, "max_quantity_per_line": int32(0),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DecodeProduct(b); !IsMalformed(err) || !errors.Is(err, cart.ErrInvalidProduct) {
		t.Errorf("negative price: %v", err)
	}

	// A reason code from a newer writer: the schema resolves, the domain
	// cannot hold it.
	b, err = c.format.Encode(c.invalid, map[string]any{
		"cart_id": nil, "request_id": nil, "kind": "ADD_ITEM", "reason": "BACKORDERED", "message": "",
		"requested_at": nil, "decided_at": t0.UnixNano(), "raw": nil,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DecodeInvalid(b); !IsMalformed(err) || !errors.Is(err, cart.ErrUnknownName) {
		t.Errorf("unknown reason: %v", err)
	}
}

func TestDecodeGarbage(t *testing.T) {
	c := newTestCodec(t)
	recs := encodeAll(t, c)
	inputs := [][]byte{nil, {}, {0xC3}, {0xC3, 0x01}, []byte("hello, world"), bytes.Repeat([]byte{0xff}, 64)}
	for _, b := range recs {
		for _, n := range []int{10, 11, len(b) / 2, len(b) - 1} {
			inputs = append(inputs, b[:n])
		}
		inputs = append(inputs, append(bytes.Clone(b), 0))
	}
	for i, in := range inputs {
		for _, decode := range []func([]byte) error{
			func(b []byte) error { _, err := c.DecodeRequest(b); return err },
			func(b []byte) error { _, err := c.DecodeValidated(b); return err },
			func(b []byte) error { _, err := c.DecodeInvalid(b); return err },
			func(b []byte) error { _, err := c.DecodeSnapshot(b); return err },
			func(b []byte) error { _, err := c.DecodeProduct(b); return err },
			func(b []byte) error { _, err := c.DecodeAny(b); return err },
		} {
			if err := decode(in); err == nil || !IsMalformed(err) {
				t.Errorf("input %d (% x): err %v", i, in[:min(len(in), 12)], err)
			}
		}
	}
}

// TestEncodeRefuses: nil and zero values are errors, never panics.
func TestEncodeRefuses(t *testing.T) {
	c := newTestCodec(t)
	cmds := map[string]cart.Command{
		"nil":             nil,
		"nil pointer":     (*cart.AddItem)(nil),
		"zero AddItem":    cart.AddItem{},
		"zero Checkout":   cart.Checkout{},
		"zero quantity":   cart.ChangeQuantity{CartID: "c", RequestID: "r", RequestedAt: t0, SKU: "s"},
		"foreign command": foreignCommand{},
	}
	for name, cmd := range cmds {
		if b, err := c.EncodeRequest(cmd); err == nil || b != nil || !errors.Is(err, ErrInvalid) {
			t.Errorf("EncodeRequest(%s) = %x, %v", name, b, err)
		}
	}
	if _, err := c.EncodeRequest(cart.AddItem{}); !cart.IsInvalidArgument(err) || len(cart.FieldViolations(err)) == 0 {
		t.Errorf("violations lost: %v", err)
	}
	events := map[string]cart.Event{
		"nil":           nil,
		"nil pointer":   (*cart.CartCheckedOut)(nil),
		"zero AddItem":  cart.AddItemValidatedRequest{},
		"zero Checkout": cart.CartCheckedOut{},
		"zero Remove":   cart.RemoveItemValidatedRequest{},
	}
	for name, ev := range events {
		if b, err := c.EncodeValidated(ev); err == nil || b != nil || !errors.Is(err, ErrInvalid) {
			t.Errorf("EncodeValidated(%s) = %x, %v", name, b, err)
		}
	}
	if _, err := c.EncodeInvalid(cart.InvalidRequest{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("EncodeInvalid(zero): %v", err)
	}
	if _, err := c.EncodeInvalid(cart.InvalidRequest{DecidedAt: t0, Kind: 99}); !errors.Is(err, ErrInvalid) {
		t.Errorf("EncodeInvalid(bad kind): %v", err)
	}
	if _, err := c.EncodeInvalid(cart.InvalidRequest{DecidedAt: t0, Rejection: cart.Rejection{Reason: 200}}); !errors.Is(err, cart.ErrUnknownName) {
		t.Errorf("EncodeInvalid(bad reason): %v", err)
	}
	if _, err := c.EncodeProduct(cart.Product{}); !errors.Is(err, cart.ErrInvalidProduct) {
		t.Errorf("EncodeProduct(zero): %v", err)
	}
	s := buildSnapshot(t, 1, 2, false)
	s.Cart.Status = 7
	if _, err := c.EncodeSnapshot(s); !errors.Is(err, ErrInvalid) {
		t.Errorf("EncodeSnapshot(bad status): %v", err)
	}
	// The zero snapshot fits the schema and is valid.
	b, err := c.EncodeSnapshot(cart.Snapshot{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.DecodeSnapshot(b); err != nil || !reflect.DeepEqual(got, cart.Snapshot{}) {
		t.Fatalf("zero snapshot: %#v, %v", got, err)
	}
}

// foreignCommand satisfies cart.Command by embedding one; it is not one.
type foreignCommand struct{ cart.Checkout }

// TestConcurrentUse: one Codec shared by goroutines (run with -race).
func TestConcurrentUse(t *testing.T) {
	c := newTestCodec(t)
	snap := buildSnapshot(t, 5, 20, false)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for range 50 {
				b, err := c.EncodeSnapshot(snap)
				if err == nil {
					var got cart.Snapshot
					got, err = c.DecodeSnapshot(b)
					if err == nil && !reflect.DeepEqual(got, snap) {
						err = errors.New("snapshot changed")
					}
				}
				if err == nil {
					var b []byte
					if b, err = c.EncodeRequest(testCommands()[0]); err == nil {
						_, err = c.DecodeRequest(b)
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestConfig(t *testing.T) {
	if _, err := New(Config{MaxRecordBytes: -1}); err == nil {
		t.Fatal("negative MaxRecordBytes accepted")
	}
	c, err := New(Config{MaxRecordBytes: 64})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.EncodeSnapshot(buildSnapshot(t, 5, 20, false)); !errors.Is(err, codec.ErrTooLarge) {
		t.Fatalf("oversize snapshot: %v", err)
	}
	// newCodec refuses a set of current schemas that misses a type.
	if _, err := newCodec(Config{}, embeddedSchemas(t), currentSchemas(t)[1:]); err == nil {
		t.Fatal("missing current schema accepted")
	}
}

func TestHeaders(t *testing.T) {
	if HeaderRequestID != "request-id" || HeaderEventType != "event-type" || HeaderTraceparent != "traceparent" {
		t.Fatal("header names are part of the wire contract")
	}
}
