package verify_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/partition"
	"github.com/cartstream/cartstream/internal/verify"
)

// richHistory writes a history that exercises every expectation: accepted
// commands of each kind, rejections, a retry, a reused request id, a request
// with a malformed id, undecodable records and a record whose key is not its
// cart.
func richHistory(s *sim) {
	s.send(add("c1", "r1", "apple", 2))
	s.send(add("c1", "r2", "pear", 1))
	s.send(add("c1", "r1", "apple", 2)) // retry of r1: no outcome
	s.send(add("c1", "r2", "apple", 5)) // r2 reused for another command: DUPLICATE_REQUEST
	s.send(add("c1", "r3", "plum", 1))  // inactive: rejected
	s.send(change("c1", "r4", "apple", 3))
	s.send(remove("c1", "r5", "pear"))
	s.send(add("c1", "", "apple", 1)) // malformed request id: MALFORMED, not in the window
	s.send(checkout("c1", "r6"))
	s.send(add("c1", "r7", "apple", 1)) // checked out: rejected

	s.send(add("c2", "r1", "apple", 1)) // same request id as in c1: another cart, independent
	s.send(add("c2", "r2", "pear", 2))
	s.garbage("c2")
	s.garbage("not a cart id!")
	s.send(add("c3", "r1", "apple", 1))

	// A record keyed c3 that names cart c4 is MALFORMED for the write side.
	p := s.partitionOf("c3")
	s.in.Requests = append(s.in.Requests, verify.Request{Position: verify.Position{Partition: p, Offset: s.offset("requests", p)}, Key: "c3", Command: add("c4", "r1", "apple", 1)})
	s.appendInvalid(cart.InvalidRequest{DecidedAt: s.now(), Rejection: cart.Rejection{Reason: cart.ReasonMalformed, Message: "record key does not match cart id"}, CartID: "c3"}, "c3")
}

func violationKinds(r verify.Report) map[verify.Kind]int {
	out := map[verify.Kind]int{}
	for k, n := range r.Summary.Violations {
		if n > 0 {
			out[k] = n
		}
	}
	return out
}

func dump(r verify.Report) string {
	var b strings.Builder
	_ = r.WriteText(&b, 0)
	return b.String()
}

func TestCheckCleanHistory(t *testing.T) {
	s := newSim(t)
	richHistory(s)
	r := verify.Check(s.in)
	if !r.Clean() {
		t.Fatalf("consistent history reported dirty:\n%s", dump(r))
	}
	want := verify.Summary{
		Requests: 16, Carts: 3, Validated: 8, Invalid: 7, Malformed: 3, Retries: 1, Reused: 1, Snapshots: 3,
		Violations: map[verify.Kind]int{},
	}
	if got := r.Summary; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("summary = %+v, want %+v", got, want)
	}
}

// The window holds the last cart.RequestWindowSize recorded requests: an id
// older than that is a new request again, one inside it a retry.
func TestCheckWindowOverflow(t *testing.T) {
	s := newSim(t)
	n := cart.RequestWindowSize + 6
	for i := range n {
		s.send(change("w", cart.RequestID(fmt.Sprintf("w-%d", i)), "apple", 1)) // rejected: no line; recorded all the same
	}
	s.send(change("w", "w-0", "apple", 1))                                    // fell out of the window: processed again
	s.send(change("w", cart.RequestID(fmt.Sprintf("w-%d", n-1)), "apple", 1)) // still inside: a retry
	s.send(change("w", "w-3", "apple", 2))                                    // outside, another fingerprint: not a reuse
	r := verify.Check(s.in)
	if !r.Clean() {
		t.Fatalf("window overflow history reported dirty:\n%s", dump(r))
	}
	if r.Summary.Retries != 1 || r.Summary.Reused != 0 || r.Summary.Invalid != n+2 {
		t.Errorf("summary = %+v, want 1 retry, 0 reused, %d invalid", r.Summary, n+2)
	}

	// The verifier must not take the re-processed w-0 for a duplicate.
	s.appendInvalid(s.in.Invalid[s.invalidOf("w-5")].Invalid, "w")
	if got := violationKinds(verify.Check(s.in)); !maps.Equal(got, map[verify.Kind]int{verify.KindDuplicateOutcome: 1}) {
		t.Errorf("doubled rejection: violations %v, want one DuplicateOutcome", got)
	}
}

