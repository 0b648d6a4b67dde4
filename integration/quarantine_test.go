package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/codec"
	"github.com/cartstream/cartstream/internal/gateway"
	"github.com/cartstream/cartstream/internal/partition"
	"github.com/cartstream/cartstream/internal/records"
	"github.com/cartstream/cartstream/internal/replay"
	"github.com/cartstream/cartstream/projection"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// snapshotV2 is a test-only v2 of the snapshot schema: fields added with
// defaults at the top level and inside the window's items.
const snapshotV2File = "../internal/records/testdata/evolution/cart_snapshot.v2.avsc"

// encodeV2 re-encodes a v1 snapshot record as a newer manager would write
// it: with schema v2, its new field set.
func encodeV2(t *testing.T, v1 []byte) []byte {
	t.Helper()
	text, err := os.ReadFile(snapshotV2File)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := codec.ParseSchema(string(text))
	if err != nil {
		t.Fatal(err)
	}
	all, err := codec.LoadFS(records.SchemaFS(), "schemas/*.avsc")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := codec.NewRegistry(append(all, v2)...)
	if err != nil {
		t.Fatal(err)
	}
	f, err := codec.NewSingleObject(reg, codec.Config{})
	if err != nil {
		t.Fatal(err)
	}
	native, err := codec.DecodeAs(f, reg, v1, v2)
	if err != nil {
		t.Fatal(err)
	}
	native.(map[string]any)["written_by"] = map[string]any{"string": "additem-manager v2"}
	out, err := f.Encode(v2, native)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// runProjection runs a projection of e's topics with codec rec in this
// process until the test ends, and waits until it is ready.
func (e *cartEnv) runProjection(t *testing.T, rec *records.Codec, name string) *projection.Server {
	t.Helper()
	p, err := projection.New(projection.Config{
		Client: kafka.ConfigMap{"bootstrap.servers": e.c.Brokers()}, Topics: e.set, Records: rec,
		Logger: testLogger(t).With("service", name),
	})
	if err != nil {
		t.Fatalf("new projection: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("projection %s: %v", name, err)
		}
	})
	select {
	case <-p.Ready():
	case <-p.HistoryReady():
	case err := <-done:
		t.Fatalf("projection %s ended: %v", name, err)
	case <-time.After(time.Minute):
		t.Fatalf("projection %s not ready", name)
	}
	<-p.Ready()
	<-p.HistoryReady()
	return projection.NewServer(p)
}

// getCart polls GetCart until check accepts its answer, within a minute.
func getCart(t *testing.T, s *projection.Server, id cart.CartID, check func(*cartv1.GetCartResponse, error) bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := s.GetCart(withTimeout(t, 5*time.Second), &cartv1.GetCartRequest{CartId: string(id)})
		if check(resp, err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GetCart(%s): %v, %v", id, resp, err)
		}
		time.Sleep(50 * time.Millisecond) // polling the read side with a deadline
	}
}

// latestStateRecord is the last committed cart.state record of id.
func (e *cartEnv) latestStateRecord(t *testing.T, id cart.CartID) []byte {
	t.Helper()
	var last []byte
	for _, m := range readToEnd(t, e.c, e.set.State, e.partitions, "read_committed") {
		if string(m.Key) == string(id) {
			last = m.Value
		}
	}
	return last
}

