package validation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/globaltable"
)

// catalogStore is the catalog as a global table: written by the table's
// goroutine, read by the processing loop through cart.Catalog.
type catalogStore struct {
	mu       sync.RWMutex
	products map[cart.SKU]cart.Product
	// staging takes a restarted follower's records until it has read the
	// whole topic again (see beginReload); nil otherwise.
	staging map[cart.SKU]cart.Product
	decode  func([]byte) (cart.Product, error)
	log     *slog.Logger
	faults  FaultInjector
	bad     int64
}

var _ cart.Catalog = (*catalogStore)(nil)

func newCatalogStore(decode func([]byte) (cart.Product, error), log *slog.Logger, faults FaultInjector) *catalogStore {
	return &catalogStore{products: map[cart.SKU]cart.Product{}, decode: decode, log: log, faults: faults}
}

// Product implements cart.Catalog.
func (c *catalogStore) Product(sku cart.SKU) (cart.Product, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	p, ok := c.products[sku]
	return p, ok
}

// apply takes one catalog.products record. A record it cannot decode is
// logged and skipped: one bad catalog entry must not stop cart validation
// (the SKU stays unknown, or keeps its previous version).
func (c *catalogStore) apply(r globaltable.Record) error {
	if err := inject(c.faults, FaultSite{Point: FaultCatalog, Lane: -1}); err != nil {
		return fmt.Errorf("apply catalog record: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	dst := c.products
	if c.staging != nil {
		dst = c.staging
	}
	if r.Value == nil {
		delete(dst, cart.SKU(r.Key))
		return nil
	}
	p, err := c.decode(r.Value)
	if err == nil {
		err = p.Validate()
	}
	if err != nil {
		c.bad++
		c.log.Error("skipping undecodable catalog record", "partition", r.Partition, "offset", r.Offset, "err", err)
		return nil
	}
	dst[p.SKU] = p
	return nil
}

// beginReload makes the records of a restarted follower, which reads the
// topic from its start again, build a new map while requests are still
// validated against the old one. Writing over the old map would keep a
// product deleted meanwhile whose tombstone compaction has since removed.
func (c *catalogStore) beginReload() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.staging = map[cart.SKU]cart.Product{}
}

// promote replaces the catalog with the reloaded one once the restarted
// follower has read the whole topic.
func (c *catalogStore) promote() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.staging != nil {
		c.products, c.staging = c.staging, nil
	}
}

func (c *catalogStore) size() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.products)
}

// followCatalog reads catalog.products whole and follows it until ctx ends.
// The first load's outcome goes to loaded: an error there ends Run, since a
// catalog that cannot be read at start is a deployment problem. A follower
// that dies later is logged, reported by Health, and restarted with
// backoff; requests are validated against the catalog held meanwhile.
func (m *Manager) followCatalog(ctx context.Context, loaded chan<- error) {
	first := true
	for attempt := 0; ; {
		wasReady, err := m.followCatalogOnce(ctx, first, loaded)
		if ctx.Err() != nil {
			return
		}
		if first && !wasReady {
			loaded <- fmt.Errorf("load catalog: %w", err)
			return
		}
		if wasReady {
			first, attempt = false, 0
		}
		attempt++
		m.stats.CatalogRestarts.Add(1)
		m.health.SetDown("the catalog follower died; restarting it")
		d := rebuildBackoff.delay(attempt)
		m.log.Error("catalog follower died; restarting it", "err", err, "attempt", attempt, "after", d)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return
		}
	}
}

// followCatalogOnce runs one follower until it ends, and says whether it
// had read the whole topic before.
func (m *Manager) followCatalogOnce(ctx context.Context, first bool, loaded chan<- error) (bool, error) {
	table, err := globaltable.New(globaltable.Config{
		Client: m.cfg.Client, Topic: m.cfg.Topics.Catalog, Apply: m.catalog.apply, Logger: m.log,
	})
	if err != nil {
		return false, err
	}
	if !first {
		m.catalog.beginReload()
	}
	done := make(chan error, 1)
	go func() { done <- table.Run(ctx) }()
	select {
	case err := <-done:
		return false, errOrStopped(err)
	case <-table.Ready():
	}
	if first {
		m.log.Info("catalog loaded", "products", m.catalog.size())
		loaded <- nil
	} else {
		m.catalog.promote()
		m.log.Info("catalog reloaded", "products", m.catalog.size())
		m.health.SetDown("")
	}
	return true, errOrStopped(<-done)
}

// errOrStopped is a follower's end: Run returns nil only when ctx ended.
func errOrStopped(err error) error {
	if err == nil {
		return errors.New("catalog follower stopped")
	}
	return err
}
