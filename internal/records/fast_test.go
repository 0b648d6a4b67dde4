package records

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/codec"
)

// The hand-written encoders and decoders (fastenc.go, fastdec.go) against
// the goavro reference: same bytes, same errors, same values.

// TestFastSchemasPinned: the fast paths are written for one version of
// each schema. If this fails, a current .avsc changed: update fastenc.go
// and fastdec.go (field order, types, enum symbols) to the new schema,
// make the equivalence tests and fuzz targets pass, then update the
// fingerprint here and in fastenc.go. Until then the Codec silently uses
// the goavro path for that record type.
func TestFastSchemasPinned(t *testing.T) {
	c := newTestCodec(t)
	for _, p := range []struct {
		s    *codec.Schema
		want uint64
	}{
		{c.request, fastRequestFP},
		{c.addItem, fastAddItemFP},
		{c.removeItem, fastRemoveItemFP},
		{c.changeQuantity, fastChangeQuantityFP},
		{c.checkedOut, fastCheckedOutFP},
		{c.invalid, fastInvalidFP},
		{c.snapshot, fastSnapshotFP},
		{c.product, fastProductFP},
	} {
		if got := p.s.Fingerprint(); got != p.want {
			t.Errorf("%s: the hand-written codec is for fingerprint %#016x, the current schema is %#016x: "+
				"update fastenc.go/fastdec.go to the schema, then the pinned fingerprint", p.s.FullName(), p.want, got)
		}
	}
	want := fastPaths{true, true, true, true, true, true, true, true}
	if c.fast != want {
		t.Errorf("fast paths %+v, want all", c.fast)
	}
	// The enum symbols the fast code writes by index are the schema's.
	for _, e := range []struct {
		s       *codec.Schema
		field   string
		symbols []string
	}{
		{c.snapshot, `"name": "CartStatus"`, cartStatusSymbols[:]},
		{c.snapshot, `"name": "RequestKind"`, requestKindSymbols[:]},
		{c.invalid, `"name": "RequestKind"`, requestKindSymbols[:]},
	} {
		quoted := make([]string, len(e.symbols))
		for i, s := range e.symbols {
			quoted[i] = fmt.Sprintf("%q", s)
		}
		if !strings.Contains(e.s.Canonical(), `"symbols":[`+strings.Join(quoted, ",")+`]`) {
			t.Errorf("%s: symbols %v not in %s", e.s, e.symbols, e.s.Canonical())
		}
	}
}

// TestFastPathsOffForOtherVersions: a Codec pinned to another version of
// a record type uses goavro for it.
func TestFastPathsOffForOtherVersions(t *testing.T) {
	_, _, _, _, newReader := evolution(t, "testdata/evolution/cart_snapshot.v2.avsc")
	if newReader.fast.snapshot || !newReader.fast.request {
		t.Fatalf("fast paths %+v with snapshot v2 current", newReader.fast)
	}
	_, _, _, _, newReader = evolution(t, "testdata/evolution/product.v2.avsc")
	if newReader.fast.product || !newReader.fast.invalid {
		t.Fatalf("fast paths %+v with product v2 current", newReader.fast)
	}
}

// sameEncoding fails unless fast and reference give the same bytes, or
// errors with the same text, and a fast result is allocated at its size.
func sameEncoding(t *testing.T, what string, fast, ref []byte, fastErr, refErr error) {
	t.Helper()
	if (fastErr == nil) != (refErr == nil) || (fastErr != nil && fastErr.Error() != refErr.Error()) {
		t.Fatalf("%s: fast error %v, reference error %v", what, fastErr, refErr)
	}
	if !bytes.Equal(fast, ref) {
		t.Fatalf("%s: bytes differ\nfast % x\n ref % x", what, fast, ref)
	}
	if fastErr == nil && cap(fast) != len(fast) {
		t.Fatalf("%s: %d bytes in a buffer of %d: size pass is off", what, len(fast), cap(fast))
	}
}

func checkSnapshot(t *testing.T, c *Codec, name string, s cart.Snapshot) {
	t.Helper()
	fast, fastErr := c.EncodeSnapshot(s)
	ref, refErr := c.encodeSnapshotReference(s)
	sameEncoding(t, name, fast, ref, fastErr, refErr)
	if fastErr != nil {
		return
	}
	// And the decoders agree on it.
	got, err := c.DecodeSnapshot(fast)
	want, wantErr := c.decodeSnapshotReference(fast)
	sameDecoding(t, name, got, want, err, wantErr)
}

func checkEvent(t *testing.T, c *Codec, name string, ev cart.Event) {
	t.Helper()
	fast, fastErr := c.EncodeValidated(ev)
	v, ok := eventValue(ev)
	if !ok { // refused before either path is taken
		if fastErr == nil || !errors.Is(fastErr, ErrInvalid) {
			t.Fatalf("%s: %T encoded: %v", name, ev, fastErr)
		}
		return
	}
	ref, refErr := c.encodeValidatedReference(v)
	sameEncoding(t, name, fast, ref, fastErr, refErr)
}

func checkInvalid(t *testing.T, c *Codec, name string, inv cart.InvalidRequest) {
	t.Helper()
	fast, fastErr := c.EncodeInvalid(inv)
	ref, refErr := c.encodeInvalidReference(inv)
	sameEncoding(t, name, fast, ref, fastErr, refErr)
}

