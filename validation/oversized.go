package validation

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// requestPos is a request's position in cart.requests.
type requestPos struct {
	partition int32
	offset    kafka.Offset
}

// outcomeOf is the request an outcome answers: the outcome sits in its
// request's partition and names its offset in the request-offset header.
// Snapshots carry no such header: they answer no single request. (Delivery
// reports carry no headers: see noteDelivery.)
func outcomeOf(msg *kafka.Message) (requestPos, bool) {
	v, ok := firstHeader(msg, HeaderRequestOffset)
	if !ok {
		return requestPos{}, false
	}
	off, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return requestPos{}, false
	}
	return requestPos{msg.TopicPartition.Partition, kafka.Offset(off)}, true
}

// oversized remembers the requests whose outcome was refused as too large,
// by Produce or by the broker in a delivery report. Their transaction can
// only abort; when such a request is processed again it gets a minimal
// MALFORMED (no raw bytes, a fixed message) in place of its outcome and
// changes no cart, so the partition moves on instead of aborting forever.
// It lives on the Manager, so a request retried after a new session is
// still known.
type oversized struct {
	mu  sync.Mutex
	set map[requestPos]struct{}
	// n is len(set), read without the lock: take is on every record's
	// path, and the set is almost always empty.
	n atomic.Int64
}

// maxOversized bounds the set: entries of partitions this replica lost are
// never taken. Past it the set starts again; a request forgotten that way
// costs one more abort.
const maxOversized = 1 << 12

func (o *oversized) add(p int32, off kafka.Offset) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.set == nil || len(o.set) >= maxOversized {
		o.set = map[requestPos]struct{}{}
	}
	o.set[requestPos{p, off}] = struct{}{}
	o.n.Store(int64(len(o.set)))
}

// take reports whether the request's outcome was refused, and forgets it.
func (o *oversized) take(p int32, off kafka.Offset) bool {
	if o.n.Load() == 0 {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	k := requestPos{p, off}
	_, ok := o.set[k]
	delete(o.set, k)
	o.n.Store(int64(len(o.set)))
	return ok
}

// isTooLarge tells a size refusal: MSG_SIZE_TOO_LARGE (from Produce, or
// the broker's MESSAGE_TOO_LARGE) or RECORD_LIST_TOO_LARGE.
func isTooLarge(err error) bool {
	var ke kafka.Error
	if !errors.As(err, &ke) {
		return false
	}
	return ke.Code() == kafka.ErrMsgSizeTooLarge || ke.Code() == kafka.ErrRecordListTooLarge
}

// noteDelivery records a delivery report that refused a MALFORMED outcome
// (the one kind whose size the input drives; it names its request in its
// Opaque) as too large: a cart.invalid whose max.message.bytes is below
// the raw bytes' cap. The transaction then fails to commit and is aborted;
// the report may arrive after the abort, which only costs one more abort.
func (o *oversized) noteDelivery(m *kafka.Message) {
	if req, ok := m.Opaque.(requestPos); ok && isTooLarge(m.TopicPartition.Error) {
		o.add(req.partition, req.offset)
	}
}
