package validation

import (
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
)

// Expiry (docs/decisions/0013-cart-lifecycle.md). The scheduler scans the
// carts of its idle partitions every Config.ExpiryScan; for a cart
// untouched for Config.CartTTL it writes an ExpireCart request into the
// cart's own cart.requests partition. The request is then decided like
// any other, in the partition's transaction with its offsets: the domain
// checks the idle time again against the decision's time, so a request
// that touched the cart meanwhile wins, and a zombie manager's request is
// harmless (its id, derived from the cart's version, deduplicates; a cart
// already gone ignores it). The scan itself needs no exactly-once: it
// only asks.

// A cart whose every request was rejected has no events: version 0, no
// time of its own, yet a snapshot on cart.state (a rejection updates the
// window and the offset) and a place in memory. The scan times its
// idleness itself: it notes when it first saw the cart's last request
// offset, and asks for the expiry once that offset stayed put for
// CartTTL, with an id naming the offset (cart.ExpireUntouchedRequestID).
// The decision is an expiry like any other: CartExpired at version 1, a
// tombstone for the snapshot, the memory freed. The note lives only in
// this process, so a restart or a new owner starts it over: such a cart
// can only ever outlive its TTL, never leave early.

// quietCart is when the scan first saw a cart without events at its last
// request offset.
type quietCart struct {
	offset int64
	since  time.Time
}

// expiryAsk remembers an expiry the scan asked for, so the next scans do
// not ask again while it is on its way.
type expiryAsk struct {
	id cart.RequestID // names the version (or offset) asked for
	at time.Time
}

// expiryScan is the session's scanner state; it belongs to the scheduler
// goroutine.
type expiryScan struct {
	prod   *kafka.Producer // nil until the first request
	events chan struct{}   // closed when prod's event loop ends
	asked  map[cart.CartID]expiryAsk
	// quiet times the carts without events, by partition.
	quiet map[int32]map[cart.CartID]quietCart
}

// scanExpiry asks for the expiry of every idle cart of the partitions no
// job holds (their state is the scheduler's to read then).
func (s *session) scanExpiry(now time.Time) {
	cfg := &s.m.cfg
	if s.expiry.asked == nil {
		s.expiry.asked = map[cart.CartID]expiryAsk{}
		s.expiry.quiet = map[int32]map[cart.CartID]quietCart{}
	}
	for pid := range s.expiry.quiet {
		if _, owned := s.parts[pid]; !owned {
			delete(s.expiry.quiet, pid)
		}
	}
	for _, p := range s.parts {
		if p.busy || p.revoking {
			continue
		}
		quiet := s.expiry.quiet[p.id]
		for id := range quiet { // gone, or has events now
			if snap, ok := p.state.carts[id]; !ok || snap.Cart.Version != 0 {
				delete(quiet, id)
			}
		}
		for id, snap := range p.state.carts {
			c := snap.Cart
			rid, since := cart.ExpireRequestID(c.Version), c.UpdatedAt
			if c.Version == 0 {
				if quiet == nil {
					quiet = map[cart.CartID]quietCart{}
					s.expiry.quiet[p.id] = quiet
				}
				q, seen := quiet[id]
				if !seen || q.offset != snap.RequestOffset {
					quiet[id] = quietCart{offset: snap.RequestOffset, since: now.Round(0).UTC()}
					continue
				}
				rid, since = cart.ExpireUntouchedRequestID(q.offset), q.since
			}
			if now.Sub(since) < cfg.CartTTL {
				continue
			}
			// Ask once per version (per offset for a cart without
			// events); ask again only if the first request seems lost (a
			// produce that failed).
			if a, ok := s.expiry.asked[id]; ok && a.id == rid && now.Sub(a.at) < 10*cfg.ExpiryScan {
				continue
			}
			if err := s.askExpiry(p.id, id, rid, since, now); err != nil {
				s.m.log.Warn("expiry request not written; the next scan asks again", "cart", id, "err", err)
				continue
			}
			s.expiry.asked[id] = expiryAsk{id: rid, at: now}
		}
	}
	for id, a := range s.expiry.asked { // forget answered asks
		if now.Sub(a.at) > 10*cfg.ExpiryScan {
			delete(s.expiry.asked, id)
		}
	}
}

func (s *session) askExpiry(partition int32, id cart.CartID, rid cart.RequestID, idleSince, now time.Time) error {
	cfg := &s.m.cfg
	cmd := cart.ExpireCart{CartID: id, RequestID: rid, RequestedAt: now.Round(0).UTC(),
		IdleSince: idleSince, TTL: cfg.CartTTL}
	value, err := cfg.Records.EncodeRequest(cmd)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	if s.expiry.prod == nil {
		prod, err := kafka.NewProducer(cfg.clientConfig(kafka.ConfigMap{"enable.idempotence": true, "acks": "all", "linger.ms": 5}))
		if err != nil {
			return fmt.Errorf("expiry producer: %w", err)
		}
		s.expiry.prod, s.expiry.events = prod, make(chan struct{})
		go serveProducerEvents(prod, s.m.log, &s.m.oversized, nil, s.expiry.events)
	}
	topic := cfg.Topics.Requests
	err = s.expiry.prod.Produce(&kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: partition},
		Key:            []byte(id), Value: value,
		Headers: []kafka.Header{
			{Key: HeaderRequestID, Value: []byte(cmd.RequestID)},
			{Key: HeaderEventType, Value: []byte(cmd.EventType().String())},
		},
	}, nil)
	if err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	s.m.stats.ExpiryRequests.Add(1)
	return nil
}

// closeExpiry flushes and closes the scan's producer, if any.
func (s *session) closeExpiry() {
	p := s.expiry.prod
	if p == nil {
		return
	}
	p.Flush(int(shutdownGrace.Milliseconds()))
	if !within(consumerCloseTimeout, func() { p.Close(); <-s.expiry.events }) {
		s.m.log.Error("expiry producer close did not finish; abandoning it")
	}
	s.expiry.prod = nil
}