func TestFastEncodeSnapshot(t *testing.T) {
	c := newTestCodec(t)
	unicode := buildSnapshot(t, 3, 10, false)
	unicode.Cart.Lines[1].Name = "Crème brûlée 🍮 — «größer» 東京"
	unicode.Window[2].Message = strings.Repeat("ü", 100) // a two-byte length prefix
	long := buildSnapshot(t, 2, 4, false)
	long.Cart.Lines[0].Name = strings.Repeat("x", 70_000) // a three-byte length prefix
	extremes := buildSnapshot(t, 2, 6, false)
	extremes.Cart.Lines[0].Quantity = math.MaxInt32
	extremes.Cart.Lines[1].Quantity = math.MinInt32
	extremes.Cart.Lines[0].UnitPrice.Amount = math.MinInt64
	extremes.Cart.Subtotal.Amount = math.MaxInt64
	extremes.Cart.ItemCount, extremes.RequestOffset = -1, math.MaxInt64
	extremes.Window[0].Fingerprint = math.MaxUint64
	extremes.Window[1].Fingerprint = 0
	extremes.Window[2].CartVersion = math.MinInt64
	extremes.Cart.UpdatedAt = minNanoTime
	extremes.Cart.CheckedOutAt = maxNanoTime
	emptySlices := cart.NewSnapshot("c")
	emptySlices.Cart.Lines, emptySlices.Window = []cart.Line{}, []cart.RequestOutcome{}
	bigWindow := buildSnapshot(t, 5, 200, false) // the window holds RequestWindowSize
	overfull := buildSnapshot(t, 1, 10, false)
	for len(overfull.Window) <= 2*cart.RequestWindowSize { // more than a reader accepts
		overfull.Window = append(overfull.Window, overfull.Window...)
	}
	emptyStrings := buildSnapshot(t, 1, 3, false)
	emptyStrings.Cart.CartID, emptyStrings.Cart.Lines[0].Name, emptyStrings.Window[0].Message = "", "", ""
	emptyStrings.Cart.Currency, emptyStrings.Cart.CustomerID = "", ""
	onlyChecked := buildSnapshot(t, 1, 2, true)
	onlyChecked.Cart.UpdatedAt = time.Time{}
	notUTC := buildSnapshot(t, 1, 2, false)
	notUTC.Cart.UpdatedAt = notUTC.Cart.UpdatedAt.In(time.FixedZone("X", 3600))

	cases := map[string]cart.Snapshot{
		"zero":          {},
		"new":           cart.NewSnapshot("cart-1"),
		"empty slices":  emptySlices,
		"one line":      buildSnapshot(t, 1, 1, false),
		"typical":       buildSnapshot(t, 5, 20, false),
		"checked out":   buildSnapshot(t, 3, 9, true),
		"many lines":    buildSnapshot(t, 120, 130, false),
		"full window":   bigWindow,
		"overfull":      overfull,
		"unicode":       unicode,
		"long string":   long,
		"extremes":      extremes,
		"empty strings": emptyStrings,
		"zero updated":  onlyChecked,
		"not UTC":       notUTC,
	}
	// Values the schema cannot hold take the reference path and fail there.
	bad := func(f func(*cart.Snapshot)) cart.Snapshot {
		s := buildSnapshot(t, 2, 5, false)
		f(&s)
		return s
	}
	cases["bad status"] = bad(func(s *cart.Snapshot) { s.Cart.Status = 7 })
	cases["bad kind"] = bad(func(s *cart.Snapshot) { s.Window[3].Kind = 200 })
	cases["bad reason"] = bad(func(s *cart.Snapshot) { s.Window[1].Reason = 99 })
	cases["time too early"] = bad(func(s *cart.Snapshot) { s.Cart.UpdatedAt = minNanoTime.Add(-1) })
	cases["time too late"] = bad(func(s *cart.Snapshot) { s.Cart.CheckedOutAt = maxNanoTime.Add(1) })
	cases["two problems"] = bad(func(s *cart.Snapshot) { s.Window[4].Reason, s.Cart.Status = 99, 3 })
	for name, s := range cases {
		t.Run(name, func(t *testing.T) { checkSnapshot(t, c, name, s) })
	}

	// Over the size limit: the same error from both paths.
	small, err := New(Config{MaxRecordBytes: 200})
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, small, "too large", buildSnapshot(t, 5, 20, false))
}

func TestFastEncodeEvents(t *testing.T) {
	c := newTestCodec(t)
	evs := testEvents()
	add := evs[0].(cart.AddItemValidatedRequest)
	add.Name, add.Quantity, add.UnitPrice.Amount = "Ωmega 🛒", math.MinInt32, math.MaxInt64
	checked := evs[3].(cart.CartCheckedOut)
	checked.Lines = []cart.Line{}
	zeroTime := evs[1].(cart.RemoveItemValidatedRequest)
	zeroTime.DecidedAt = time.Time{}
	late := evs[2].(cart.ChangeQuantityValidatedRequest)
	late.RequestedAt = maxNanoTime.Add(1)
	p := evs[0].(cart.AddItemValidatedRequest)
	cases := map[string]cart.Event{
		"unicode add":      add,
		"no lines":         checked,
		"zero time":        zeroTime,
		"late time":        late,
		"pointer":          &p,
		"zero add":         cart.AddItemValidatedRequest{},
		"zero checked out": cart.CartCheckedOut{},
		"nil":              nil,
	}
	for i, ev := range evs {
		cases[fmt.Sprint(i)] = ev
	}
	for name, ev := range cases {
		t.Run(name, func(t *testing.T) { checkEvent(t, c, name, ev) })
	}
}

func TestFastEncodeInvalid(t *testing.T) {
	c := newTestCodec(t)
	base := cart.NewInvalidRequest(testCommands()[0], cart.Rejection{Reason: cart.ReasonUnknownSKU, Message: "unknown sku p0"}, t0)
	cases := map[string]cart.InvalidRequest{
		"typical":    base,
		"malformed":  {Kind: cart.KindUnspecified, DecidedAt: t0, Rejection: cart.Rejection{Reason: cart.ReasonMalformed, Message: "bad bytes"}, Raw: []byte{0xC3, 0, 0xff}},
		"empty raw":  {DecidedAt: t0, Raw: []byte{}},
		"zero":       {},
		"bad kind":   {DecidedAt: t0, Kind: 99},
		"bad reason": {DecidedAt: t0, Rejection: cart.Rejection{Reason: 200}},
		"late":       {DecidedAt: t0, RequestedAt: maxNanoTime.Add(1)},
		"no reason":  {DecidedAt: t0, CartID: "c", RequestID: "r"},
	}
	for _, r := range cart.Reasons() {
		inv := base
		inv.Rejection.Reason = r
		cases[r.String()] = inv
	}
	for k := range cart.Kind(6) {
		inv := base
		inv.Kind = k
		cases[k.String()] = inv
	}
	for name, inv := range cases {
		t.Run(name, func(t *testing.T) { checkInvalid(t, c, name, inv) })
	}
}

