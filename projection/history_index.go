package projection

import (
	"strconv"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
)

// The history index: per cart, one small reference per outcome record, in
// each topic's own order, bounded to the cart's most recent outcomes. The
// records themselves stay in Kafka (history_fetch.go reads a page back).

// histRef locates one record of a cart's history and carries what ordering
// needs; the record itself is read back from Kafka when a page asks for it
// (40 bytes per entry in memory instead of the whole event).
type histRef struct {
	// offset is the record's offset in the shard's partition of
	// cart.validated (version >= 1) or cart.invalid (version < 0).
	offset int64
	// decided and requested are the record's decided_at and requested_at,
	// in Unix nanoseconds (requested 0 when unknown).
	decided, requested int64
	// version is the event's cart version; -1 for a rejection.
	version int64
	// request is the offset of the request in cart.requests, from the
	// record's request-offset header; -1 when the header is absent.
	request int64
}

func (r histRef) rejected() bool { return r.version < 0 }

// before orders a rejection against an event of the same cart: by their
// requests' offsets (the order the manager processed them in), or when a
// record predates the request-offset header, by the batch (decided_at),
// then the gateway's request time. Each topic's own order is never changed.
func (r histRef) before(o histRef) bool {
	if r.request >= 0 && o.request >= 0 {
		return r.request < o.request
	}
	if r.decided != o.decided {
		return r.decided < o.decided
	}
	return r.requested < o.requested
}

// refRing is one topic's references of a cart, addressed by absolute
// position (the count of the cart's records of that topic before it, since
// the topic's start), so positions stay valid while old ones are evicted.
// Pushing and evicting are O(1); the ring grows by doubling up to what the
// index's bound lets it hold.
type refRing struct {
	buf  []histRef
	head int // slot of the oldest kept reference
	n    int // references kept
	base int // absolute position of the oldest kept reference
}

// end is the absolute position after the newest reference.
func (r *refRing) end() int { return r.base + r.n }

// at returns the reference at absolute position i, base <= i < end().
func (r *refRing) at(i int) histRef { return r.buf[(r.head+i-r.base)%len(r.buf)] }

func (r *refRing) push(ref histRef) {
	if r.n == len(r.buf) {
		grown := make([]histRef, max(4, 2*len(r.buf)))
		for i := range r.n {
			grown[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = grown, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = ref
	r.n++
}

// evict drops the oldest reference and returns it; the ring must not be
// empty. An emptied ring gives its memory back.
func (r *refRing) evict() histRef {
	ref := r.buf[r.head]
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	r.base++
	if r.n == 0 {
		r.buf, r.head = nil, 0
	}
	return ref
}

// histIndex is a cart's history index: the references of its events and of
// its rejections, at most limit of them together. When a new reference
// goes past the limit, the oldest in merged order is evicted, so what is
// kept is always the most recent part of the history.
type histIndex struct {
	events, rejections refRing
	// evictedVersion is the cart version after the last evicted event
	// (0 when none was evicted): where a page starting at the oldest kept
	// reference begins.
	evictedVersion int64
}

// len is the number of references kept; 0 for a nil index (a cart
// without history).
func (h *histIndex) len() int {
	if h == nil {
		return 0
	}
	return h.events.n + h.rejections.n
}

// truncated reports whether any reference was evicted.
func (h *histIndex) truncated() bool {
	return h != nil && (h.events.base > 0 || h.rejections.base > 0)
}

// add indexes ref, evicting the oldest references beyond limit (limit < 1:
// no bound).
func (h *histIndex) add(ref histRef, limit int) {
	if ref.rejected() {
		h.rejections.push(ref)
	} else {
		h.events.push(ref)
	}
	for limit > 0 && h.len() > limit {
		h.evictOldest()
	}
}

// evictOldest drops the reference that comes first in merged order.
func (h *histIndex) evictOldest() {
	e, r := &h.events, &h.rejections
	if r.n == 0 || (e.n > 0 && !r.at(r.base).before(e.at(e.base))) {
		h.evictedVersion = e.evict().version
		return
	}
	r.evict()
}

// oldest is the cursor of the oldest kept reference.
func (h *histIndex) oldest() histCursor {
	return histCursor{events: h.events.base, rejections: h.rejections.base, version: h.evictedVersion}
}

// handleHistory indexes one record of cart.validated or cart.invalid.
func (p *Projection) handleHistory(sh *shard, m *kafka.Message) {
	p.histRecords.Add(1)
	id, ref, err := p.histRefOf(m)
	if err != nil {
		p.badRecords.Add(1)
		p.log.Error("projection: history: skipping an undecodable record", "topic", *m.TopicPartition.Topic,
			"partition", m.TopicPartition.Partition, "offset", m.TopicPartition.Offset, "err", err)
		return
	}
	if id.Validate() != nil {
		return // a MALFORMED record without a usable cart id belongs to no cart
	}
	sh.mu.Lock()
	e := sh.carts[id]
	if e == nil {
		e = &entry{}
		sh.carts[id] = e
	}
	if e.hist == nil {
		e.hist = &histIndex{}
	}
	e.hist.add(ref, p.cfg.MaxHistoryPerCart)
	// A wait_for_outcome whose outcome is in the outcome topics only
	// (outcome.go) waits for this index; a channel exists only while
	// someone waits.
	e.notify()
	sh.mu.Unlock()
}

// histRefOf decodes what the index keeps of one outcome record.
func (p *Projection) histRefOf(m *kafka.Message) (cart.CartID, histRef, error) {
	ref := histRef{offset: int64(m.TopicPartition.Offset), request: -1}
	if v, err := strconv.ParseInt(header(m, "request-offset"), 10, 64); err == nil && v >= 0 {
		ref.request = v
	}
	if *m.TopicPartition.Topic == p.cfg.Topics.Validated {
		ev, err := p.cfg.Records.DecodeValidated(m.Value)
		if err != nil {
			return "", ref, err
		}
		meta := ev.Meta()
		ref.version, ref.decided, ref.requested = meta.Version, nanos(meta.DecidedAt), nanos(meta.RequestedAt)
		return meta.CartID, ref, nil
	}
	inv, err := p.cfg.Records.DecodeInvalid(m.Value)
	if err != nil {
		return "", ref, err
	}
	ref.version, ref.decided, ref.requested = -1, nanos(inv.DecidedAt), nanos(inv.RequestedAt)
	return inv.CartID, ref, nil
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// find returns the newest reference recorded for the request at offset
// request of cart.requests (its request-offset header).
func (h *histIndex) find(request int64) (histRef, bool) {
	if h == nil {
		return histRef{}, false
	}
	for _, r := range []*refRing{&h.rejections, &h.events} {
		for i := r.end() - 1; i >= r.base; i-- {
			if ref := r.at(i); ref.request == request {
				return ref, true
			}
		}
	}
	return histRef{}, false
}