func TestCheckFaults(t *testing.T) {
	type K = map[verify.Kind]int
	tests := []struct {
		name   string
		break_ func(s *sim)
		want   K
	}{
		{"doubled validated event", func(s *sim) { s.appendValidated(s.validatedOf("r4")) },
			K{verify.KindDuplicateOutcome: 1, verify.KindVersionRepeat: 1}},
		{"lost validated event", func(s *sim) { s.in.Validated = removeAt(s.in.Validated, s.validatedOf("r6")) },
			K{verify.KindMissingOutcome: 1, verify.KindSnapshotMismatch: 1}},
		{"lost rejection", func(s *sim) { s.in.Invalid = removeAt(s.in.Invalid, s.invalidOf("r3")) },
			K{verify.KindMissingOutcome: 1}},
		{"rejections out of order", func(s *sim) {
			a, b := &s.in.Invalid[s.invalidOf("r3")], &s.in.Invalid[s.invalidOf("")]
			a.Offset, b.Offset = b.Offset, a.Offset
		}, K{verify.KindOutOfOrder: 1}},
		{"validated events out of order", func(s *sim) {
			a, b := &s.in.Validated[s.validatedOf("r4")], &s.in.Validated[s.validatedOf("r5")]
			a.Offset, b.Offset = b.Offset, a.Offset
		}, K{verify.KindOutOfOrder: 1, verify.KindVersionGap: 1, verify.KindVersionRepeat: 1}},
		{"version gap", func(s *sim) {
			v := &s.in.Validated[s.validatedOf("r6")]
			ev := v.Event.(cart.CartCheckedOut)
			ev.Version++
			v.Event = ev
		}, K{verify.KindVersionGap: 1, verify.KindSnapshotWindow: 1}},
		{"wrong snapshot cart", func(s *sim) {
			st := &s.in.State[s.latestState("c1")]
			st.Snapshot = st.Snapshot.Clone()
			st.Snapshot.Cart.Lines[0].Quantity++
		}, K{verify.KindSnapshotMismatch: 1}},
		{"stale snapshot offset", func(s *sim) { s.in.State[s.latestState("c2")].Snapshot.RequestOffset-- },
			K{verify.KindSnapshotOffset: 1}},
		{"snapshot lost a window entry", func(s *sim) {
			st := &s.in.State[s.latestState("c1")]
			st.Snapshot.Window = st.Snapshot.Window[1:]
		}, K{verify.KindSnapshotWindow: 1}},
		{"retry answered", func(s *sim) {
			retry := add("c1", "r1", "apple", 2)
			s.appendInvalid(cart.NewInvalidRequest(retry, cart.Rejection{Reason: cart.ReasonCartCheckedOut}, s.now()), "c1")
		}, K{verify.KindDuplicateOutcome: 1}},
		{"reused id not rejected", func(s *sim) {
			s.in.Invalid = removeAt(s.in.Invalid, duplicateRejection(s))
		}, K{verify.KindMissingOutcome: 1}},
		{"reused id rejected for another reason", func(s *sim) {
			s.in.Invalid[duplicateRejection(s)].Invalid.Rejection.Reason = cart.ReasonUnknownSKU
		}, K{verify.KindOutcomeMismatch: 1}},
		{"event the fold refuses", func(s *sim) {
			v := &s.in.Validated[s.find(s.tb, "c2", "r2")]
			m := v.Event.Meta()
			v.Event = cart.RemoveItemValidatedRequest{CartID: m.CartID, RequestID: m.RequestID, Version: m.Version, RequestedAt: m.RequestedAt, DecidedAt: m.DecidedAt, SKU: "kiwi"}
		}, K{verify.KindOutcomeMismatch: 1, verify.KindFoldFailed: 1}},
		{"snapshot under another key", func(s *sim) {
			st := s.in.State[s.latestState("c1")]
			st.Key, st.Partition = "c2", s.partitionOf("c2")
			st.Offset = s.offset("state", st.Partition)
			s.in.State = append(s.in.State, st)
		}, K{verify.KindSnapshotMismatch: 1}},
		{"rejection of the wrong kind", func(s *sim) { s.in.Invalid[s.invalidOf("r3")].Invalid.Kind = cart.KindCheckout },
			K{verify.KindOutcomeMismatch: 1}},
		{"malformed record not rejected", func(s *sim) { s.in.Invalid = removeAt(s.in.Invalid, malformedRejection(s, "c2")) },
			K{verify.KindMalformedCount: 1}},
		{"malformed record rejected twice", func(s *sim) {
			v := s.in.Invalid[malformedRejection(s, "")] // "not a cart id!": its outcome has no key
			v.Offset = s.offset("invalid", v.Partition)
			s.in.Invalid = append(s.in.Invalid, v)
		}, K{verify.KindMalformedCount: 1}},
		{"orphan rejection", func(s *sim) {
			s.appendInvalid(cart.NewInvalidRequest(add("c2", "nobody", "apple", 1), cart.Rejection{Reason: cart.ReasonUnknownSKU}, s.now()), "c2")
		}, K{verify.KindOrphanOutcome: 1}},
		{"orphan snapshot", func(s *sim) {
			p := s.partitionOf("ghost")
			s.in.State = append(s.in.State, verify.State{Position: verify.Position{Partition: p, Offset: s.offset("state", p)}, Key: "ghost", Snapshot: cart.NewSnapshot("ghost")})
		}, K{verify.KindOrphanSnapshot: 1}},
		{"missing snapshot", func(s *sim) {
			for i := len(s.in.State) - 1; i >= 0; i-- {
				if s.in.State[i].Key == "c2" {
					s.in.State = removeAt(s.in.State, i)
				}
			}
		}, K{verify.KindMissingSnapshot: 1}},
		{"snapshot deleted", func(s *sim) {
			p := s.partitionOf("c2")
			s.in.State = append(s.in.State, verify.State{Position: verify.Position{Partition: p, Offset: s.offset("state", p)}, Key: "c2", Tombstone: true})
		}, K{verify.KindMissingSnapshot: 1}},
		{"undecodable event", func(s *sim) {
			p := s.partitionOf("c2")
			s.in.Validated = append(s.in.Validated, verify.Validated{Position: verify.Position{Partition: p, Offset: s.offset("validated", p)}, Key: "c2", DecodeErr: fmt.Errorf("bad magic")})
		}, K{verify.KindUndecodable: 1}},
		{"event in another partition", func(s *sim) {
			v := &s.in.Validated[s.find(s.tb, "c2", "r2")] // the last event of c2
			v.Partition = (v.Partition + 1) % s.partitions
			v.Offset = s.offset("validated", v.Partition)
		}, K{verify.KindOrphanOutcome: 1, verify.KindMissingOutcome: 1, verify.KindSnapshotMismatch: 1, verify.KindVersionGap: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSim(t)
			richHistory(s)
			tt.break_(s)
			r := verify.Check(s.in)
			if got := violationKinds(r); !maps.Equal(got, tt.want) {
				t.Errorf("violations %v, want %v\n%s", got, tt.want, dump(r))
			}
		})
	}
}

