package integration

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"google.golang.org/grpc/status"

	"github.com/cartstream/cartstream/cart"
	keyhash "github.com/cartstream/cartstream/internal/partition"
	"github.com/cartstream/cartstream/internal/verify"
	"github.com/cartstream/cartstream/projection"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
	"github.com/cartstream/cartstream/validation"
)

// Issue 14, item 4: the cart lifecycle against the real broker.

// cartOn returns an id with prefix that hashes to partition p of n.
func cartOn(prefix string, p int32, n int) cart.CartID {
	for i := 0; ; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		if keyhash.For([]byte(id), n) == p {
			return cart.CartID(id)
		}
	}
}

// latestState reads cart.state and returns each cart's latest record
// (a nil Value is a tombstone).
func (e *cartEnv) latestState(t *testing.T) map[cart.CartID]*kafka.Message {
	t.Helper()
	out := map[cart.CartID]*kafka.Message{}
	for _, m := range readToEnd(t, e.c, e.set.State, e.partitions, "read_committed") {
		out[cart.CartID(m.Key)] = m
	}
	return out
}

// eventsOf counts the validated events of type et per cart.
func eventsOf(validated []outcomeRecord, et cart.EventType) map[cart.CartID]int {
	out := map[cart.CartID]int{}
	for _, v := range validated {
		if v.event.EventType() == et {
			out[v.event.Meta().CartID]++
		}
	}
	return out
}

// requestsOf counts the cart.requests records of event type et.
func (e *cartEnv) requestsOf(t *testing.T, et cart.EventType) []*kafka.Message {
	t.Helper()
	var out []*kafka.Message
	for _, m := range readToEnd(t, e.c, e.set.Requests, e.partitions, "read_committed") {
		if headerMap(m)["event-type"] == et.String() {
			out = append(out, m)
		}
	}
	return out
}

// waitProcessed waits until the manager group has committed past the last
// request of every partition. waitDrained compares with the end offsets,
// which a merge's transaction leaves one past the last request: the
// manager writes the MergeInto to cart.requests, so that partition ends
// with the transaction's commit marker, which no consumer ever processes.
func (e *cartEnv) waitProcessed(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		last := map[int32]int64{}
		for _, m := range readToEnd(t, e.c, e.set.Requests, e.partitions, "read_committed") {
			last[m.TopicPartition.Partition] = int64(m.TopicPartition.Offset)
		}
		committed, err := e.committed()
		done := err == nil
		for p, o := range last {
			if committed[p] <= o {
				done = false
			}
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("manager group %s has not processed every request after %s (committed %v, last %v, err %v)", e.group, timeout, committed, last, err)
		}
		time.Sleep(200 * time.Millisecond) // polling the group's offsets with a deadline
	}
}

