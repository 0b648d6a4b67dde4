package bench

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/records"
)

// outcome is what one side (manager or peer) made of one request, as a
// read_committed reader of its validated and invalid topics sees it.
type outcome struct {
	Accepted  bool
	Reason    cart.Reason
	EventType string // the event-type header
	// Detail is the decoded record minus what may differ between two
	// correct deciders (the decision time, the message): an accepted
	// request's whole event, a rejection's cart and kind.
	Detail string
	// Count is how many outcome records carried the request id; exactly
	// one is right.
	Count int
}

func (o outcome) String() string {
	if o.Accepted {
		return fmt.Sprintf("accepted %s", o.Detail)
	}
	return fmt.Sprintf("rejected %s (%s %s)", o.Reason, o.EventType, o.Detail)
}

// eventDigest is ev without its DecidedAt, printed: two deciders agree
// on an accepted request when their digests are equal.
func eventDigest(ev cart.Event) string {
	switch v := ev.(type) {
	case cart.AddItemValidatedRequest:
		v.DecidedAt = time.Time{}
		return fmt.Sprintf("%T%+v", v, v)
	case cart.RemoveItemValidatedRequest:
		v.DecidedAt = time.Time{}
		return fmt.Sprintf("%T%+v", v, v)
	case cart.ChangeQuantityValidatedRequest:
		v.DecidedAt = time.Time{}
		return fmt.Sprintf("%T%+v", v, v)
	case cart.CartCheckedOut:
		v.DecidedAt = time.Time{}
		return fmt.Sprintf("%T%+v", v, v)
	}
	return fmt.Sprintf("%T", ev)
}

// decodeOutcome reads one outcome record of the validated (accepted) or
// the invalid topic. A record our codec cannot read is an outcome too,
// one that matches nothing: the peer wrote something our readers refuse.
func decodeOutcome(rec *records.Codec, accepted bool, msg *kafka.Message) outcome {
	o := outcome{Accepted: accepted, EventType: headerOf(msg, records.HeaderEventType), Count: 1}
	if accepted {
		ev, err := rec.DecodeValidated(msg.Value)
		if err != nil {
			o.Detail = "undecodable event: " + err.Error()
			return o
		}
		o.Detail = eventDigest(ev)
		return o
	}
	inv, err := rec.DecodeInvalid(msg.Value)
	if err != nil {
		o.Detail = "undecodable rejection: " + err.Error()
		return o
	}
	o.Reason = inv.Rejection.Reason
	o.Detail = fmt.Sprintf("cart %s kind %s", inv.CartID, inv.Kind)
	return o
}

