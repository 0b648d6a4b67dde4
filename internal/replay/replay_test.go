package replay

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cartstream/cartstream/cart"
)

func TestPartitionOf(t *testing.T) {
	for _, n := range []int{1, 3, 7, 12} {
		for _, id := range []cart.CartID{"a", "cart-1", "0123456789"} {
			if p := PartitionOf(id, n); p < 0 || int(p) >= n {
				t.Errorf("PartitionOf(%q, %d) = %d", id, n, p)
			}
		}
	}
	if p := PartitionOf("x", 0); p != -1 {
		t.Errorf("PartitionOf with no partitions = %d, want -1", p)
	}
}

func TestParseUntilOffsets(t *testing.T) {
	got, err := ParseUntilOffsets("0:120, 3:77")
	if err != nil || !maps.Equal(got, map[int32]int64{0: 120, 3: 77}) {
		t.Fatalf("ParseUntilOffsets = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "0:1:2", "a:1", "0:1,0:2", "0:x", "0:1x"} {
		if _, err := ParseUntilOffsets(bad); err == nil {
			t.Errorf("ParseUntilOffsets(%q) accepted", bad)
		}
	}
}

func TestScopeValidate(t *testing.T) {
	if err := (Scope{Cart: "bad id!"}).Validate(); err == nil {
		t.Error("bad cart id accepted")
	}
	if err := (Scope{UntilOffsets: map[int32]int64{0: 1}, UntilTime: time.Now()}).Validate(); err == nil {
		t.Error("until offsets and time together accepted")
	}
	if err := (Scope{UntilOffsets: map[int32]int64{-1: 1}}).Validate(); err == nil {
		t.Error("negative partition accepted")
	}
	if err := (Scope{Cart: "c-1", UntilTime: time.Now()}).Validate(); err != nil {
		t.Errorf("valid scope refused: %v", err)
	}
}

func eur(a int64) cart.Money { return cart.Money{Amount: a, Currency: "EUR"} }

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// fold folds events from the empty cart, failing the test on an error.
func fold(t *testing.T, id cart.CartID, evs ...cart.Event) cart.CartState {
	t.Helper()
	s := cart.CartState{CartID: id}
	for _, ev := range evs {
		var err error
		if s, err = cart.Apply(s, ev); err != nil {
			t.Fatalf("apply %T: %v", ev, err)
		}
	}
	return s
}

func add(id cart.CartID, v int64, sku cart.SKU, price int64, q int32) cart.AddItemValidatedRequest {
	return cart.AddItemValidatedRequest{CartID: id, RequestID: cart.RequestID("r" + string(sku)), Version: v,
		RequestedAt: t0, DecidedAt: t0.Add(time.Duration(v) * time.Second), CustomerID: "cust", SKU: sku, Name: string(sku), UnitPrice: eur(price), Quantity: q}
}

func TestCompare(t *testing.T) {
	good := fold(t, "good", add("good", 1, "A", 100, 2))
	differs := fold(t, "differs", add("differs", 1, "A", 100, 2), add("differs", 2, "B", 50, 1))
	wrong := differs.Clone()
	wrong.Lines[0].Quantity = 3
	wrong.ItemCount, wrong.Subtotal = 4, eur(350)
	if err := wrong.Validate(); err != nil {
		t.Fatal(err)
	}
	missing := fold(t, "missing", add("missing", 1, "A", 100, 1))
	extra := fold(t, "extra", add("extra", 1, "A", 100, 1))
	// A snapshot from a codec: empty slice instead of nil, times in
	// another zone: the same cart.
	empty := cart.CartState{CartID: "rejected", Lines: []cart.Line{}}
	zoned := good.Clone()
	zoned.UpdatedAt = zoned.UpdatedAt.In(time.FixedZone("X", 3600))

	res := Result{Carts: map[cart.CartID]*Folded{
		"good":    {State: good, Partition: 0, LastOffset: 0, Events: 1},
		"differs": {State: differs, Partition: 1, LastOffset: 5, Events: 2},
		"missing": {State: missing, Partition: 2, LastOffset: 7, Events: 1},
		"broken":  {State: cart.CartState{CartID: "broken"}, Partition: 0, LastOffset: -1, Broken: true},
	}, Problems: []Problem{{Kind: ProblemFoldFailed, CartID: "broken", Detail: "version gap"}}}
	cur := map[cart.CartID]*Current{
		"good":     {Snapshot: cart.Snapshot{Cart: zoned}, HasSnapshot: true, Partition: 0, Offset: 3},
		"differs":  {Snapshot: cart.Snapshot{Cart: wrong}, HasSnapshot: true, Partition: 1, Offset: 4},
		"extra":    {Snapshot: cart.Snapshot{Cart: extra}, HasSnapshot: true, Partition: 2, Offset: 9},
		"rejected": {Snapshot: cart.Snapshot{Cart: empty}, HasSnapshot: true, Partition: 1, Offset: 1},
		"garbled":  {Undecodable: errors.New("bad bytes"), Partition: 1, Offset: 2},
	}
	diffs := Compare(res, cur)
	got := map[cart.CartID]DiffKind{}
	for _, d := range diffs {
		got[d.CartID] = d.Kind
	}
	want := map[cart.CartID]DiffKind{"broken": DiffUnfoldable, "differs": DiffMismatch, "garbled": DiffUndecodable, "missing": DiffMissing, "extra": DiffExtra}
	if !maps.Equal(got, want) {
		t.Fatalf("Compare kinds = %v, want %v", got, want)
	}
	for _, d := range diffs {
		if d.CartID != "differs" {
			continue
		}
		fields := []string{}
		for _, f := range d.Fields {
			fields = append(fields, f.Field)
		}
		if !slices.Equal(fields, []string{"lines[A].quantity", "subtotal", "item_count"}) {
			t.Errorf("differs fields = %v", fields)
		}
		if s := d.Summary(); !strings.Contains(s, "lines[A].quantity: snapshot 3, replayed 2") {
			t.Errorf("summary %q", s)
		}
	}
	if !slices.IsSortedFunc(diffs, func(a, b Difference) int { return int(a.Partition - b.Partition) }) {
		t.Errorf("differences not sorted by partition: %+v", diffs)
	}
}

func TestDiffCartLines(t *testing.T) {
	a := fold(t, "c", add("c", 1, "A", 100, 1), add("c", 2, "B", 100, 1))
	b := a.Clone()
	b.Lines[0], b.Lines[1] = b.Lines[1], b.Lines[0]
	if d := DiffCart(a, b); len(d) != 1 || d[0].Field != "lines.order" {
		t.Errorf("reordered lines: %v", d)
	}
	c := a.Clone()
	c.Lines = c.Lines[:1]
	d := DiffCart(a, c)
	if len(d) == 0 || d[0].Field != "lines[B]" || d[0].Replayed != "absent" {
		t.Errorf("dropped line: %v", d)
	}
	if d := DiffCart(a, a.Clone()); d != nil {
		t.Errorf("equal carts differ: %v", d)
	}
}

func TestPlanRewriteKeepsRequestOffsetAndWindow(t *testing.T) {
	right := fold(t, "c1", add("c1", 1, "A", 100, 2))
	wrong := right.Clone()
	wrong.Lines[0].Quantity, wrong.ItemCount, wrong.Subtotal = 1, 1, eur(100)
	window := []cart.RequestOutcome{{RequestID: "rA", Offset: 41, Kind: cart.KindAddItem, Accepted: true, CartVersion: 1}}
	res := Result{Carts: map[cart.CartID]*Folded{
		"c1": {State: right, Partition: 0, LastOffset: 10, Events: 1},
		"c2": {State: fold(t, "c2", add("c2", 1, "A", 100, 1)), Partition: 0, LastOffset: 12, Events: 1},
		"c3": {State: fold(t, "c3", add("c3", 1, "B", 100, 1)), Partition: 1, LastOffset: 3, Events: 1},
	}}
	cur := map[cart.CartID]*Current{
		"c1": {Snapshot: cart.Snapshot{Cart: wrong, RequestOffset: 42, Window: window}, HasSnapshot: true, Partition: 0, Offset: 7},
		"c3": {Snapshot: cart.Snapshot{Cart: res.Carts["c3"].State, RequestOffset: 5}, HasSnapshot: true, Partition: 1, Offset: 2},
	}
	plan := PlanRewrite(res, cur, nil, true)
	if plan.Unchanged != 1 || len(plan.Writes) != 2 || len(plan.Refused) != 0 {
		t.Fatalf("plan: %+v", plan)
	}
	w1, w2 := plan.Writes[0], plan.Writes[1]
	if w1.CartID != "c1" || w1.Kind != DiffMismatch || w1.KeptFrom != 7 {
		t.Errorf("first write %+v", w1)
	}
	if w1.Snapshot.RequestOffset != 42 || len(w1.Snapshot.Window) != 1 || w1.Snapshot.Window[0].RequestID != "rA" {
		t.Errorf("c1 lost its request offset or window: %+v", w1.Snapshot)
	}
	if DiffCart(w1.Snapshot.Cart, right) != nil {
		t.Errorf("c1 cart is not the fold")
	}
	if w2.CartID != "c2" || w2.Kind != DiffMissing || w2.Snapshot.RequestOffset != -1 || w2.Snapshot.Window != nil || w2.KeptFrom != -1 {
		t.Errorf("c2 without a snapshot: %+v", w2)
	}

	// All: every cart; progress: c1 (last event 10) is done in partition 0.
	plan = PlanRewrite(res, cur, map[int32]int64{0: 11}, false)
	if plan.AlreadyWritten != 1 || len(plan.Writes) != 2 || plan.Writes[0].CartID != "c2" || plan.Writes[1].CartID != "c3" {
		t.Errorf("resumed plan: %+v", plan)
	}

	// A window that the folded cart cannot carry is refused, not written.
	bad := cur["c1"].Snapshot.Clone()
	bad.Window[0].CartVersion = 5
	bad.Cart.Version = 5
	cur["c1"] = &Current{Snapshot: bad, HasSnapshot: true, Partition: 0, Offset: 8}
	plan = PlanRewrite(res, cur, nil, true)
	if len(plan.Refused) != 1 || plan.Refused[0].CartID != "c1" {
		t.Errorf("invalid new snapshot not refused: %+v", plan)
	}
}

func TestBatchesNeverSplitAProgressMark(t *testing.T) {
	ws := []Write{
		{CartID: "x1", Partition: 0, LastOffset: -1}, {CartID: "x2", Partition: 0, LastOffset: -1}, {CartID: "x3", Partition: 0, LastOffset: -1},
		{CartID: "a", Partition: 0, LastOffset: 4}, {CartID: "b", Partition: 1, LastOffset: 2}, {CartID: "c", Partition: 1, LastOffset: 9},
	}
	bs := batches(ws, 2)
	var sizes []int
	for _, b := range bs {
		sizes = append(sizes, len(b))
	}
	if !slices.Equal(sizes, []int{3, 2, 1}) {
		t.Fatalf("batch sizes %v, want [3 2 1]", sizes)
	}
	if m := progressMarks(bs[1]); !maps.Equal(m, map[int32]int64{0: 5, 1: 3}) {
		t.Errorf("marks %v", m)
	}
}

func TestViewOf(t *testing.T) {
	s := fold(t, "c", add("c", 1, "A", 100, 2))
	v := ViewOf(&Folded{State: s, Partition: 3, LastOffset: 9, Events: 1})
	if v.CartID != "c" || v.Status != "OPEN" || len(v.Lines) != 1 || v.Subtotal.AmountMinor != 200 || v.UpdatedAt == nil || v.CheckedOutAt != nil {
		t.Errorf("view %+v", v)
	}
}

// Issue 14 item 4: a cart whose events end with CartExpired folds to the
// zero state; a tombstone (or nothing) in cart.state is then right, a
// surviving snapshot is not.
func TestCompareExpiredCart(t *testing.T) {
	live := fold(t, "kept", add("kept", 1, "A", 100, 1))
	res := Result{Carts: map[cart.CartID]*Folded{
		"gone":  {State: cart.CartState{}, Partition: 0, LastOffset: 3, Events: 2},
		"none":  {State: cart.CartState{}, Partition: 0, LastOffset: 5, Events: 2},
		"kept":  {State: cart.CartState{}, Partition: 1, LastOffset: 7, Events: 2},
		"fresh": {State: live, Partition: 1, LastOffset: 9, Events: 3},
	}}
	cur := map[cart.CartID]*Current{
		"gone":  {Deleted: true, Partition: 0, Offset: 4},
		"kept":  {Snapshot: cart.Snapshot{Cart: live}, HasSnapshot: true, Partition: 1, Offset: 8},
		"fresh": {Deleted: true, Partition: 1, Offset: 10},
	}
	got := map[cart.CartID]DiffKind{}
	for _, d := range Compare(res, cur) {
		got[d.CartID] = d.Kind
	}
	want := map[cart.CartID]DiffKind{"kept": DiffMismatch, "fresh": DiffMissing}
	if !maps.Equal(got, want) {
		t.Fatalf("Compare kinds = %v, want %v", got, want)
	}
}