// fuzzBytes hands out fuzz input; past the end it returns zeros.
type fuzzBytes []byte

func (b *fuzzBytes) byte() byte {
	if len(*b) == 0 {
		return 0
	}
	v := (*b)[0]
	*b = (*b)[1:]
	return v
}

func (b *fuzzBytes) u64() uint64 {
	var v uint64
	for range 8 {
		v = v<<8 | uint64(b.byte())
	}
	return v
}

// str returns a short string: ASCII, multi-byte UTF-8, invalid UTF-8, or
// empty.
func (b *fuzzBytes) str() string {
	n := int(b.byte() % 12)
	switch b.byte() % 4 {
	case 0:
		return ""
	case 1:
		return strings.Repeat("é", n)
	case 2:
		return string([]byte{0xff, b.byte()})
	}
	return fmt.Sprintf("id-%d", n)
}

func (b *fuzzBytes) time() time.Time {
	switch b.byte() % 4 {
	case 0:
		return time.Time{}
	case 1:
		return time.Unix(0, int64(b.u64())).UTC()
	case 2: // possibly outside the nanosecond range
		return time.Unix(int64(b.u64())>>20, 0)
	}
	return t0.Add(time.Duration(b.byte()))
}

// processSnapshot folds commands read from b through cart.Process, the way
// the manager builds snapshots, and returns the snapshot with the events
// and rejections written on the way.
func processSnapshot(tb testing.TB, b *fuzzBytes) (cart.Snapshot, []cart.Event, []cart.InvalidRequest) {
	cat := testCatalog(tb, 4)
	skus := []cart.SKU{"p0", "p1", "p2", "p3", "bagel", "nope"}
	snap := cart.NewSnapshot("cart-1")
	var evs []cart.Event
	var invs []cart.InvalidRequest
	offset := int64(0)
	for range int(b.byte()) {
		op, x := b.byte(), b.byte()
		offset += int64(op>>6) + 1
		id := cart.RequestID(fmt.Sprintf("r%d", x%80))
		sku := skus[int(x)%len(skus)]
		at := t0.Add(time.Duration(offset) * time.Millisecond)
		q := int32(int8(b.byte()))
		var cmd cart.Command
		switch op % 5 {
		case 0, 1:
			cmd = cart.AddItem{CartID: "cart-1", RequestID: id, CustomerID: "cust-9", RequestedAt: at, SKU: sku, Quantity: q}
		case 2:
			cmd = cart.ChangeQuantity{CartID: "cart-1", RequestID: id, RequestedAt: at, SKU: sku, Quantity: q}
		case 3:
			cmd = cart.RemoveItem{CartID: "cart-1", RequestID: id, RequestedAt: at, SKU: sku}
		case 4:
			cmd = cart.Checkout{CartID: "cart-1", RequestID: id, CustomerID: "cust-9", RequestedAt: at}
		}
		var out cart.Outcome
		snap, out = cart.Process(snap, cmd, offset, cat, cart.Limits{MaxLines: 3}, at.Add(time.Microsecond))
		evs = append(evs, out.Events...)
		if out.Invalid != nil {
			invs = append(invs, *out.Invalid)
		}
	}
	return snap, evs, invs
}

// rawSnapshot builds a snapshot field by field from b, valid or not.
func rawSnapshot(b *fuzzBytes) cart.Snapshot {
	s := cart.Snapshot{RequestOffset: int64(b.u64())}
	st := &s.Cart
	st.CartID, st.CustomerID, st.Currency = cart.CartID(b.str()), cart.CustomerID(b.str()), cart.Currency(b.str())
	st.Status = cart.Status(b.byte() % 3)
	st.ItemCount, st.Version = int64(b.u64()), int64(b.byte())
	st.Subtotal = cart.Money{Amount: int64(b.u64()), Currency: cart.Currency(b.str())}
	st.UpdatedAt, st.CheckedOutAt = b.time(), b.time()
	if n := int(b.byte() % 8); n > 0 || b.byte()%2 == 0 {
		st.Lines = make([]cart.Line, n)
	}
	for i := range st.Lines {
		st.Lines[i] = cart.Line{SKU: cart.SKU(b.str()), Name: b.str(),
			UnitPrice: cart.Money{Amount: int64(b.u64()), Currency: cart.Currency(b.str())}, Quantity: int32(b.u64())}
	}
	if n := int(b.byte() % 8); n > 0 || b.byte()%2 == 0 {
		s.Window = make([]cart.RequestOutcome, n)
	}
	for i := range s.Window {
		s.Window[i] = cart.RequestOutcome{RequestID: cart.RequestID(b.str()), Offset: int64(b.u64()),
			Kind: cart.Kind(b.byte() % 6), Accepted: b.byte()%2 == 0, Reason: cart.Reason(b.byte() % 18),
			Message: b.str(), Fingerprint: cart.Fingerprint(b.u64()), CartVersion: int64(b.u64())}
	}
	return s
}