func headerOf(msg *kafka.Message, key string) string {
	for _, h := range msg.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// readOutcomes reads validated and invalid read_committed from the start
// to their last stable offsets and returns each request id's outcome.
func (e *env) readOutcomes(ctx context.Context, validated, invalid string) (map[string]outcome, error) {
	out := map[string]outcome{}
	err := e.readAll(ctx, []string{validated, invalid}, func(msg *kafka.Message) {
		o := decodeOutcome(e.rec, *msg.TopicPartition.Topic == validated, msg)
		id := headerOf(msg, records.HeaderRequestID)
		if prev, dup := out[id]; dup {
			o.Count += prev.Count
		}
		out[id] = o
	})
	return out, err
}

// readSnapshots reads a topic of CartSnapshots (the manager's cart.state,
// the peer's changelog) to its end and returns the newest snapshot of each
// cart, printed without its times.
func (e *env) readSnapshots(ctx context.Context, topic string) (map[string]string, error) {
	out := map[string]string{}
	err := e.readAll(ctx, []string{topic}, func(msg *kafka.Message) {
		s, err := e.rec.DecodeSnapshot(msg.Value)
		if err != nil {
			out[string(msg.Key)] = "undecodable snapshot: " + err.Error()
			return
		}
		s.Cart.UpdatedAt, s.Cart.CheckedOutAt = time.Time{}, time.Time{}
		out[string(msg.Key)] = fmt.Sprintf("%+v", s)
	})
	return out, err
}

// readAll reads names read_committed from the start to their last stable
// offsets at the call, passing each record to fn.
func (e *env) readAll(ctx context.Context, names []string, fn func(*kafka.Message)) error {
	cons, err := kafka.NewConsumer(e.client(kafka.ConfigMap{
		"group.id": "bench-" + e.runID + "-peer-reader", "isolation.level": "read_committed",
		"enable.auto.commit": false, "fetch.wait.max.ms": 50,
	}))
	if err != nil {
		return fmt.Errorf("topic reader: %w", err)
	}
	defer cons.Close()
	var tps []kafka.TopicPartition
	ends := map[string]map[int32]int64{}
	for _, t := range names {
		if ends[t], err = e.endOffsets(ctx, t, kafka.IsolationLevelReadCommitted); err != nil {
			return err
		}
		for i := range e.cfg.Partitions {
			tps = append(tps, kafka.TopicPartition{Topic: &t, Partition: int32(i), Offset: kafka.OffsetBeginning})
		}
	}
	if err := cons.Assign(tps); err != nil {
		return fmt.Errorf("topic reader assign: %w", err)
	}
	for polls := 0; ; polls++ {
		if polls%256 == 0 {
			done, err := readToEnd(cons, tps, ends)
			if err != nil || done {
				return err
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("read %v: %w", names, ctx.Err())
		}
		switch ev := cons.Poll(100).(type) {
		case *kafka.Message:
			fn(ev)
		case kafka.Error:
			if ev.IsFatal() {
				return fmt.Errorf("topic reader: %w", ev)
			}
		case nil:
			polls = -1 // idle: check the positions at once
		}
	}
}

// readToEnd reports whether the consumer's position reached ends on every
// partition (a read_committed position may pass the last stable offset
// only by a transaction marker).
func readToEnd(cons *kafka.Consumer, tps []kafka.TopicPartition, ends map[string]map[int32]int64) (bool, error) {
	pos, err := cons.Position(slices.Clone(tps))
	if err != nil {
		return false, fmt.Errorf("outcome reader position: %w", err)
	}
	for _, tp := range pos {
		end := ends[*tp.Topic][tp.Partition]
		if end > 0 && (tp.Offset < 0 || int64(tp.Offset) < end) {
			return false, nil
		}
	}
	return true, nil
}

// PeerAgreement is the request-by-request comparison of the manager's
// outcomes with one peer run's, over the same input.
type PeerAgreement struct {
	Phase            string `json:"phase"`
	CommitIntervalMs int    `json:"commit_interval_ms"`
	Requests         int    `json:"requests"`
	ManagerAccepted  int    `json:"manager_accepted"`
	ManagerRejected  int    `json:"manager_rejected"`
	PeerAccepted     int    `json:"peer_accepted"`
	PeerRejected     int    `json:"peer_rejected"`
	Mismatches       int    `json:"mismatches"`
	// Carts and CartMismatches compare each cart's last snapshot, the
	// manager's in cart.state with the peer's in its store's changelog
	// (drain only): cart, request offset and request window, times aside.
	Carts          int      `json:"carts,omitempty"`
	CartMismatches int      `json:"cart_mismatches"`
	Examples       []string `json:"examples,omitempty"`
}

// peerMismatchExamples is how many disagreements a result names.
const peerMismatchExamples = 5

// compareOutcomes compares, for every request id either side knows, the
// manager's outcome with the peer's: disposition, reason, event type and
// detail must be equal, and each side must have written exactly one.
func compareOutcomes(manager, peer map[string]outcome) PeerAgreement {
	ids := unionKeys(manager, peer)
	a := PeerAgreement{Requests: len(ids)}
	for _, id := range ids {
		m, inM := manager[id]
		p, inP := peer[id]
		count(&a.ManagerAccepted, &a.ManagerRejected, m, inM)
		count(&a.PeerAccepted, &a.PeerRejected, p, inP)
		var why string
		switch {
		case !inM:
			why = "manager: none; peer: " + p.String()
		case !inP:
			why = "manager: " + m.String() + "; peer: none"
		case m.Count != 1 || p.Count != 1:
			why = fmt.Sprintf("outcome records: manager %d, peer %d", m.Count, p.Count)
		case m.Accepted != p.Accepted || m.Reason != p.Reason || m.EventType != p.EventType || m.Detail != p.Detail:
			why = "manager: " + m.String() + "; peer: " + p.String()
		default:
			continue
		}
		a.Mismatches++
		if len(a.Examples) < peerMismatchExamples {
			a.Examples = append(a.Examples, "request "+id+": "+why)
		}
	}
	return a
}

func count(acc, rej *int, o outcome, ok bool) {
	switch {
	case !ok:
	case o.Accepted:
		*acc++
	default:
		*rej++
	}
}

// compareSnapshots adds to a the comparison of the manager's last snapshot
// of every cart with the peer's.
func compareSnapshots(a *PeerAgreement, manager, peer map[string]string) {
	ids := unionKeys(manager, peer)
	a.Carts = len(ids)
	for _, id := range ids {
		m, p := manager[id], peer[id]
		if m == p {
			continue
		}
		a.CartMismatches++
		if len(a.Examples) < 2*peerMismatchExamples {
			a.Examples = append(a.Examples, fmt.Sprintf("cart %s: manager's snapshot %s; peer's %s", id, orNone(m), orNone(p)))
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// unionKeys is every key of either map, sorted.
func unionKeys[V any](a, b map[string]V) []string {
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
