package validation

import (
	"log/slog"
	"sync"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/globaltable"
)

// catalogStore is the catalog as a global table: written by the table's
// goroutine, read by the processing loop through cart.Catalog.
type catalogStore struct {
	mu       sync.RWMutex
	products map[cart.SKU]cart.Product
	decode   func([]byte) (cart.Product, error)
	log      *slog.Logger
	bad      int64
}

var _ cart.Catalog = (*catalogStore)(nil)

func newCatalogStore(decode func([]byte) (cart.Product, error), log *slog.Logger) *catalogStore {
	return &catalogStore{products: map[cart.SKU]cart.Product{}, decode: decode, log: log}
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
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.Value == nil {
		delete(c.products, cart.SKU(r.Key))
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
	c.products[p.SKU] = p
	return nil
}

func (c *catalogStore) size() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.products)
}