func duplicateRejection(s *sim) int {
	s.tb.Helper()
	for i, v := range s.in.Invalid {
		if v.Invalid.Rejection.Reason == cart.ReasonDuplicateRequest {
			return i
		}
	}
	s.tb.Fatal("no DUPLICATE_REQUEST rejection")
	return -1
}

func malformedRejection(s *sim, key string) int {
	s.tb.Helper()
	for i, v := range s.in.Invalid {
		if v.Key == key && !v.Invalid.Kind.Valid() {
			return i
		}
	}
	s.tb.Fatalf("no MALFORMED rejection under key %q", key)
	return -1
}

// One history with a fault in each of several carts: every fault is
// reported, located at its cart and request, and the carts without faults
// (with a retry, a reused id and an undecodable record) stay clean.
func TestCheckReportsEveryFault(t *testing.T) {
	s := newSim(t)
	for _, c := range []cart.CartID{"dup", "miss", "order", "gap", "snap"} {
		s.send(add(c, "a", "apple", 1))
		s.send(add(c, "b", "pear", 1))
		s.send(change(c, "c", "apple", 2))
	}
	s.send(add("ok", "a", "apple", 1))
	s.send(add("ok", "a", "apple", 1)) // retry
	s.send(add("ok", "a", "pear", 1))  // reuse
	s.garbage("ok")
	s.send(checkout("ok", "b"))

	s.appendValidated(s.find(t, "dup", "b"))
	s.in.Validated = removeAt(s.in.Validated, s.find(t, "miss", "b"))
	a, b := &s.in.Validated[s.find(t, "order", "b")], &s.in.Validated[s.find(t, "order", "c")]
	a.Offset, b.Offset = b.Offset, a.Offset
	g := &s.in.Validated[s.find(t, "gap", "c")]
	ev := g.Event.(cart.ChangeQuantityValidatedRequest)
	ev.Version = 7
	g.Event = ev
	st := &s.in.State[s.latestState("snap")]
	st.Snapshot = st.Snapshot.Clone()
	st.Snapshot.Cart.Lines = st.Snapshot.Cart.Lines[:1]

	r := verify.Check(s.in)
	type loc struct {
		kind verify.Kind
		cart cart.CartID
		req  cart.RequestID
	}
	got := map[loc]bool{}
	for _, v := range r.Violations {
		got[loc{v.Kind, v.CartID, v.RequestID}] = true
		if v.CartID == "ok" {
			t.Errorf("clean cart reported: %v", v)
		}
		if v.Partition != s.partitionOf(string(v.CartID)) {
			t.Errorf("violation in partition %d, cart %s lives in %d: %v", v.Partition, v.CartID, s.partitionOf(string(v.CartID)), v)
		}
	}
	for _, want := range []loc{
		{verify.KindDuplicateOutcome, "dup", "b"},
		{verify.KindVersionRepeat, "dup", "b"},
		{verify.KindMissingOutcome, "miss", "b"},
		{verify.KindVersionGap, "miss", "c"},
		{verify.KindOutOfOrder, "order", "b"},
		{verify.KindVersionGap, "gap", "c"},
		{verify.KindSnapshotMismatch, "snap", ""},
	} {
		if !got[want] {
			t.Errorf("missing violation %+v", want)
		}
	}
	if r.Summary.Retries != 1 || r.Summary.Reused != 1 || r.Summary.Malformed != 1 {
		t.Errorf("summary %+v: want 1 retry, 1 reused id, 1 malformed", r.Summary)
	}
	if t.Failed() {
		t.Log(dump(r))
	}
}

