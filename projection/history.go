package projection

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

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

// handleHistory indexes one record of cart.validated or cart.invalid.
func (p *Projection) handleHistory(sh *shard, m *kafka.Message) {
	p.histRecords.Add(1)
	ref := histRef{offset: int64(m.TopicPartition.Offset), request: -1}
	if v, err := strconv.ParseInt(header(m, "request-offset"), 10, 64); err == nil && v >= 0 {
		ref.request = v
	}
	var id cart.CartID
	if *m.TopicPartition.Topic == p.cfg.Topics.Validated {
		ev, err := p.cfg.Records.DecodeValidated(m.Value)
		if err != nil {
			p.badRecords.Add(1)
			p.log.Error("projection: history: skipping undecodable event", "partition", m.TopicPartition.Partition, "offset", m.TopicPartition.Offset, "err", err)
			return
		}
		meta := ev.Meta()
		id, ref.version = meta.CartID, meta.Version
		ref.decided, ref.requested = nanos(meta.DecidedAt), nanos(meta.RequestedAt)
	} else {
		inv, err := p.cfg.Records.DecodeInvalid(m.Value)
		if err != nil {
			p.badRecords.Add(1)
			p.log.Error("projection: history: skipping undecodable rejection", "partition", m.TopicPartition.Partition, "offset", m.TopicPartition.Offset, "err", err)
			return
		}
		id, ref.version = inv.CartID, -1
		ref.decided, ref.requested = nanos(inv.DecidedAt), nanos(inv.RequestedAt)
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
	e.hist = append(e.hist, ref)
	// A wait_for_outcome whose outcome is in cart.invalid only (outcome.go)
	// waits for this index; a channel exists only while someone waits.
	e.notify()
	sh.mu.Unlock()
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// histCursor is where a page starts: how many of the cart's events and
// rejections earlier pages returned, and the cart version reached.
type histCursor struct {
	events, rejections int
	version            int64
}

// History page tokens: base64url of "h1", three uvarints (the cursor) and
// the CRC-32 of the cart id, so a token is refused for another cart.
func (c histCursor) token(id cart.CartID) string {
	b := []byte("h1")
	b = binary.AppendUvarint(b, uint64(c.events))
	b = binary.AppendUvarint(b, uint64(c.rejections))
	b = binary.AppendUvarint(b, uint64(c.version))
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE([]byte(id)))
	return base64.RawURLEncoding.EncodeToString(b)
}

func parseHistToken(tok string, id cart.CartID) (histCursor, error) {
	if tok == "" {
		return histCursor{}, nil
	}
	bad := invalid("page_token", "is not a next_page_token of GetCartHistory for this cart_id")
	if len(tok) > maxPageToken {
		return histCursor{}, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 2+3+4 || string(b[:2]) != "h1" {
		return histCursor{}, bad
	}
	b = b[2:]
	var v [3]uint64
	for i := range v {
		x, n := binary.Uvarint(b)
		if n <= 0 || x > 1<<40 {
			return histCursor{}, bad
		}
		v[i], b = x, b[n:]
	}
	if len(b) != 4 || binary.BigEndian.Uint32(b) != crc32.ChecksumIEEE([]byte(id)) {
		return histCursor{}, bad
	}
	return histCursor{events: int(v[0]), rejections: int(v[1]), version: int64(v[2])}, nil
}

// histPick is one entry of a page before its record is read.
type histPick struct {
	ref     histRef
	version int64 // the cart's version after this entry
}

// History returns one page of the cart's history, oldest first, and the
// token of the next page ("" when there are no more entries now).
func (p *Projection) History(ctx context.Context, id cart.CartID, size int, pageToken string) ([]*cartv1.HistoryEntry, string, error) {
	if err := id.Validate(); err != nil {
		return nil, "", err
	}
	cur, err := parseHistToken(pageToken, id)
	if err != nil {
		return nil, "", err
	}
	if !isReady(p.histReady) {
		return nil, "", fmt.Errorf("%w: the history index is loading", ErrNotReady)
	}
	_, _, sh, err := p.shardOf(id)
	if err != nil {
		return nil, "", err
	}
	var events, rejections []histRef
	var snap cart.Snapshot
	sh.mu.RLock()
	e := sh.carts[id]
	found := e != nil && (e.has || len(e.hist) > 0)
	if found {
		snap = e.snap
		for _, r := range e.hist {
			if r.rejected() {
				rejections = append(rejections, r)
			} else {
				events = append(events, r)
			}
		}
	}
	sh.mu.RUnlock()
	if !found {
		return nil, "", fmt.Errorf("%w: cart %s", ErrNotFound, id)
	}
	if cur.events > len(events) || cur.rejections > len(rejections) {
		return nil, "", invalid("page_token", "is not a next_page_token of GetCartHistory for this cart_id")
	}

	// Merge the two topics' lists, each kept in its own order.
	var picks []histPick
	i, j, ver := cur.events, cur.rejections, cur.version
	for len(picks) < size && (i < len(events) || j < len(rejections)) {
		if j >= len(rejections) || (i < len(events) && !rejections[j].before(events[i])) {
			ver = events[i].version
			picks = append(picks, histPick{ref: events[i], version: ver})
			i++
		} else {
			picks = append(picks, histPick{ref: rejections[j], version: ver})
			j++
		}
	}
	next := ""
	if i < len(events) || j < len(rejections) {
		next = histCursor{events: i, rejections: j, version: ver}.token(id)
	}

	wants := make([]fetchPos, len(picks))
	for k, pk := range picks {
		topic := p.cfg.Topics.Validated
		if pk.ref.rejected() {
			topic = p.cfg.Topics.Invalid
		}
		wants[k] = fetchPos{topic: topic, partition: sh.partition, offset: pk.ref.offset}
	}
	msgs, err := p.fetch.fetch(ctx, wants)
	if err != nil {
		return nil, "", err
	}
	out := make([]*cartv1.HistoryEntry, 0, len(picks))
	for k, pk := range picks {
		m := msgs[wants[k]]
		if m == nil {
			return nil, "", fmt.Errorf("%w: %s/%d@%d not found", ErrFetch, wants[k].topic, wants[k].partition, wants[k].offset)
		}
		he, err := p.historyEntry(m, pk, snap)
		if err != nil {
			return nil, "", fmt.Errorf("%w: %s/%d@%d: %w", ErrFetch, wants[k].topic, wants[k].partition, wants[k].offset, err)
		}
		out = append(out, he)
	}
	return out, next, nil
}

// historyEntry maps one outcome record. The command's position comes from
// the cart's request window while the command is still in it.
func (p *Projection) historyEntry(m *kafka.Message, pk histPick, snap cart.Snapshot) (*cartv1.HistoryEntry, error) {
	tp := m.TopicPartition
	he := &cartv1.HistoryEntry{
		EventType:      header(m, "event-type"),
		RecordPosition: &cartv1.RecordPosition{Topic: *tp.Topic, Partition: tp.Partition, Offset: int64(tp.Offset)},
		RecordTime:     timestampPB(m.Timestamp),
		CartVersion:    pk.version,
	}
	position := func(match func(cart.RequestOutcome) bool, id cart.RequestID) {
		if o, ok := snap.Lookup(id); ok && match(o) {
			he.RequestPosition = &cartv1.ConsistencyToken{Partition: tp.Partition, Offset: o.Offset}
		}
	}
	if !pk.ref.rejected() {
		ev, err := p.cfg.Records.DecodeValidated(m.Value)
		if err != nil {
			return nil, err
		}
		meta := ev.Meta()
		he.RequestId, he.RequestTime = string(meta.RequestID), timestampPB(meta.RequestedAt)
		if he.EventType == "" {
			he.EventType = ev.EventType().String()
		}
		position(func(o cart.RequestOutcome) bool { return o.Accepted && o.CartVersion == meta.Version }, meta.RequestID)
		switch e := ev.(type) {
		case cart.AddItemValidatedRequest:
			he.Detail = &cartv1.HistoryEntry_ItemAdded{ItemAdded: &cartv1.ItemAdded{
				Sku: string(e.SKU), Name: e.Name, Quantity: e.Quantity, UnitPrice: moneyPB(e.UnitPrice), CustomerId: string(e.CustomerID),
			}}
		case cart.RemoveItemValidatedRequest:
			he.Detail = &cartv1.HistoryEntry_ItemRemoved{ItemRemoved: &cartv1.ItemRemoved{Sku: string(e.SKU)}}
		case cart.ChangeQuantityValidatedRequest:
			he.Detail = &cartv1.HistoryEntry_QuantityChanged{QuantityChanged: &cartv1.QuantityChanged{Sku: string(e.SKU), Quantity: e.Quantity}}
		case cart.CartCheckedOut:
			he.Detail = &cartv1.HistoryEntry_CheckedOut{CheckedOut: &cartv1.CheckedOut{
				CustomerId: string(e.CustomerID), Subtotal: moneyPB(e.Subtotal), ItemCount: int32(min(e.ItemCount, 1<<31-1)),
			}}
		}
		return he, nil
	}
	inv, err := p.cfg.Records.DecodeInvalid(m.Value)
	if err != nil {
		return nil, err
	}
	he.RequestId, he.RequestTime = string(inv.RequestID), timestampPB(inv.RequestedAt)
	if he.EventType == "" {
		he.EventType = inv.EventType().String()
	}
	if inv.RequestID != "" && inv.Rejection.Reason != cart.ReasonDuplicateRequest {
		position(func(o cart.RequestOutcome) bool {
			return !o.Accepted && o.Reason == inv.Rejection.Reason && o.Kind == inv.Kind
		}, inv.RequestID)
	}
	he.Detail = &cartv1.HistoryEntry_Rejected{Rejected: rejectionPB(inv.Rejection)}
	return he, nil
}

func header(m *kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// fetchPos is one record to read back.
type fetchPos struct {
	topic     string
	partition int32
	offset    int64
}

// fetcher reads given records back from Kafka with one read_committed
// consumer, created on first use and shared by calls one at a time.
type fetcher struct {
	conf *kafka.ConfigMap
	log  *slog.Logger

	mu     sync.Mutex
	cons   *kafka.Consumer
	closed bool
}

// maxSkip is how far ahead of the consumer's position a wanted record may
// be before the fetcher seeks instead of reading through.
const maxSkip = 256

func (f *fetcher) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	if f.cons != nil {
		_ = f.cons.Close()
		f.cons = nil
	}
}

// fetch returns the records at wants (a missing one is absent from the
// map). It honours ctx.
func (f *fetcher) fetch(ctx context.Context, wants []fetchPos) (map[fetchPos]*kafka.Message, error) {
	out := make(map[fetchPos]*kafka.Message, len(wants))
	if len(wants) == 0 {
		return out, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, ErrClosed
	}
	if f.cons == nil {
		c, err := kafka.NewConsumer(f.conf)
		if err != nil {
			return nil, fmt.Errorf("%w: consumer: %w", ErrFetch, err)
		}
		f.cons = c
	}
	type group struct {
		topic   string
		offsets []int64
		next    int
	}
	groups := map[tpKey]*group{}
	for _, w := range wants {
		k := tpKey{w.topic, w.partition}
		g := groups[k]
		if g == nil {
			g = &group{topic: w.topic}
			groups[k] = g
		}
		g.offsets = append(g.offsets, w.offset)
	}
	var assign []kafka.TopicPartition
	for k, g := range groups {
		slices.Sort(g.offsets)
		g.offsets = slices.Compact(g.offsets)
		assign = append(assign, kafka.TopicPartition{Topic: &g.topic, Partition: k.partition, Offset: kafka.Offset(g.offsets[0])})
	}
	if err := f.cons.Assign(assign); err != nil {
		return nil, fmt.Errorf("%w: assign: %w", ErrFetch, err)
	}
	defer func() { _ = f.cons.Unassign() }()
	remaining := len(groups)
	for remaining > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		switch ev := f.cons.Poll(50).(type) {
		case *kafka.Message:
			tp := ev.TopicPartition
			if tp.Error != nil {
				return nil, fmt.Errorf("%w: %w", ErrFetch, tp.Error)
			}
			g := groups[tpKey{*tp.Topic, tp.Partition}]
			if g == nil || g.next >= len(g.offsets) {
				continue
			}
			off := int64(tp.Offset)
			for g.next < len(g.offsets) && g.offsets[g.next] < off {
				g.next++ // not there (it cannot be, for an indexed record)
			}
			if g.next < len(g.offsets) && g.offsets[g.next] == off {
				out[fetchPos{g.topic, tp.Partition, off}] = ev
				g.next++
			}
			if g.next >= len(g.offsets) {
				remaining--
				continue
			}
			if want := g.offsets[g.next]; want > off+maxSkip {
				if err := f.cons.Seek(kafka.TopicPartition{Topic: &g.topic, Partition: tp.Partition, Offset: kafka.Offset(want)}, 0); err != nil {
					return nil, fmt.Errorf("%w: seek: %w", ErrFetch, err)
				}
			}
		case kafka.PartitionEOF:
			g := groups[tpKey{*ev.Topic, ev.Partition}]
			if g != nil && g.next < len(g.offsets) {
				g.next = len(g.offsets) // the rest is not there
				remaining--
			}
		case kafka.Error:
			if ev.IsFatal() {
				return nil, fmt.Errorf("%w: %w", ErrFetch, ev)
			}
			f.log.Warn("projection: history fetch consumer error", "err", ev)
		}
	}
	return out, nil
}