// verifyClean runs the verifier (cartctl verify) over e's topics.
func (e *cartEnv) verifyClean(t *testing.T) {
	t.Helper()
	in, err := verify.Read(withTimeout(t, time.Minute), verify.Config{Client: e.client("verify"), Topics: e.set, Decoder: e.rec, IdleTimeout: time.Minute, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("verify.Read: %v", err)
	}
	if r := verify.Check(in); !r.Clean() {
		t.Errorf("verifier: %d violations: %v", len(r.Violations), r.Violations)
	}
}

// A cart untouched for the TTL expires: a CartExpired event, a tombstone in
// cart.state, NOT_FOUND on the read side, and both sides' memory freed; the
// id then starts over as a new cart. A cart touched within its TTL lives,
// and an expiry decided just after an AddItem is rejected NOT_EXPIRED.
func TestCartExpiresAfterTTL(t *testing.T) {
	e := newCartEnv(t, 3)
	e.seedCatalog(t, demoProducts()...)
	cfg := e.managerConfig(t, "m1")
	cfg.CartTTL, cfg.ExpiryScan = 4*time.Second, 200*time.Millisecond
	m, _ := e.startManager(t, cfg)
	run := e.startProjection(t)
	run.waitServing(t, time.Minute)

	e.send(t, e.add("exp-1", "x1", "SKU-A", 1), e.add("live-1", "y0", "SKU-B", 1))
	waitFor(t, time.Minute, "both carts on the read side", func() bool {
		_, err1 := run.p.Cart("exp-1")
		_, err2 := run.p.Cart("live-1")
		return err1 == nil && err2 == nil
	})
	// exp-1 is left alone; live-1 is touched every half second until
	// exp-1 is gone from the read side.
	touches := 0
	lastTouch := time.Now()
	waitFor(t, time.Minute, "exp-1 expired on the read side", func() bool {
		if time.Since(lastTouch) > 500*time.Millisecond {
			touches++
			e.send(t, e.change("live-1", fmt.Sprintf("y%d", touches), "SKU-B", int32(touches%5+1)))
			lastTouch = time.Now()
		}
		_, err := run.p.Cart("exp-1")
		return err != nil
	})
	if _, err := run.p.Cart("exp-1"); !isNotFound(err) {
		t.Fatalf("expired cart on the read side: %v, want NOT_FOUND", err)
	}
	if _, err := run.p.Cart("live-1"); err != nil {
		t.Fatalf("the cart touched within its TTL: %v", err)
	}
	waitFor(t, 30*time.Second, "the manager to hold one cart", func() bool { return m.Stats().Carts.Load() == 1 })
	if n := run.p.Stats().Carts; n != 1 {
		t.Errorf("projection holds %d carts, want 1 (live-1)", n)
	}
	if n := m.Stats().Expired.Load(); n != 1 {
		t.Errorf("Stats.Expired = %d, want 1", n)
	}
	e.waitProcessed(t, time.Minute)
	st := e.latestState(t)
	if r := st["exp-1"]; r == nil || r.Value != nil {
		t.Fatalf("cart.state's latest record of exp-1 is not a tombstone: %v", r)
	}
	validated, _ := e.outcomes(t)
	if got := eventsOf(validated, cart.EventTypeCartExpired); got["exp-1"] != 1 || got["live-1"] != 0 {
		t.Fatalf("CartExpired per cart %v, want exp-1 once, live-1 never", got)
	}
	for _, v := range validated {
		if ex, ok := v.event.(cart.CartExpired); ok && (ex.RequestID != cart.ExpireRequestID(1) || v.headers["event-type"] != "CartExpired") {
			t.Errorf("expiry event %+v, headers %v", ex, v.headers)
		}
	}

	// The id starts over; an expiry request decided just after an AddItem
	// (a zombie's, or a scan's that lost the race) is rejected NOT_EXPIRED.
	e.send(t, e.add("exp-1", "x2", "SKU-C", 2), e.add("race-1", "r1", "SKU-A", 1),
		cart.ExpireCart{CartID: "race-1", RequestID: "expire-stale", RequestedAt: e.now(),
			IdleSince: time.Now().Add(-time.Hour).UTC(), TTL: cfg.CartTTL})
	e.waitProcessed(t, time.Minute)
	validated, invalid := e.outcomes(t)
	restarted := false
	for _, v := range validated {
		if ev, ok := v.event.(cart.AddItemValidatedRequest); ok && ev.RequestID == "x2" {
			restarted = ev.Version == 1
		}
	}
	if !restarted {
		t.Error("exp-1's AddItem after the expiry did not start a new cart at version 1")
	}
	raced := false
	for _, v := range invalid {
		if v.invalid.RequestID == "expire-stale" {
			raced = v.invalid.Rejection.Reason == cart.ReasonNotExpired && v.invalid.Kind == cart.KindExpireCart
		}
	}
	if !raced {
		t.Error("the expiry decided after an AddItem was not rejected NOT_EXPIRED")
	}
	// Left alone, every cart expires: both sides hold nothing.
	waitFor(t, time.Minute, "every cart expired on both sides", func() bool {
		return m.Stats().Carts.Load() == 0 && run.p.Stats().Carts == 0
	})
	e.waitProcessed(t, time.Minute)
	e.verifyClean(t)
}

func isNotFound(err error) bool { return errors.Is(err, projection.ErrNotFound) }

// Issue 14: a cart whose every request was rejected (version 0) never
// expired: the scan skipped it and the domain refused its expiry, so it
// stayed in the manager's and the projection's memory and on cart.state
// for good. It now expires after its TTL like any other (CartExpired at
// version 1, a tombstone for its snapshot), while a cart that keeps being
// rejected stays.
func TestRejectedOnlyCartExpires(t *testing.T) {
	e := newCartEnv(t, 3)
	e.seedCatalog(t, demoProducts()...)
	cfg := e.managerConfig(t, "m1")
	cfg.CartTTL, cfg.ExpiryScan = 3*time.Second, 200*time.Millisecond
	m, stopManager := e.startManager(t, cfg)
	run := e.startProjection(t)
	run.waitServing(t, time.Minute)

	e.send(t, e.add("rej-1", "r1", "NO-SUCH-SKU", 1), e.add("rej-2", "q0", "NO-SUCH-SKU", 1))
	waitFor(t, time.Minute, "both rejected carts in the manager's memory", func() bool { return m.Stats().Carts.Load() == 2 })
	// rej-2 is rejected again every half second: touched, it stays.
	touches := 0
	lastTouch := time.Now()
	waitFor(t, time.Minute, "rej-1 gone from the manager's memory", func() bool {
		if time.Since(lastTouch) > 500*time.Millisecond {
			touches++
			e.send(t, e.add("rej-2", fmt.Sprintf("q%d", touches), "NO-SUCH-SKU", 1))
			lastTouch = time.Now()
		}
		return m.Stats().Carts.Load() == 1
	})
	e.waitProcessed(t, time.Minute)
	// The touches stop here: so must the scan, or rej-2 expires, rightly,
	// while the checks below read the topics.
	stopManager()
	st := e.latestState(t)
	if r := st["rej-1"]; r == nil || r.Value != nil {
		t.Fatalf("cart.state's latest record of rej-1 is not a tombstone: %v", r)
	}
	if r := st["rej-2"]; r == nil || r.Value == nil {
		t.Fatalf("rej-2, touched within its TTL, lost its snapshot: %v", r)
	}
	validated, _ := e.outcomes(t)
	if got := eventsOf(validated, cart.EventTypeCartExpired); got["rej-1"] != 1 || got["rej-2"] != 0 {
		t.Fatalf("CartExpired per cart %v, want rej-1 once, rej-2 never", got)
	}
	for _, v := range validated {
		if ex, ok := v.event.(cart.CartExpired); ok && (ex.Version != 1 || !strings.HasPrefix(string(ex.RequestID), "expire-v0-o")) {
			t.Errorf("expiry of a cart without events: %+v", ex)
		}
	}
	// Left alone, rej-2 goes too; both sides hold nothing.
	m, _ = e.startManager(t, cfg)
	waitFor(t, time.Minute, "every cart expired on both sides", func() bool {
		return m.Stats().Carts.Load() == 0 && run.p.Stats().Carts == 0
	})
	e.waitProcessed(t, time.Minute)
	e.verifyClean(t)
}

// partitionFault aborts every commit of a transaction that holds partition
// part while on is set: the target half of a merge cannot commit.
type partitionFault struct {
	part int32
	on   atomic.Bool
	hits atomic.Int64
}

func (f *partitionFault) Inject(site validation.FaultSite) validation.Fault {
	if site.Point == validation.FaultCommit && f.on.Load() && slices.Contains(site.Partitions, f.part) {
		f.hits.Add(1)
		return validation.FaultAbortable
	}
	return validation.FaultNone
}

// MergeCarts across two partitions happens exactly once, also when the
// manager stops after the guest cart's half committed and before the
// target's half could: the next manager finishes it, once.
func TestMergeCartsAcrossPartitionsSurvivesRestart(t *testing.T) {
	waitBound(t)
	e := newCartEnv(t, 3)
	e.seedCatalog(t, demoProducts()...)
	guest, target := cartOn("guest", 0, 3), cartOn("mine", 1, 3)
	fault := &partitionFault{part: 1}
	cfg := e.managerConfig(t, "m1")
	cfg.Faults = fault
	_, stop1 := e.startManager(t, cfg)
	g1 := e.add(string(guest), "g1", "SKU-A", 6)
	g1.CustomerID = "guest-7"
	g2 := e.add(string(guest), "g2", "SKU-B", 2)
	g2.CustomerID = "guest-7"
	t1 := e.add(string(target), "t1", "SKU-A", 7)
	t1.CustomerID = "cust-7"
	e.send(t, g1, g2, t1)
	e.waitProcessed(t, time.Minute)

	fault.on.Store(true)
	merge := cart.MergeCarts{CartID: guest, RequestID: "mc-1", CustomerID: "cust-7", RequestedAt: e.now(), TargetCartID: target}
	e.send(t, merge)
	waitFor(t, time.Minute, "the guest half committed and the target half failing", func() bool {
		v, _ := e.outcomes(t)
		return eventsOf(v, cart.EventTypeCartMerged)[guest] == 1 && fault.hits.Load() > 0
	})
	stop1()
	if v, _ := e.outcomes(t); eventsOf(v, cart.EventTypeCartMergedInto)[target] != 0 {
		t.Fatal("the target half committed despite the fault")
	}

	e.startManager(t, e.managerConfig(t, "m2"))
	e.send(t, merge) // a client's retry: a duplicate, no second merge
	e.waitProcessed(t, time.Minute)
	checkMergedOnce(t, e, guest, target)
	e.verifyClean(t)
}

// checkMergedOnce checks one merge of guest into target: one CartMerged,
// one MergeInto request, one CartMergedInto, and the target's lines
// combined under the caps (SKU-A 7+6 clamped to its cap of 10).
func checkMergedOnce(t *testing.T, e *cartEnv, guest, target cart.CartID) {
	t.Helper()
	validated, _ := e.outcomes(t)
	if n := eventsOf(validated, cart.EventTypeCartMerged)[guest]; n != 1 {
		t.Errorf("%d CartMerged of %s, want 1", n, guest)
	}
	if n := eventsOf(validated, cart.EventTypeCartMergedInto)[target]; n != 1 {
		t.Errorf("%d CartMergedInto of %s, want 1", n, target)
	}
	reqs := e.requestsOf(t, cart.EventTypeMergeIntoRequest)
	if len(reqs) != 1 || reqs[0].TopicPartition.Partition != keyhash.For([]byte(target), e.partitions) {
		t.Fatalf("%d MergeInto requests, want 1 in the target's partition", len(reqs))
	}
	st := e.latestState(t)
	decode := func(id cart.CartID) cart.CartState {
		s, err := e.rec.DecodeSnapshot(st[id].Value)
		if err != nil {
			t.Fatalf("snapshot of %s: %v", id, err)
		}
		return s.Cart
	}
	g, tg := decode(guest), decode(target)
	if g.Status != cart.StatusMerged || g.MergedInto != target || len(g.Lines) != 0 {
		t.Errorf("guest cart %+v, want MERGED into %s", g, target)
	}
	want := []cart.Line{
		{SKU: "SKU-A", Name: "Espresso cup", UnitPrice: eur(1999), Quantity: 10},
		{SKU: "SKU-B", Name: "Saucer", UnitPrice: eur(500), Quantity: 2},
	}
	if !slices.Equal(tg.Lines, want) || tg.CustomerID != "cust-7" {
		t.Errorf("target cart %+v, want lines %+v", tg, want)
	}
}

// Through the gateway: ClearCart and MergeCarts answer with outcomes like
// the other commands, ListCarts lists a customer's open carts, and the
// history shows what happened.
func TestLifecycleThroughGateway(t *testing.T) {
	e := newCartEnv(t, 3)
	e.seedCatalog(t, demoProducts()...)
	e.startManager(t, e.managerConfig(t, "m1"))
	run := e.startProjection(t)
	run.waitServing(t, time.Minute)
	srv := projection.NewServer(run.p)
	gw := e.startGatewayWith(t, srv, srv, nil)
	ctx := withTimeout(t, 2*time.Minute)

	call := func(what string, out *cartv1.CommandOutcome, err error) *cartv1.CommandOutcome {
		t.Helper()
		if err != nil || out == nil {
			t.Fatalf("%s: outcome %v, err %v", what, out, err)
		}
		return out
	}
	add := func(id, req, customer, sku string, q int32) {
		r, err := gw.AddItem(ctx, &cartv1.AddItemRequest{CartId: id, RequestId: req, CustomerId: customer, Sku: sku, Quantity: q, WaitForOutcome: true})
		if o := call("AddItem "+req, r.GetOutcome(), err); !o.GetAccepted() {
			t.Fatalf("AddItem %s rejected: %v", req, o.GetRejection())
		}
	}
	add("l-1", "a1", "cust-L", "SKU-A", 1)
	add("l-2", "a2", "cust-L", "SKU-B", 2)
	add("l-3", "a3", "cust-L", "SKU-C", 1)
	add("o-1", "a4", "cust-O", "SKU-C", 1)
	co, err := gw.Checkout(ctx, &cartv1.CheckoutRequest{CartId: "l-3", RequestId: "co3", CustomerId: "cust-L", WaitForOutcome: true})
	if !call("Checkout", co.GetOutcome(), err).GetAccepted() {
		t.Fatal("checkout rejected")
	}

	// ListCarts: the open carts, newest first; not the checked-out one,
	// not another customer's.
	lc, err := gw.ListCarts(ctx, &cartv1.ListCartsRequest{CustomerId: "cust-L"})
	if err != nil {
		t.Fatal(err)
	}
	if ids := cartIDs(lc.GetCarts()); !slices.Equal(ids, []string{"l-2", "l-1"}) {
		t.Fatalf("ListCarts(cust-L) = %v, want [l-2 l-1]", ids)
	}
	if _, err := gw.ListCarts(ctx, &cartv1.ListCartsRequest{CustomerId: "bad id"}); statusCode(err) != "InvalidArgument" {
		t.Errorf("ListCarts of a malformed id: %v", err)
	}

	// ClearCart: accepted with the empty cart; again: EMPTY_CART; another
	// customer's: CUSTOMER_MISMATCH.
	cl, err := gw.ClearCart(ctx, &cartv1.ClearCartRequest{CartId: "l-1", RequestId: "c1", CustomerId: "cust-L", WaitForOutcome: true})
	if o := call("ClearCart", cl.GetOutcome(), err); !o.GetAccepted() || len(o.GetCart().GetLines()) != 0 || o.GetCart().GetVersion() != 2 {
		t.Fatalf("ClearCart: %v", o)
	}
	cl, err = gw.ClearCart(ctx, &cartv1.ClearCartRequest{CartId: "l-1", RequestId: "c2", CustomerId: "cust-L", WaitForOutcome: true})
	if o := call("ClearCart again", cl.GetOutcome(), err); o.GetRejection().GetReason() != cartv1.ReasonCode_REASON_CODE_EMPTY_CART {
		t.Fatalf("ClearCart of an empty cart: %v", o)
	}
	cl, err = gw.ClearCart(ctx, &cartv1.ClearCartRequest{CartId: "o-1", RequestId: "c3", CustomerId: "cust-L", WaitForOutcome: true})
	if o := call("ClearCart foreign", cl.GetOutcome(), err); o.GetRejection().GetReason() != cartv1.ReasonCode_REASON_CODE_CUSTOMER_MISMATCH {
		t.Fatalf("ClearCart of another customer's cart: %v", o)
	}

	// MergeCarts: the guest cart MERGED, the target combined.
	add("guest-9", "g1", "guest-9", "SKU-D", 3)
	mc, err := gw.MergeCarts(ctx, &cartv1.MergeCartsRequest{CartId: "guest-9", RequestId: "m1", CustomerId: "cust-L", TargetCartId: "l-2", WaitForOutcome: true})
	o := call("MergeCarts", mc.GetOutcome(), err)
	if !o.GetAccepted() || o.GetCart().GetStatus() != cartv1.CartStatus_CART_STATUS_MERGED || o.GetCart().GetMergedInto() != "l-2" {
		t.Fatalf("MergeCarts: %v", o)
	}
	var target *cartv1.Cart
	waitFor(t, time.Minute, "the target half", func() bool {
		r, err := gw.GetCart(ctx, &cartv1.GetCartRequest{CartId: "l-2"})
		target = r.GetCart()
		return err == nil && len(target.GetLines()) == 2
	})
	if target.GetItemCount() != 5 {
		t.Errorf("target after merge: %v", target)
	}
	mc, err = gw.MergeCarts(ctx, &cartv1.MergeCartsRequest{CartId: "guest-9", RequestId: "m2", CustomerId: "cust-L", TargetCartId: "l-2", WaitForOutcome: true})
	if o := call("MergeCarts again", mc.GetOutcome(), err); o.GetRejection().GetReason() != cartv1.ReasonCode_REASON_CODE_CART_MERGED {
		t.Fatalf("second merge: %v", o)
	}
	if _, err := gw.MergeCarts(ctx, &cartv1.MergeCartsRequest{CartId: "guest-9", RequestId: "m3", CustomerId: "cust-L", TargetCartId: "guest-9"}); statusCode(err) != "InvalidArgument" {
		t.Errorf("merge into itself: %v", err)
	}
	h, err := gw.GetCartHistory(ctx, &cartv1.GetCartHistoryRequest{CartId: "l-2"})
	if err != nil {
		t.Fatal(err)
	}
	var mi *cartv1.MergedInto
	for _, en := range h.GetEntries() {
		if x := en.GetMergedInto(); x != nil {
			mi = x
		}
	}
	if mi == nil || mi.GetSourceCartId() != "guest-9" || len(mi.GetLines()) != 1 {
		t.Errorf("target history: %v", h.GetEntries())
	}

	// A merge into a checked-out cart is refused by the target and comes
	// back: the guest cart is open again with its lines.
	add("guest-10", "g2", "guest-10", "SKU-B", 4)
	mc, err = gw.MergeCarts(ctx, &cartv1.MergeCartsRequest{CartId: "guest-10", RequestId: "m4", CustomerId: "cust-L", TargetCartId: "l-3", WaitForOutcome: true})
	if o := call("MergeCarts into a checked-out cart", mc.GetOutcome(), err); !o.GetAccepted() {
		t.Fatalf("guest half: %v", o)
	}
	var back *cartv1.Cart
	waitFor(t, time.Minute, "the lines to come back", func() bool {
		r, err := gw.GetCart(ctx, &cartv1.GetCartRequest{CartId: "guest-10"})
		back = r.GetCart()
		return err == nil && back.GetStatus() == cartv1.CartStatus_CART_STATUS_OPEN && back.GetVersion() == 3
	})
	if back.GetItemCount() != 4 || back.GetMergedInto() != "" {
		t.Errorf("guest cart after a refused merge: %v", back)
	}
	var last *cartv1.MergeReturned
	waitFor(t, time.Minute, "the return in the guest cart's history (the history index follows cart.validated)", func() bool {
		h, err := gw.GetCartHistory(ctx, &cartv1.GetCartHistoryRequest{CartId: "guest-10"})
		if err != nil || len(h.GetEntries()) == 0 {
			return false
		}
		last = h.GetEntries()[len(h.GetEntries())-1].GetMergeReturned()
		return last != nil
	})
	if last.GetTargetCartId() != "l-3" || last.GetReason() != cartv1.ReasonCode_REASON_CODE_CART_CHECKED_OUT || len(last.GetLines()) != 1 {
		t.Errorf("return entry: %v", last)
	}
	e.waitProcessed(t, time.Minute)
	e.verifyClean(t)
}

func cartIDs(cs []*cartv1.Cart) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.GetCartId()
	}
	return out
}

func statusCode(err error) string { return status.Code(err).String() }
