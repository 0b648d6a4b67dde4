package projection

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/globaltable"
)

// catalogStore is catalog.products in memory, read whole (globaltable).
type catalogStore struct {
	loaded atomic.Bool

	mu       sync.RWMutex
	products map[cart.SKU]cart.Product
	sorted   []cart.SKU // nil when a change made it stale
}

func newCatalogStore() *catalogStore {
	return &catalogStore{products: map[cart.SKU]cart.Product{}}
}

func (c *catalogStore) table(cfg Config, log *slog.Logger) (*globaltable.Table, error) {
	t, err := globaltable.New(globaltable.Config{
		Client: cfg.Client, Topic: cfg.Topics.Catalog, Logger: log,
		Stats: tableStats(cfg, "catalog"), StatsInterval: cfg.KafkaStatsInterval,
		Apply: func(r globaltable.Record) error {
			sku := cart.SKU(r.Key)
			if r.Value == nil {
				c.put(sku, nil)
				return nil
			}
			p, err := cfg.Records.DecodeProduct(r.Value)
			if err == nil && p.SKU != sku {
				err = fmt.Errorf("product %q under key %q", p.SKU, sku)
			}
			if err != nil {
				log.Error("projection: skipping undecodable product", "partition", r.Partition, "offset", r.Offset, "err", err)
				return nil
			}
			c.put(sku, &p)
			return nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("projection: catalog: %w", err)
	}
	return t, nil
}

func (c *catalogStore) markLoaded() { c.loaded.Store(true) }

func (c *catalogStore) put(sku cart.SKU, p *cart.Product) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, had := c.products[sku]
	if p == nil {
		delete(c.products, sku)
	} else {
		c.products[sku] = *p
	}
	if !had || p == nil {
		c.sorted = nil
	}
}

func (c *catalogStore) get(sku cart.SKU) (cart.Product, error) {
	if err := sku.Validate(); err != nil {
		return cart.Product{}, err
	}
	if !c.loaded.Load() {
		return cart.Product{}, fmt.Errorf("%w: the catalog is loading", ErrNotReady)
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	p, ok := c.products[sku]
	if !ok {
		return cart.Product{}, fmt.Errorf("%w: product %s", ErrNotFound, sku)
	}
	return p, nil
}

// Page sizes of the list RPCs (docs/api.md "Pages").
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
	maxPageToken    = 1024
)

func pageSize(n int32) (int, error) {
	switch {
	case n == 0:
		return DefaultPageSize, nil
	case n < 0 || n > MaxPageSize:
		return 0, invalid("page_size", fmt.Sprintf("must be between 1 and %d, or 0 for the default %d", MaxPageSize, DefaultPageSize))
	}
	return int(n), nil
}

// Product page tokens: "p1" + flag + ":" + the last SKU returned,
// base64url. The flag binds the token to include_inactive.
func productToken(last cart.SKU, inactive bool) string {
	flag := "a"
	if inactive {
		flag = "i"
	}
	return base64.RawURLEncoding.EncodeToString([]byte("p1" + flag + ":" + string(last)))
}

func parseProductToken(tok string, inactive bool) (cart.SKU, error) {
	if tok == "" {
		return "", nil
	}
	bad := invalid("page_token", "is not a next_page_token of ListProducts with the same include_inactive")
	if len(tok) > maxPageToken {
		return "", bad
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", bad
	}
	s := string(b)
	prefix := "p1a:"
	if inactive {
		prefix = "p1i:"
	}
	if !strings.HasPrefix(s, prefix) {
		return "", bad
	}
	sku := cart.SKU(strings.TrimPrefix(s, prefix))
	if sku.Validate() != nil {
		return "", bad
	}
	return sku, nil
}

// list returns up to size products after the SKU after, in SKU order, and
// the token of the next page ("" on the last).
func (c *catalogStore) list(size int, token string, inactive bool) ([]cart.Product, string, error) {
	after, err := parseProductToken(token, inactive)
	if err != nil {
		return nil, "", err
	}
	if !c.loaded.Load() {
		return nil, "", fmt.Errorf("%w: the catalog is loading", ErrNotReady)
	}
	c.mu.Lock()
	if c.sorted == nil {
		c.sorted = make([]cart.SKU, 0, len(c.products))
		for sku := range c.products {
			c.sorted = append(c.sorted, sku)
		}
		slices.Sort(c.sorted)
	}
	sorted := c.sorted
	var out []cart.Product
	i, _ := slices.BinarySearch(sorted, after)
	if after != "" && i < len(sorted) && sorted[i] == after {
		i++
	}
	next := ""
	for ; i < len(sorted); i++ {
		p, ok := c.products[sorted[i]]
		if !ok || (!inactive && !p.Active) {
			continue
		}
		if len(out) == size {
			next = productToken(out[len(out)-1].SKU, inactive)
			break
		}
		out = append(out, p)
	}
	c.mu.Unlock()
	return out, next, nil
}