// FuzzEncodeEquivalent: for snapshots folded through cart.Process (with
// the events and rejections on the way) and for snapshots built field by
// field (valid or not, representable or not), the fast encoders write the
// reference's bytes or fail with its error. The seed corpus is under
// testdata/fuzz/FuzzEncodeEquivalent.
func FuzzEncodeEquivalent(f *testing.F) {
	c := newTestCodec(f)
	f.Add([]byte{0})
	f.Add([]byte{1})
	f.Add(append([]byte{0, 60}, bytes.Repeat([]byte{0x05, 0x11, 0x02, 0x40, 0x23, 0x03, 0x82, 0x17, 0x01}, 20)...))
	f.Add(bytes.Repeat([]byte{0x81, 0x7f, 0x00, 0xff}, 40))
	f.Fuzz(func(t *testing.T, in []byte) {
		b := fuzzBytes(in)
		if b.byte()%2 == 0 {
			snap, evs, invs := processSnapshot(t, &b)
			checkSnapshot(t, c, "processed", snap)
			for i, ev := range evs {
				checkEvent(t, c, fmt.Sprintf("event %d", i), ev)
			}
			for i, inv := range invs {
				checkInvalid(t, c, fmt.Sprintf("invalid %d", i), inv)
			}
			return
		}
		checkSnapshot(t, c, "raw", rawSnapshot(&b))
		checkInvalid(t, c, "raw invalid", cart.InvalidRequest{
			CartID: cart.CartID(b.str()), RequestID: cart.RequestID(b.str()), Kind: cart.Kind(b.byte() % 6),
			RequestedAt: b.time(), DecidedAt: b.time(),
			Rejection: cart.Rejection{Reason: cart.Reason(b.byte() % 18), Message: b.str()}, Raw: []byte(b.str()),
		})
	})
}

// errClass names the sentinels an error wraps, to compare two paths'
// errors by identity rather than by text (the goavro path's messages
// quote goavro).
func errClass(err error) string {
	if err == nil {
		return "ok"
	}
	var out []string
	for _, s := range []error{codec.ErrTruncated, codec.ErrBadMagic, codec.ErrUnknownSchema, codec.ErrTooLarge,
		codec.ErrBody, codec.ErrIncompatible, ErrWrongType, ErrInvalid, cart.ErrInvalidState, cart.ErrUnknownName} {
		if errors.Is(err, s) {
			out = append(out, s.Error())
		}
	}
	if cart.IsInvalidArgument(err) {
		out = append(out, "invalid argument")
	}
	var de *codec.DecodeError
	if errors.As(err, &de) && de.HasFingerprint {
		out = append(out, fmt.Sprintf("%#x", de.Fingerprint))
	}
	return strings.Join(out, ", ")
}

// sameDecoding fails unless both paths decoded the same value, or both
// failed with errors of the same identity (and, where the reference's
// error does not quote goavro, the same text).
func sameDecoding[T any](t *testing.T, what string, got, want T, err, wantErr error) {
	t.Helper()
	if errClass(err) != errClass(wantErr) {
		t.Fatalf("%s: fast error %v\nreference error %v", what, err, wantErr)
	}
	if err != nil && !errors.Is(err, codec.ErrBody) && err.Error() != wantErr.Error() {
		t.Fatalf("%s: fast error %q\nreference error %q", what, err, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: values differ\nfast %#v\n ref %#v", what, got, want)
	}
}

// requestSeeds are encoded requests plus hand-made bodies at the edges of
// what goavro accepts.
func requestSeeds(tb testing.TB, c *Codec) [][]byte {
	var seeds [][]byte
	for _, cmd := range testCommands() {
		b, err := c.EncodeRequest(cmd)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	header := seeds[0][:10]
	body := func(parts ...[]byte) []byte { return append(bytes.Clone(header), bytes.Join(parts, nil)...) }
	str := func(s string) []byte { return codec.AppendString(nil, s) }
	long := func(v int64) []byte { return codec.AppendLong(nil, v) }
	at := long(t0.UnixNano())
	seeds = append(seeds,
		// customer_id as the string branch holding "".
		body(str("r"), str("c"), long(1), str(""), at, long(3)),
		// quantity as an overlong varint whose low 32 bits are 5.
		body(str("r"), str("c"), long(1), str("u"), at, long(0), str("p0"), []byte{0x8a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}),
		// quantity 2^32+5: goavro keeps the low 32 bits.
		body(str("r"), str("c"), long(1), str("u"), at, long(0), str("p0"), long(1<<32+5)),
		// union index out of range, negative, trailing byte, short string.
		body(str("r"), str("c"), long(2), str("u"), at, long(3)),
		body(str("r"), str("c"), long(-1), at, long(3)),
		body(str("r"), str("c"), long(0), at, long(3), []byte{0}),
		body(str("r"), long(40), []byte("c")),
		// a RemoveItem with a customer id, which is dropped.
		body(str("r"), str("c"), long(1), str("u"), at, long(1), str("p0")),
	)
	return seeds
}

// FuzzDecodeRequestEquivalent: DecodeRequest's fast path decodes exactly
// what the goavro path decodes, to the same command, and refuses the rest
// with errors of the same identity. The seed corpus is under
// testdata/fuzz/FuzzDecodeRequestEquivalent.
func FuzzDecodeRequestEquivalent(f *testing.F) {
	c := newTestCodec(f)
	for _, s := range requestSeeds(f, c) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := c.DecodeRequest(b)
		want, wantErr := c.decodeRequestReference(b)
		sameDecoding(t, "request", got, want, err, wantErr)
	})
}