func (s *sim) find(tb testing.TB, c cart.CartID, id cart.RequestID) int {
	tb.Helper()
	for i, v := range s.in.Validated {
		if v.Key == string(c) && v.Event.Meta().RequestID == id {
			return i
		}
	}
	tb.Fatalf("no validated event %s/%s", c, id)
	return -1
}

// Violations name the records: the doubled event's offsets and the request.
func TestCheckLocatesDuplicate(t *testing.T) {
	s := newSim(t)
	pos := s.send(add("c", "a", "apple", 1))
	s.appendValidated(0)
	r := verify.Check(s.in)
	var dup *verify.Violation
	for i := range r.Violations {
		if r.Violations[i].Kind == verify.KindDuplicateOutcome {
			dup = &r.Violations[i]
		}
	}
	if dup == nil {
		t.Fatalf("no duplicate reported:\n%s", dump(r))
	}
	want := verify.Violation{Kind: verify.KindDuplicateOutcome, CartID: "c", RequestID: "a", Partition: pos.Partition, RequestOffset: pos.Offset,
		Topic: "cart.validated", Offsets: []int64{1}}
	if dup.Kind != want.Kind || dup.CartID != want.CartID || dup.RequestID != want.RequestID || dup.Partition != want.Partition ||
		dup.RequestOffset != want.RequestOffset || dup.Topic != want.Topic || fmt.Sprint(dup.Offsets) != fmt.Sprint(want.Offsets) {
		t.Errorf("duplicate = %+v, want %+v", *dup, want)
	}
	if !strings.Contains(dup.Detail, "cart.validated@0") {
		t.Errorf("detail %q does not name the first outcome", dup.Detail)
	}
}

func TestCheckEmpty(t *testing.T) {
	r := verify.Check(verify.Input{})
	if !r.Clean() || r.Summary.Requests != 0 {
		t.Errorf("empty input: %+v", r)
	}
}

func TestReportJSON(t *testing.T) {
	s := newSim(t)
	s.send(add("c", "a", "apple", 1))
	s.appendValidated(0)
	r := verify.Check(s.in)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var back verify.Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if back.Count(verify.KindDuplicateOutcome) != 1 || back.Violations[0].Kind != r.Violations[0].Kind {
		t.Errorf("round trip lost data: %s", b)
	}
	if !strings.Contains(string(b), `"DuplicateOutcome":1`) {
		t.Errorf("json does not name kinds: %s", b)
	}
}

func TestKindNames(t *testing.T) {
	for _, k := range verify.Kinds() {
		b, err := k.MarshalText()
		if err != nil {
			t.Fatalf("%d: %v", k, err)
		}
		var back verify.Kind
		if err := back.UnmarshalText(b); err != nil || back != k {
			t.Errorf("%s: round trip gave %v, %v", b, back, err)
		}
	}
	if _, err := verify.KindUnspecified.MarshalText(); err == nil {
		t.Error("unspecified kind marshals")
	}
}

