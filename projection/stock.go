package projection

import (
	"fmt"
	"log/slog"
	"sync"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/globaltable"
	"github.com/cartstream/cartstream/inventory"
)

// stockDecoder is what a Decoder needs to follow inventory.stock too: the
// catalog's answers then carry each counted product's available units.
type stockDecoder interface {
	DecodeStockLevel(value []byte) (inventory.Level, error)
}

// stockLevels is inventory.stock in memory (globaltable): the units each
// counted SKU has available, for the catalog's answers. A SKU never
// counted is absent (not limited). It is informational: readiness does
// not wait for it, and a checkout's reservation decides, not this.
type stockLevels struct {
	mu        sync.RWMutex
	available map[cart.SKU]int64
}

func newStockLevels() *stockLevels { return &stockLevels{available: map[cart.SKU]int64{}} }

// table follows cfg.Topics.Stock; nil when the decoder cannot read stock
// levels or no stock topic is configured.
func (s *stockLevels) table(cfg Config, log *slog.Logger) (*globaltable.Table, error) {
	dec, ok := cfg.Records.(stockDecoder)
	if !ok || cfg.Topics.Stock == "" {
		return nil, nil
	}
	t, err := globaltable.New(globaltable.Config{
		Client: cfg.Client, Topic: cfg.Topics.Stock, Logger: log,
		Stats: tableStats(cfg, "stock"), StatsInterval: cfg.KafkaStatsInterval,
		Apply: func(r globaltable.Record) error {
			sku := cart.SKU(r.Key)
			if r.Value == nil {
				s.put(sku, 0, false)
				return nil
			}
			l, err := dec.DecodeStockLevel(r.Value)
			if err == nil && l.SKU != sku {
				err = fmt.Errorf("stock level of %q under key %q", l.SKU, sku)
			}
			if err != nil {
				log.Error("projection: skipping undecodable stock level", "partition", r.Partition, "offset", r.Offset, "err", err)
				return nil
			}
			s.put(sku, l.Available, true)
			return nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("projection: stock: %w", err)
	}
	return t, nil
}

func (s *stockLevels) put(sku cart.SKU, n int64, counted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if counted {
		s.available[sku] = n
	} else {
		delete(s.available, sku)
	}
}

// get is the SKU's available units; false when it is not counted.
func (s *stockLevels) get(sku cart.SKU) (int64, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, ok := s.available[sku]
	return n, ok
}