func snapshotSeeds(tb testing.TB, c *Codec) [][]byte {
	var seeds [][]byte
	for _, s := range []cart.Snapshot{cart.NewSnapshot("c"), buildSnapshot(tb, 2, 6, false), buildSnapshot(tb, 3, 9, true)} {
		b, err := c.EncodeSnapshot(s)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	// The window as two blocks, the second with a negative count and a
	// block size, as other Avro writers may write it.
	one := buildSnapshot(tb, 1, 3, false)
	b, err := c.EncodeSnapshot(one)
	if err != nil {
		tb.Fatal(err)
	}
	one.Window = one.Window[:1]
	head, err := c.EncodeSnapshot(one)
	if err != nil {
		tb.Fatal(err)
	}
	// head ends with: count 1, item, 0. b ends with: count 3, items, 0.
	one.Window = nil
	prefix, err := c.EncodeSnapshot(one)
	if err != nil {
		tb.Fatal(err)
	}
	pre := len(prefix) - 1 // everything before the window
	item0 := head[pre+1 : len(head)-1]
	rest := b[pre+1+len(item0) : len(b)-1] // items 1 and 2
	blocks := append(bytes.Clone(b[:pre]), codec.AppendLong(nil, 1)...)
	blocks = append(blocks, item0...)
	blocks = append(blocks, codec.AppendLong(codec.AppendLong(nil, -2), int64(len(rest)))...)
	blocks = append(append(blocks, rest...), 0)
	seeds = append(seeds, blocks)
	return seeds
}

// TestFastDecodeSeeds runs the equivalence checks on the seeds without
// fuzzing, and checks that the two-block seed is what it claims.
func TestFastDecodeSeeds(t *testing.T) {
	c := newTestCodec(t)
	for i, b := range requestSeeds(t, c) {
		got, err := c.DecodeRequest(b)
		want, wantErr := c.decodeRequestReference(b)
		sameDecoding(t, fmt.Sprint("request ", i), got, want, err, wantErr)
	}
	seeds := snapshotSeeds(t, c)
	for i, b := range seeds {
		got, err := c.DecodeSnapshot(b)
		want, wantErr := c.decodeSnapshotReference(b)
		sameDecoding(t, fmt.Sprint("snapshot ", i), got, want, err, wantErr)
	}
	got, err := c.DecodeSnapshot(seeds[len(seeds)-1])
	if err != nil || !reflect.DeepEqual(got, buildSnapshot(t, 1, 3, false)) {
		t.Fatalf("two-block window: %v", err)
	}
	for i, b := range validatedSeeds(t, c) {
		checkDecodeValidated(t, c, fmt.Sprint("event ", i), b)
	}
	for i, b := range invalidSeeds(t, c) {
		checkDecodeInvalid(t, c, fmt.Sprint("invalid ", i), b)
	}
	for i, b := range productSeeds(t, c) {
		checkDecodeProduct(t, c, fmt.Sprint("product ", i), b)
	}
	// The hand-made seeds are what they claim.
	ev, err := c.DecodeValidated(validatedSeeds(t, c)[validatedTwoBlocks])
	if err != nil || len(ev.(cart.CartCheckedOut).Lines) != 3 {
		t.Fatalf("two-block lines: %#v, %v", ev, err)
	}
	inv, err := c.DecodeInvalid(invalidSeeds(t, c)[invalidEmptyRaw])
	if err != nil || inv.Raw != nil || inv.CartID != "" {
		t.Fatalf("empty branches: %#v, %v", inv, err)
	}
	if _, err := c.DecodeInvalid(invalidSeeds(t, c)[invalidUnknownReason]); !errors.Is(err, cart.ErrUnknownName) {
		t.Fatalf("unknown reason: %v", err)
	}
	if _, err := c.DecodeProduct(productSeeds(t, c)[productRefused]); !errors.Is(err, cart.ErrInvalidProduct) {
		t.Fatalf("refused product: %v", err)
	}
}

// FuzzDecodeSnapshotEquivalent: DecodeSnapshot's fast path decodes
// exactly what the goavro path decodes, to the same snapshot, and refuses
// the rest with errors of the same identity. The seed corpus is under
// testdata/fuzz/FuzzDecodeSnapshotEquivalent.
func FuzzDecodeSnapshotEquivalent(f *testing.F) {
	c := newTestCodec(f)
	for _, s := range snapshotSeeds(f, c) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := c.DecodeSnapshot(b)
		want, wantErr := c.decodeSnapshotReference(b)
		sameDecoding(t, "snapshot", got, want, err, wantErr)
	})
}

// TestFastDecodeMutations sweeps every seed deterministically: each byte
// set to a handful of values that sit on the decoders' edges (boolean 2,
// a continuation bit, a negative length, an index past the symbols), and
// every truncation. Both paths must agree on each.
func TestFastDecodeMutations(t *testing.T) {
	c := newTestCodec(t)
	sweep := func(name string, seeds [][]byte, decode func(b []byte) (any, error), ref func(b []byte) (any, error)) {
		for si, seed := range seeds {
			try := func(b []byte, what string) {
				got, err := decode(b)
				want, wantErr := ref(b)
				sameDecoding(t, fmt.Sprintf("%s seed %d %s", name, si, what), got, want, err, wantErr)
			}
			for n := range len(seed) {
				try(seed[:n], fmt.Sprint("cut at ", n))
			}
			for i := range seed {
				orig := seed[i]
				for _, v := range []byte{0, 1, 2, 3, 0x7f, 0x80, 0x81, 0xff, orig + 1, orig - 1, orig ^ 0x80} {
					b := bytes.Clone(seed)
					b[i] = v
					try(b, fmt.Sprintf("byte %d = %#x", i, v))
				}
			}
		}
	}
	sweep("request", requestSeeds(t, c),
		func(b []byte) (any, error) { return c.DecodeRequest(b) },
		func(b []byte) (any, error) { return c.decodeRequestReference(b) })
	sweep("snapshot", snapshotSeeds(t, c),
		func(b []byte) (any, error) { return c.DecodeSnapshot(b) },
		func(b []byte) (any, error) { return c.decodeSnapshotReference(b) })
	sweep("event", validatedSeeds(t, c),
		func(b []byte) (any, error) { return c.DecodeValidated(b) },
		func(b []byte) (any, error) { return c.decodeValidatedReference(b) })
	sweep("invalid", invalidSeeds(t, c),
		func(b []byte) (any, error) { return c.DecodeInvalid(b) },
		func(b []byte) (any, error) { return c.decodeInvalidReference(b) })
	sweep("product", productSeeds(t, c),
		func(b []byte) (any, error) { return c.DecodeProduct(b) },
		func(b []byte) (any, error) { return c.decodeProductReference(b) })
}

// seedBody builds a record by hand: the 10-byte header of like (an encoded
// record), then the parts.
func seedBody(like []byte, parts ...[]byte) []byte {
	return append(bytes.Clone(like[:10]), bytes.Join(parts, nil)...)
}

