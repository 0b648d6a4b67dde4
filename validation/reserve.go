package validation

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/globaltable"
	"github.com/cartstream/cartstream/inventory"
)

// Event types of the records the manager writes to the inventory.
const (
	EventTypeReserveStock = "ReserveStock"
	EventTypeReleaseStock = "ReleaseStock"
)

// handleAnswer takes a reservation answer the inventory processor wrote to
// the cart's partition of cart.requests (decision 12). It is decided like
// a request: against the cart's latest snapshot, in the transaction that
// commits its offset, so each answer counts once whatever crashes.
func (w *worker) handleAnswer(j *job, b *batchTxn, msg *kafka.Message, now time.Time) (cart.CartID, *cart.Snapshot, error) {
	tp := msg.TopicPartition
	a, err := w.m.cfg.Records.DecodeAnswer(msg.Value)
	if err == nil {
		err = placed(msg, a.CartID, j.partitions)
	}
	if err != nil {
		return "", nil, w.malformed(b, j, msg, err, now)
	}
	b.tally.answers++
	id := a.CartID
	if _, ok := j.parts[tp.Partition].state.quarantined[id]; ok {
		// The cart cannot be read, so its checkout cannot end: give the
		// units back rather than hold them for ever.
		w.m.log.Warn("reservation answer for a quarantined cart; releasing it", "cart_id", id, "sku", a.SKU)
		if a.Granted {
			b.tally.releases++
			return "", nil, w.toInventory(b, inventory.KindRelease, a.Reservation, traceparentHeader(msg), tp.Offset, now)
		}
		return "", nil, nil
	}
	snap, _ := w.snapshotOf(j, b, tp.Partition, id)
	nextSnap, out := cart.Answer(snap, a, int64(tp.Offset), now)
	if err := w.writeOutcome(j, b, msg, id, out, now); err != nil {
		return "", nil, err
	}
	if out.Disposition == cart.DispositionStale {
		return id, nil, nil
	}
	return id, &nextSnap, nil
}

// toInventory adds a reservation or release request to the batch, keyed by
// SKU and partitioned by the producer (murmur2, like the Java client): the
// inventory is not co-partitioned with the carts.
func (w *worker) toInventory(b *batchTxn, kind inventory.Kind, r cart.Reservation, trace string, requestOffset kafka.Offset, now time.Time) error {
	req := inventory.Request{Kind: kind, RequestID: cart.RequestID(r.ID), SKU: r.SKU, RequestedAt: now, Reservation: r}
	value, err := w.m.cfg.Records.EncodeInventoryRequest(req)
	if err != nil {
		return fmt.Errorf("%w: encode %v of cart %s: %w", errSessionFatal, kind, r.CartID, err)
	}
	et := EventTypeReserveStock
	if kind == inventory.KindRelease {
		et = EventTypeReleaseStock
	}
	hdrs := outcomeHeaders(string(r.ID), et, trace, requestOffset)
	b.add(w.m.cfg.Topics.Inventory, kafka.PartitionAny, []byte(r.SKU), value, hdrs)
	return nil
}

// stockStore holds the latest stock level of every SKU, for the soft
// check of AddItem and ChangeQuantity: written by the stock follower, read
// by the workers.
type stockStore struct {
	mu     sync.RWMutex
	levels map[cart.SKU]int64
	decode func([]byte) (inventory.Level, error)
	log    *slog.Logger
}

func (s *stockStore) apply(r globaltable.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Value == nil {
		delete(s.levels, cart.SKU(r.Key))
		return nil
	}
	l, err := s.decode(r.Value)
	if err != nil {
		s.log.Error("skipping undecodable stock record", "partition", r.Partition, "offset", r.Offset, "err", err)
		return nil
	}
	s.levels[l.SKU] = l.Available
	return nil
}

// stockCatalog is what Decide sees: the catalog, with the stock levels the
// manager knows (cart.Stock).
type stockCatalog struct {
	products *catalogStore
	stock    *stockStore
}

// Product implements cart.Catalog.
func (c stockCatalog) Product(sku cart.SKU) (cart.Product, bool) { return c.products.Product(sku) }

// Available implements cart.Stock.
func (c stockCatalog) Available(sku cart.SKU) (int64, bool) {
	c.stock.mu.RLock()
	defer c.stock.mu.RUnlock()
	n, ok := c.stock.levels[sku]
	return n, ok
}

// followStock follows inventory.stock until ctx ends, restarting a
// follower that dies. The check it feeds is soft (checkout reserves for
// real), so requests are never held back waiting for it.
func (m *Manager) followStock(ctx context.Context) {
	for attempt := 1; ctx.Err() == nil; attempt++ {
		table, err := globaltable.New(globaltable.Config{Client: m.cfg.Client, Topic: m.cfg.Topics.Stock, Apply: m.stock.stock.apply, Logger: m.log})
		if err == nil {
			err = table.Run(ctx)
		}
		if ctx.Err() != nil {
			return
		}
		d := rebuildBackoff.delay(attempt)
		m.log.Warn("stock follower ended; restarting it", "err", err, "after", d)
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
}