// Issue 11, item 2: a rolling upgrade. A newer manager wrote a cart's
// snapshot with schema v2; a manager and a projection that were not shipped
// v2 quarantine that cart (requests rejected INVALID_STATE, the v2 record
// never overwritten, GetCart FAILED_PRECONDITION) while the partition's
// other carts flow; a reader shipped v2 reads it; once a manager that reads
// it owns the partition, the cart continues where v2 left it.
func TestRollingUpgradeQuarantinesUnreadableSnapshots(t *testing.T) {
	waitBound(t)
	const parts = 3
	e := newCartEnv(t, parts)
	e.seedCatalog(t, demoProducts()...)
	sick, healthy := cart.CartID("cart-up-sick"), cart.CartID("")
	for i := 0; healthy == ""; i++ {
		if id := cart.CartID(fmt.Sprintf("cart-up-%d", i)); partition.For([]byte(id), parts) == partition.For([]byte(sick), parts) {
			healthy = id
		}
	}
	cfg := e.managerConfig(t, "m1")
	cfg.SessionTimeout = 2 * time.Second
	_, stop := e.startManager(t, cfg)
	e.send(t, e.add(string(sick), "s-1", "SKU-A", 2), e.add(string(healthy), "h-1", "SKU-B", 1))
	e.waitDrained(t, time.Minute)
	stop()

	// The newer manager's snapshot of the sick cart.
	v1 := e.latestStateRecord(t, sick)
	v2 := encodeV2(t, v1)
	e.produce(t, e.set.State, rawRecord{key: []byte(sick), value: v2})

	text, err := os.ReadFile(snapshotV2File)
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := records.New(records.Config{ExtraSchemas: []string{string(text)}})
	if err != nil {
		t.Fatal(err)
	}
	old := e.runProjection(t, e.rec, "projection-old")
	upgraded := e.runProjection(t, shipped, "projection-shipped-v2")

	// An old manager, never shipped v2.
	m2, stop2 := e.startManager(t, e.managerConfig(t, "m2"))
	pos := e.send(t, e.add(string(sick), "s-2", "SKU-C", 1), e.add(string(healthy), "h-2", "SKU-C", 1))
	e.waitDrained(t, time.Minute)
	_, invalid := e.outcomes(t)
	var rejection *cart.InvalidRequest
	for _, o := range invalid {
		if o.invalid.RequestID == "s-2" {
			rejection = o.invalid
		}
	}
	if rejection == nil || rejection.Rejection.Reason != cart.ReasonInvalidState {
		t.Fatalf("request of the quarantined cart: %+v, want INVALID_STATE", rejection)
	}
	if got := e.latestStateRecord(t, sick); !bytes.Equal(got, v2) {
		t.Fatal("the old manager wrote over the snapshot it could not read")
	}
	if st := m2.Stats().Snapshot(); st.Quarantined != 1 || st.QuarantineRejections != 1 {
		t.Errorf("stats: quarantined %d, rejections %d; want 1, 1", st.Quarantined, st.QuarantineRejections)
	}
	// The partition's other cart flowed.
	getCart(t, old, healthy, func(r *cartv1.GetCartResponse, err error) bool {
		return err == nil && len(r.GetCart().GetLines()) == 2
	})
	// The old projection quarantines the cart; the one shipped v2 reads it.
	getCart(t, old, sick, func(_ *cartv1.GetCartResponse, err error) bool {
		return status.Code(err) == codes.FailedPrecondition
	})
	getCart(t, upgraded, sick, func(r *cartv1.GetCartResponse, err error) bool {
		return err == nil && len(r.GetCart().GetLines()) == 1 && r.GetCart().GetLines()[0].GetQuantity() == 2
	})
	// wait_for_outcome answers the rejection from cart.invalid, on both.
	for _, s := range []*projection.Server{old, upgraded} {
		out, err := s.AwaitOutcome(withTimeout(t, 30*time.Second), gateway.OutcomeQuery{
			CartID: sick, RequestID: "s-2", Position: gateway.Position{Partition: pos[0].Partition, Offset: int64(pos[0].Offset)},
		})
		if err != nil || out.GetAccepted() || out.GetRejection().GetReason() != cartv1.ReasonCode_REASON_CODE_INVALID_STATE {
			t.Fatalf("AwaitOutcome of the quarantined cart's request: %v, %v", out, err)
		}
	}
	stop2()

	// A manager shipped v2 owns the partition: the cart continues from the
	// v2 snapshot, and its new (v1) snapshot ends the old readers' quarantine.
	cfg3 := e.managerConfig(t, "m3")
	cfg3.Records = shipped
	m3, _ := e.startManager(t, cfg3)
	e.send(t, e.add(string(sick), "s-3", "SKU-D", 1))
	e.waitDrained(t, time.Minute)
	if st := m3.Stats().Snapshot(); st.Quarantined != 0 {
		t.Errorf("a manager shipped v2 quarantined %d carts", st.Quarantined)
	}
	getCart(t, old, sick, func(r *cartv1.GetCartResponse, err error) bool {
		return err == nil && len(r.GetCart().GetLines()) == 2
	})
}