func seedStr(s string) []byte     { return codec.AppendString(nil, s) }
func seedLong(v int64) []byte     { return codec.AppendLong(nil, v) }
func seedBool(v bool) []byte      { return codec.AppendBoolean(nil, v) }
func seedJoin(p ...[]byte) []byte { return bytes.Join(p, nil) }

// overlong5 is 5 as an 11-byte varint: goavro keeps the low bits.
var overlong5 = []byte{0x8a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}

// Indexes of hand-made seeds that TestFastDecodeSeeds checks by value.
const (
	validatedTwoBlocks   = 7
	invalidEmptyRaw      = 4
	invalidUnknownReason = 5
	productRefused       = 3
)

// validatedSeeds are encoded events of every type plus hand-made bodies at
// the edges of what goavro accepts, and records of other types.
func validatedSeeds(tb testing.TB, c *Codec) [][]byte {
	evs := testEvents()
	noLines := evs[3].(cart.CartCheckedOut)
	noLines.Lines = nil
	edge := evs[0].(cart.AddItemValidatedRequest)
	edge.Name, edge.Quantity, edge.UnitPrice.Amount, edge.Version = "Ωmega 🛒", math.MinInt32, math.MaxInt64, -1
	edge.RequestedAt, edge.DecidedAt = minNanoTime, maxNanoTime
	big := evs[3].(cart.CartCheckedOut)
	big.ItemCount, big.Version, big.Subtotal.Amount = 1<<40, math.MaxInt64, math.MinInt64
	evs = append(evs, noLines, edge, big)
	var seeds [][]byte
	for _, ev := range evs {
		b, err := c.EncodeValidated(ev)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	add, remove, change, checked := seeds[0], seeds[1], seeds[2], seeds[3]
	meta := seedJoin(seedStr("cart-1"), seedStr("r-1"), seedLong(1), seedLong(t0.UnixNano()), seedLong(t0.UnixNano()+1))
	line := seedJoin(seedStr("p0"), seedStr("Apple"), seedLong(100), seedStr("EUR"), seedLong(2))
	money := seedJoin(seedLong(100), seedStr("EUR"))
	seeds = append(seeds,
		// [validatedTwoBlocks] lines as two blocks, the second with a
		// negative count and a block size, as other Avro writers may
		// write them.
		seedBody(checked, meta, seedStr("cust-9"), seedLong(1), line, seedLong(-2), seedLong(int64(2*len(line))), line, line,
			seedLong(0), seedLong(600), seedStr("EUR"), seedLong(6)),
		// A block count over the bytes left.
		seedBody(checked, meta, seedStr("cust-9"), seedLong(1000), line, seedLong(0), money, seedLong(2)),
		// An empty block count after items: the array ends there.
		seedBody(checked, meta, seedStr("cust-9"), seedLong(1), line, seedLong(0), money, seedLong(2)),
		// quantity as an overlong varint, and as 2^32+5.
		seedBody(add, meta, seedStr("u"), seedStr("p0"), seedStr("n"), money, overlong5),
		seedBody(change, meta, seedStr("p0"), seedStr("n"), money, seedLong(1<<32+5)),
		// A trailing byte, a short string, a negative length.
		seedBody(remove, meta, seedStr("p0"), []byte{0}),
		seedBody(remove, meta, seedLong(40), []byte("p0")),
		seedBody(remove, meta, seedLong(-1)),
		// A RemoveItem body under the AddItem fingerprint.
		seedBody(add, meta, seedStr("p0")),
		// Invalid UTF-8 and empty strings, which no path checks.
		seedBody(change, meta, seedStr(""), seedStr("\xff\xfe"), seedLong(0), seedStr(""), seedLong(0)),
	)
	// Records of other types: the reference path's ErrWrongType.
	req, err := c.EncodeRequest(testCommands()[0])
	if err != nil {
		tb.Fatal(err)
	}
	inv, err := c.EncodeInvalid(cart.InvalidRequest{DecidedAt: t0})
	if err != nil {
		tb.Fatal(err)
	}
	return append(seeds, req, inv)
}

// invalidSeeds are encoded rejections plus hand-made bodies at the edges
// of what goavro and the domain accept.
func invalidSeeds(tb testing.TB, c *Codec) [][]byte {
	var seeds [][]byte
	for _, inv := range []cart.InvalidRequest{
		cart.NewInvalidRequest(testCommands()[0], cart.Rejection{Reason: cart.ReasonUnknownSKU, Message: "unknown sku p0"}, t0),
		cart.NewInvalidRequest(testCommands()[3], cart.Rejection{Reason: cart.ReasonCartCheckedOut, Message: "«closed»"}, t0),
		{Kind: cart.KindUnspecified, DecidedAt: t0, Rejection: cart.Rejection{Reason: cart.ReasonMalformed, Message: "bad bytes"}, Raw: []byte{0xC3, 0, 0xff}},
		{DecidedAt: t0, CartID: "c", RequestID: "r"},
	} {
		b, err := c.EncodeInvalid(inv)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	like := seeds[0]
	dec := seedLong(t0.UnixNano())
	seeds = append(seeds,
		// [invalidEmptyRaw] the string branch holding "" and the bytes
		// branch holding nothing: "" and nil.
		seedBody(like, seedLong(1), seedStr(""), seedLong(0), seedLong(1), seedStr("UNKNOWN_SKU"), seedStr("m"), seedLong(0), dec, seedLong(1), seedStr("")),
		// [invalidUnknownReason] a reason code this domain does not know.
		seedBody(like, seedLong(0), seedLong(0), seedLong(4), seedStr("NOT_A_REASON"), seedStr(""), seedLong(0), dec, seedLong(0)),
		// The same, then a trailing byte: the body's error wins.
		seedBody(like, seedLong(0), seedLong(0), seedLong(4), seedStr("NOT_A_REASON"), seedStr(""), seedLong(0), dec, seedLong(0), []byte{0}),
		// A reason in the wrong case, the empty reason.
		seedBody(like, seedLong(0), seedLong(0), seedLong(2), seedStr("unknown_sku"), seedStr(""), seedLong(0), dec, seedLong(0)),
		seedBody(like, seedLong(0), seedLong(0), seedLong(2), seedStr(""), seedStr(""), seedLong(0), dec, seedLong(0)),
		// A kind past the symbols, a negative kind.
		seedBody(like, seedLong(0), seedLong(0), seedLong(5), seedStr(""), seedStr(""), seedLong(0), dec, seedLong(0)),
		seedBody(like, seedLong(0), seedLong(0), seedLong(-1), seedStr(""), seedStr(""), seedLong(0), dec, seedLong(0)),
		// requested_at as an overlong varint; raw longer than what is left.
		seedBody(like, seedLong(0), seedLong(0), seedLong(1), seedStr(""), seedStr(""), seedLong(1), overlong5, dec, seedLong(0)),
		seedBody(like, seedLong(0), seedLong(0), seedLong(1), seedStr(""), seedStr(""), seedLong(0), dec, seedLong(1), seedLong(50), []byte("raw")),
	)
	snap, err := c.EncodeSnapshot(cart.NewSnapshot("c"))
	if err != nil {
		tb.Fatal(err)
	}
	return append(seeds, snap)
}

// productSeeds are encoded products plus hand-made bodies at the edges of
// what goavro and the domain accept.
func productSeeds(tb testing.TB, c *Codec) [][]byte {
	inactive := testProduct()
	inactive.Active, inactive.MaxQuantityPerLine, inactive.UnitPrice.Amount = false, 0, 0
	limit := testProduct()
	limit.MaxQuantityPerLine, limit.UnitPrice.Amount = cart.MaxQuantity, math.MaxInt64
	var seeds [][]byte
	for _, p := range []cart.Product{testProduct(), inactive, limit} {
		b, err := c.EncodeProduct(p)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	like := seeds[0]
	seeds = append(seeds,
		// [productRefused] everything the domain refuses at once.
		seedBody(like, seedStr(""), seedStr(""), seedLong(-1), seedStr("eu"), seedBool(true), seedLong(-3)),
		// A boolean byte of 2; max quantity as an overlong varint, and
		// over MaxQuantity.
		seedBody(like, seedStr("p0"), seedStr("n"), seedLong(1), seedStr("EUR"), []byte{2}, seedLong(0)),
		seedBody(like, seedStr("p0"), seedStr("n"), seedLong(1), seedStr("EUR"), seedBool(true), overlong5),
		seedBody(like, seedStr("p0"), seedStr("n"), seedLong(1), seedStr("EUR"), seedBool(false), seedLong(int64(cart.MaxQuantity)+1)),
		// A refused product with a trailing byte: the body's error wins.
		seedBody(like, seedStr(""), seedStr("n"), seedLong(1), seedStr("EUR"), seedBool(true), seedLong(0), []byte{0}),
		// A name of invalid UTF-8.
		seedBody(like, seedStr("p0"), seedStr("\xff"), seedLong(1), seedStr("EUR"), seedBool(true), seedLong(0)),
	)
	ev, err := c.EncodeValidated(testEvents()[1])
	if err != nil {
		tb.Fatal(err)
	}
	return append(seeds, ev)
}

// checkDecodeValidated fails unless both paths decode b alike; a decoded
// event must re-encode and decode to itself.
func checkDecodeValidated(t *testing.T, c *Codec, what string, b []byte) {
	t.Helper()
	got, err := c.DecodeValidated(b)
	want, wantErr := c.decodeValidatedReference(b)
	sameDecoding(t, what, got, want, err, wantErr)
	if err != nil {
		if got != nil || !IsMalformed(err) {
			t.Fatalf("%s: DecodeValidated = %#v, %v (malformed %t)", what, got, err, IsMalformed(err))
		}
		return
	}
	b2, err := c.EncodeValidated(got)
	if err != nil {
		t.Fatalf("%s: re-encode %#v: %v", what, got, err)
	}
	if again, err := c.DecodeValidated(b2); err != nil || !reflect.DeepEqual(again, got) {
		t.Fatalf("%s: re-decode: %#v, %v; want %#v", what, again, err, got)
	}
}

// checkDecodeInvalid is checkDecodeValidated for DecodeInvalid.
func checkDecodeInvalid(t *testing.T, c *Codec, what string, b []byte) {
	t.Helper()
	got, err := c.DecodeInvalid(b)
	want, wantErr := c.decodeInvalidReference(b)
	sameDecoding(t, what, got, want, err, wantErr)
	if err != nil {
		if !reflect.DeepEqual(got, cart.InvalidRequest{}) || !IsMalformed(err) {
			t.Fatalf("%s: DecodeInvalid = %#v, %v (malformed %t)", what, got, err, IsMalformed(err))
		}
		return
	}
	if len(b) > 0 && len(got.Raw) > 0 && &got.Raw[0] == &b[len(b)-len(got.Raw)] {
		t.Fatalf("%s: raw aliases the caller's buffer", what)
	}
	b2, err := c.EncodeInvalid(got)
	if err != nil {
		t.Fatalf("%s: re-encode %#v: %v", what, got, err)
	}
	if again, err := c.DecodeInvalid(b2); err != nil || !reflect.DeepEqual(again, got) {
		t.Fatalf("%s: re-decode: %#v, %v; want %#v", what, again, err, got)
	}
}

// checkDecodeProduct is checkDecodeValidated for DecodeProduct.
func checkDecodeProduct(t *testing.T, c *Codec, what string, b []byte) {
	t.Helper()
	got, err := c.DecodeProduct(b)
	want, wantErr := c.decodeProductReference(b)
	sameDecoding(t, what, got, want, err, wantErr)
	if err != nil {
		if !reflect.DeepEqual(got, cart.Product{}) || !IsMalformed(err) {
			t.Fatalf("%s: DecodeProduct = %#v, %v (malformed %t)", what, got, err, IsMalformed(err))
		}
		return
	}
	b2, err := c.EncodeProduct(got)
	if err != nil {
		t.Fatalf("%s: re-encode %#v: %v", what, got, err)
	}
	if again, err := c.DecodeProduct(b2); err != nil || !reflect.DeepEqual(again, got) {
		t.Fatalf("%s: re-decode: %#v, %v; want %#v", what, again, err, got)
	}
}

// FuzzDecodeValidatedEquivalent: DecodeValidated's fast path decodes
// exactly what the goavro path decodes, to the same event, and refuses the
// rest with errors of the same identity. The seed corpus is under
// testdata/fuzz/FuzzDecodeValidatedEquivalent.
func FuzzDecodeValidatedEquivalent(f *testing.F) {
	c := newTestCodec(f)
	for _, s := range validatedSeeds(f, c) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkDecodeValidated(t, c, "event", b) })
}

// FuzzDecodeInvalidEquivalent: the same for DecodeInvalid. The seed
// corpus is under testdata/fuzz/FuzzDecodeInvalidEquivalent.
func FuzzDecodeInvalidEquivalent(f *testing.F) {
	c := newTestCodec(f)
	for _, s := range invalidSeeds(f, c) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkDecodeInvalid(t, c, "invalid", b) })
}

