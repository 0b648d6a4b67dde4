package metrics

import (
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cartstream/cartstream/inventory"
	"github.com/cartstream/cartstream/inventory/processor"
)

// Inventory are the inventory processor's metrics. The counters are read
// from processor.Stats at scrape time; Stats adds a transaction's tally
// only when it commits, so nothing an abort rolled back is counted.
//
// Build it before the processor (Restored goes into its config), then
// Attach the processor.
type Inventory struct {
	proc    atomic.Pointer[processor.Processor]
	restore prometheus.Histogram
}

var (
	inventoryRequests = desc("inventory_requests_total",
		"Inventory requests whose decision committed, by kind (reserve, release, set, adjust) and result (granted, refused, applied, invalid).", "kind", "result")
	inventoryMalformed = desc("inventory_malformed_requests_total", "Undecodable or misrouted inventory requests skipped.")
	inventoryCommits   = desc("inventory_transactions_committed_total", "Kafka transactions committed by the inventory processor.")
	inventoryAborts    = desc("inventory_transactions_aborted_total", "Kafka transactions aborted by the inventory processor; their requests are decided again.")
	inventoryRebuilds  = desc("inventory_session_rebuilds_total", "Inventory processor sessions (consumer and producer) rebuilt after a fatal error.")
	inventoryOwned     = desc("inventory_owned_partitions", "inventory.requests partitions this replica holds.")
	inventoryServing   = desc("inventory_serving", "1 when the inventory processor can commit (its gRPC health is SERVING), else 0.")
)

// NewInventory registers the inventory processor's metrics on reg.
func NewInventory(reg prometheus.Registerer) *Inventory {
	i := &Inventory{
		restore: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "inventory", Name: "restore_seconds",
			Help:    "Time to restore an assignment's stock levels from inventory.stock before serving them.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}),
	}
	reg.MustRegister(i, i.restore)
	return i
}

// Attach makes the collector read p's Stats and Health.
func (i *Inventory) Attach(p *processor.Processor) { i.proc.Store(p) }

// Restored is processor.Config.Restored.
func (i *Inventory) Restored(_ int, took time.Duration) { i.restore.Observe(took.Seconds()) }

// Describe implements prometheus.Collector.
func (i *Inventory) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{inventoryRequests, inventoryMalformed, inventoryCommits, inventoryAborts, inventoryRebuilds, inventoryOwned, inventoryServing} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (i *Inventory) Collect(ch chan<- prometheus.Metric) {
	p := i.proc.Load()
	if p == nil {
		return
	}
	st := p.Stats()
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, k := range []inventory.Kind{inventory.KindReserve, inventory.KindRelease, inventory.KindSet, inventory.KindAdjust} {
		for r, name := range processor.ResultNames {
			if !inventoryResultOf(k, r) {
				continue
			}
			counter(inventoryRequests, st.Decided[k][r].Load(), strings.ToLower(k.String()), name)
		}
	}
	counter(inventoryMalformed, st.Malformed.Load())
	counter(inventoryCommits, st.Commits.Load())
	counter(inventoryAborts, st.Aborts.Load())
	counter(inventoryRebuilds, st.Restarts.Load())
	ch <- prometheus.MustNewConstMetric(inventoryOwned, prometheus.GaugeValue, float64(st.OwnedPartitions.Load()))
	serving := 0.0
	if h, _ := p.Health(); h.Serving {
		serving = 1
	}
	ch <- prometheus.MustNewConstMetric(inventoryServing, prometheus.GaugeValue, serving)
}

// inventoryResultOf says whether kind k can have result r: only a
// reservation is granted or refused, only the others are applied.
func inventoryResultOf(k inventory.Kind, r int) bool {
	switch r {
	case processor.ResultGranted, processor.ResultRefused:
		return k == inventory.KindReserve
	case processor.ResultApplied:
		return k != inventory.KindReserve
	case processor.ResultRepeat:
		return k == inventory.KindAdjust // only an adjustment has an id to repeat
	default:
		return true
	}
}