// The window boundary is exact: the oldest of the last RequestWindowSize
// recorded ids is a retry, one older is a new request.
func TestCheckWindowBoundary(t *testing.T) {
	for _, tc := range []struct {
		recorded int
		retries  int
	}{{cart.RequestWindowSize, 1}, {cart.RequestWindowSize + 1, 0}} {
		s := newSim(t)
		for i := range tc.recorded {
			s.send(change("w", cart.RequestID(fmt.Sprintf("w-%d", i)), "apple", 1))
			s.send(change("w", "", "apple", 1)) // malformed ids never enter the window
		}
		s.send(change("w", "w-0", "apple", 1))
		r := verify.Check(s.in)
		if !r.Clean() || r.Summary.Retries != tc.retries {
			t.Errorf("%d recorded: retries %d, want %d\n%s", tc.recorded, r.Summary.Retries, tc.retries, dump(r))
		}
	}
}

// Property: whatever the sim writes is clean, and dropping or doubling any
// single outcome record is always reported.
func TestCheckRandomHistories(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	skus := []cart.SKU{"apple", "pear", "plum", "kiwi"}
	for h := range 60 {
		s := newSim(t)
		for range 40 + rng.IntN(60) {
			c := cart.CartID(fmt.Sprintf("c%d", rng.IntN(4)))
			r := cart.RequestID(fmt.Sprintf("r%d", rng.IntN(12)))
			sku, q := skus[rng.IntN(len(skus))], int32(1+rng.IntN(3))
			switch rng.IntN(10) {
			case 0, 1, 2, 3:
				s.send(add(c, r, sku, q))
			case 4, 5:
				s.send(change(c, r, sku, q))
			case 6:
				s.send(remove(c, r, sku))
			case 7:
				s.send(checkout(c, r))
			case 8:
				s.garbage(string(c))
			case 9:
				s.send(add(c, "", sku, q))
			}
		}
		base := s.in
		if r := verify.Check(base); !r.Clean() {
			t.Fatalf("history %d: consistent history reported dirty:\n%s", h, dump(r))
		}
		for i := range base.Validated {
			in := base
			in.Validated = removeAt(slices.Clone(base.Validated), i)
			if verify.Check(in).Clean() {
				t.Fatalf("history %d: dropping validated record %d went unnoticed", h, i)
			}
			v := base.Validated[i]
			v.Offset = 1 << 40
			in.Validated = append(slices.Clone(base.Validated), v)
			if verify.Check(in).Clean() {
				t.Fatalf("history %d: doubling validated record %d went unnoticed", h, i)
			}
		}
		for i := range base.Invalid {
			in := base
			in.Invalid = removeAt(slices.Clone(base.Invalid), i)
			if verify.Check(in).Clean() {
				t.Fatalf("history %d: dropping invalid record %d went unnoticed", h, i)
			}
			v := base.Invalid[i]
			v.Offset = 1 << 40
			in.Invalid = append(slices.Clone(base.Invalid), v)
			if verify.Check(in).Clean() {
				t.Fatalf("history %d: doubling invalid record %d went unnoticed", h, i)
			}
		}
	}
}

// Issue 11: a request in another partition than its key hashes to is
// MALFORMED for the write side, and its outcome carries no key.
func TestCheckMisplacedRequestIsMalformed(t *testing.T) {
	type K = map[verify.Kind]int
	const n = 3
	id := cart.CartID("c-misplaced")
	home := partition.For([]byte(id), n)
	other := (home + 1) % n
	req := verify.Request{Position: verify.Position{Partition: other, Offset: 0}, Key: string(id), Command: add(id, "r1", "apple", 1)}
	malformed := verify.Invalid{Position: verify.Position{Partition: other, Offset: 0},
		Invalid: cart.InvalidRequest{DecidedAt: t0, Rejection: cart.Rejection{Reason: cart.ReasonMalformed, Message: "misplaced"}}}
	for _, c := range []struct {
		name    string
		invalid []verify.Invalid
		want    K
	}{
		{"with its MALFORMED", []verify.Invalid{malformed}, K{}},
		{"without an outcome", nil, K{verify.KindMalformedCount: 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := verify.Check(verify.Input{Partitions: n, Requests: []verify.Request{req}, Invalid: c.invalid})
			if got := violationKinds(r); !maps.Equal(got, c.want) {
				t.Fatalf("violations %v, want %v:\n%s", got, c.want, dump(r))
			}
			if r.Summary.Malformed != 1 || r.Summary.Carts != 0 {
				t.Fatalf("summary %+v: want 1 malformed request and no cart", r.Summary)
			}
		})
	}
}