// FuzzDecodeProductEquivalent: the same for DecodeProduct. The seed
// corpus is under testdata/fuzz/FuzzDecodeProductEquivalent.
func FuzzDecodeProductEquivalent(f *testing.F) {
	c := newTestCodec(f)
	for _, s := range productSeeds(f, c) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkDecodeProduct(t, c, "product", b) })
}

// withTestField returns the current schema of name (a file under schemas/)
// with a string field added at the end, a compatible v2 as far as
// resolution goes, which no fast path is written for.
func withTestField(t *testing.T, name string) *codec.Schema {
	t.Helper()
	b, err := embedded.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["fields"] = append(m["fields"].([]any), map[string]any{"name": "test_note", "type": "string", "default": "none"})
	b, err = json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	s, err := codec.ParseSchema(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestFastDecodeOtherVersions: for each record type decoded by hand, a
// Codec whose current schema is another version decodes the pinned
// version through resolution, and a Codec on the pinned version decodes
// records written with another version through resolution; both agree
// with the reference, never with a fast path reading the wrong layout.
func TestFastDecodeOtherVersions(t *testing.T) {
	c := newTestCodec(t)
	encode := func(v []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	inv := cart.NewInvalidRequest(testCommands()[0], cart.Rejection{Reason: cart.ReasonUnknownSKU, Message: "m"}, t0)
	inv.Raw = []byte("raw")
	type decoder func(*Codec, []byte) (any, error)
	evDec := func(c *Codec, b []byte) (any, error) { return c.DecodeValidated(b) }
	for _, tc := range []struct {
		file   string
		value  []byte
		fast   func(fastPaths) bool
		decode decoder
	}{
		{"schemas/add_item_validated_request.v1.avsc", encode(c.EncodeValidated(testEvents()[0])), func(f fastPaths) bool { return f.addItem }, evDec},
		{"schemas/remove_item_validated_request.v1.avsc", encode(c.EncodeValidated(testEvents()[1])), func(f fastPaths) bool { return f.removeItem }, evDec},
		{"schemas/change_quantity_validated_request.v1.avsc", encode(c.EncodeValidated(testEvents()[2])), func(f fastPaths) bool { return f.changeQuantity }, evDec},
		{"schemas/cart_checked_out.v1.avsc", encode(c.EncodeValidated(testEvents()[3])), func(f fastPaths) bool { return f.checkedOut }, evDec},
		{"schemas/invalid_request.v1.avsc", encode(c.EncodeInvalid(inv)), func(f fastPaths) bool { return f.invalid },
			func(c *Codec, b []byte) (any, error) { return c.DecodeInvalid(b) }},
		{"schemas/product.v1.avsc", encode(c.EncodeProduct(testProduct())), func(f fastPaths) bool { return f.product },
			func(c *Codec, b []byte) (any, error) { return c.DecodeProduct(b) }},
	} {
		t.Run(tc.file, func(t *testing.T) {
			v2 := withTestField(t, tc.file)
			_, _, oldOnly, oldReader, newReader := evolutionOf(t, v2)
			if tc.fast(newReader.fast) || !tc.fast(oldReader.fast) {
				t.Fatalf("fast paths: v2 current %+v, v1 current %+v", newReader.fast, oldReader.fast)
			}
			// The event guard: by hand only for the pinned writer and a
			// reader on the same version.
			v1FP := writerFP(tc.value)
			if newReader.fastEventFP(v1FP) || newReader.fastEventFP(v2.Fingerprint()) || oldReader.fastEventFP(v2.Fingerprint()) {
				t.Fatalf("event guard takes the fast path for %#x or %#x with v2 current", v1FP, v2.Fingerprint())
			}
			isEvent := tc.fast(fastPaths{addItem: true, removeItem: true, changeQuantity: true, checkedOut: true})
			if got := oldReader.fastEventFP(v1FP); got != isEvent {
				t.Fatalf("event guard for %#x with v1 current: %t, want %t", v1FP, got, isEvent)
			}
			want, err := tc.decode(oldOnly, tc.value)
			if err != nil {
				t.Fatal(err)
			}
			// v1 record, v2 current: resolution, not the fast path.
			if got, err := tc.decode(newReader, tc.value); err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("v1 record read by v2 code: %#v, %v", got, err)
			}
			// v2 record, v1 current (fast path on): resolution too.
			native, err := codec.DecodeAs(newReader.format, newReader.reg, tc.value, v2)
			if err != nil {
				t.Fatal(err)
			}
			native.(map[string]any)["test_note"] = "set"
			b2, err := newReader.format.Encode(v2, native)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := tc.decode(oldReader, b2); err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("v2 record read by v1 code: %#v, %v", got, err)
			}
			if got, err := tc.decode(newReader, b2); err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("v2 record read by v2 code: %#v, %v", got, err)
			}
		})
	}
}
