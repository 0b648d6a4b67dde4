package projection

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/cartstream/cartstream/internal/globaltable"
	"github.com/cartstream/cartstream/internal/memrelease"
)

// SharedTables are the whole-topic tables a Projection answers the
// catalog from: catalog.products (the products) and inventory.stock (their
// available units). Each is read whole, whatever partitions of the cart
// topics the Projection owns, so a Replica that runs one single-partition
// Projection per partition builds them once and hands them to each
// (Config.Tables): one reader of each topic per process, not one per
// partition. Build them with NewSharedTables and run them with Run; a
// Projection given them starts no reader of its own and is ready only once
// they are loaded. Their lookups are safe for concurrent use.
type SharedTables struct {
	catalog *catalogStore
	stock   *stockLevels
	// catalogT reads catalog.products; stockT inventory.stock, nil when
	// the decoder cannot read stock levels or no stock topic is set.
	catalogT, stockT *globaltable.Table
	started          atomic.Bool
}

// NewSharedTables validates cfg and returns its tables, not yet read: the
// catalog and stock topics of cfg.Topics, decoded by cfg.Records, through
// cfg.Client. cfg.Tables and cfg.Partitions are ignored.
func NewSharedTables(cfg Config) (*SharedTables, error) {
	cfg.Tables = nil
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return newSharedTables(cfg.withDefaults())
}

func newSharedTables(cfg Config) (*SharedTables, error) {
	t := &SharedTables{catalog: newCatalogStore(), stock: newStockLevels()}
	var err error
	if t.catalogT, err = t.catalog.table(cfg, cfg.Logger); err != nil {
		return nil, err
	}
	if t.stockT, err = t.stock.table(cfg, cfg.Logger); err != nil {
		return nil, err
	}
	return t, nil
}

// Ready is closed once catalog.products has been read up to its end as of
// Run's start. The stock levels are informational (a checkout's
// reservation decides), so readiness does not wait for them.
func (t *SharedTables) Ready() <-chan struct{} { return t.catalogT.Ready() }

// Run reads the tables and follows them until ctx ends or a reader fails;
// the catalog answers once it is loaded. It may be called once. It returns
// nil after a shutdown asked for by ctx.
func (t *SharedTables) Run(ctx context.Context) error {
	return t.run(ctx, true)
}

// run reads the tables; markLoaded: let the catalog answer as soon as it
// is loaded (a Projection running its own tables lets it answer only once
// the carts are caught up too, and marks it itself).
func (t *SharedTables) run(ctx context.Context, markLoaded bool) error {
	if !t.started.CompareAndSwap(false, true) {
		return errors.New("projection: shared tables: Run called twice")
	}
	g := newTasks(ctx)
	ctx, run := g.ctx, g.run
	run("catalog", t.catalogT.Run)
	if t.stockT != nil {
		run("stock", t.stockT.Run)
	}
	if markLoaded {
		run("catalog ready", func(ctx context.Context) error {
			select {
			case <-t.catalogT.Ready():
				t.catalog.markLoaded()
			case <-ctx.Done():
			}
			return nil
		})
	}
	return g.wait()
}

// tableStats hands a table consumer's librdkafka statistics to
// cfg.KafkaStats as client name; nil when statistics are off.
func tableStats(cfg Config, name string) func(string) {
	if cfg.KafkaStats == nil {
		return nil
	}
	f := cfg.KafkaStats
	return func(json string) { f(name, json) }
}

// releaseRebuildGarbage collects what a rebuild or restore left behind
// (every record it decoded: as much garbage as the carts it built, or
// more) and gives the free pages back to the OS, once the carts are in.
// Without it the first collection comes while queries are served, with a
// heap at the rebuild's peak to sweep, and the process keeps that peak
// resident until the scavenger returns it. One forced collection per
// rebuild; a process with several Projections (a Replica) calls it once
// all of them are caught up.
func releaseRebuildGarbage(log *slog.Logger) {
	began := time.Now()
	memrelease.Release() // the Kafka clients' freed fetch buffers too
	log.Debug("projection: collected the rebuild's garbage", "took", time.Since(began).Round(time.Millisecond))
}