// Issue 11, item 2: corrupt bytes under a cart's key. The cart is
// quarantined (not restarted empty), and cartctl replay --rewrite, run with
// the managers stopped, repairs it: the next manager continues the cart and
// a live projection picks the repaired snapshot up.
func TestCorruptSnapshotIsQuarantinedUntilRewritten(t *testing.T) {
	e := newCartEnv(t, 3)
	e.seedCatalog(t, demoProducts()...)
	cfg := e.managerConfig(t, "m1")
	cfg.SessionTimeout = 2 * time.Second
	_, stop := e.startManager(t, cfg)
	id := cart.CartID("cart-corrupt")
	e.send(t, e.add(string(id), "c-1", "SKU-A", 3))
	e.waitDrained(t, time.Minute)
	stop()
	e.produce(t, e.set.State, rawRecord{key: []byte(id), value: []byte("\xc3\x01 not a snapshot")})
	read := e.runProjection(t, e.rec, "projection")

	_, stop2 := e.startManager(t, cfg)
	e.send(t, e.add(string(id), "c-2", "SKU-B", 1))
	e.waitDrained(t, time.Minute)
	getCart(t, read, id, func(_ *cartv1.GetCartResponse, err error) bool {
		return status.Code(err) == codes.FailedPrecondition
	})
	stop2()
	waitGroupEmpty(t, e)

	rw, err := rewriteAll(t, e)
	if err != nil || rw != 1 {
		t.Fatalf("rewrite: %d written, %v", rw, err)
	}
	// The live projection takes the repair (same request offset as the
	// last snapshot that decoded).
	getCart(t, read, id, func(r *cartv1.GetCartResponse, err error) bool {
		return err == nil && len(r.GetCart().GetLines()) == 1 && r.GetCart().GetLines()[0].GetQuantity() == 3
	})
	_, _ = e.startManager(t, cfg)
	e.send(t, e.add(string(id), "c-3", "SKU-C", 1))
	e.waitDrained(t, time.Minute)
	getCart(t, read, id, func(r *cartv1.GetCartResponse, err error) bool {
		return err == nil && len(r.GetCart().GetLines()) == 2
	})
}

// waitGroupEmpty waits until the manager group has no members (static
// members stay until their session timeout), as a rewrite requires.
func waitGroupEmpty(t *testing.T, e *cartEnv) {
	t.Helper()
	adm := e.c.Admin(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, _, err := replay.GroupMembers(withTimeout(t, 10*time.Second), adm, 10*time.Second, e.group)
		if err == nil && n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("manager group still has %d members (%v)", n, err)
		}
		time.Sleep(200 * time.Millisecond) // polling the group with a deadline
	}
}

// rewriteAll runs cartctl replay --rewrite's code over e's topics.
func rewriteAll(t *testing.T, e *cartEnv) (int, error) {
	t.Helper()
	r, err := replay.Rewrite(withTimeout(t, time.Minute), e.replayConfig(t), replay.RewriteOptions{ManagerGroup: e.group, Encoder: e.rec})
	if err != nil {
		return 0, err
	}
	if !r.Complete {
		return r.Written, errors.New("rewrite incomplete")
	}
	return r.Written, nil
}
