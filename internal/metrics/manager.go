package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/validation"
)

// Manager are the AddItemManager's metrics. The counters are read from
// validation.Stats at scrape time; Stats applies a transaction's tally
// only when it commits, so nothing an abort rolled back is counted. The
// histograms are fed by the manager's Observer, for committed
// transactions only, for the same reason.
//
// Build it before the manager (its Observer goes into the config), then
// Attach the manager.
type Manager struct {
	mgr atomic.Pointer[validation.Manager]

	batch   prometheus.Histogram
	commit  prometheus.Histogram
	restore prometheus.Histogram
}

var (
	managerRequests = desc("manager_requests_total",
		"Requests whose outcome committed, by disposition (accepted, rejected, duplicate, stale, malformed).", "disposition")
	managerRejections = desc("manager_rejections_total",
		"Committed rejections by reason code; they sum to requests_total{disposition=\"rejected\"} (undecodable records are disposition malformed).", "reason")
	managerCommits     = desc("manager_transactions_committed_total", "Kafka transactions committed.")
	managerAborts      = desc("manager_transactions_aborted_total", "Kafka transactions aborted; their requests are processed again.")
	managerRebuilds    = desc("manager_session_rebuilds_total", "Sessions (consumer and producers) rebuilt after a fatal error.")
	managerConcurrent  = desc("manager_concurrent_transactions_retries_total", "CONCURRENT_TRANSACTIONS answers of the coordinator that librdkafka retried.")
	managerOrders      = desc("manager_orders_total", "OrderPlaced records committed (accepted checkouts).")
	managerRestored    = desc("manager_restored_carts_total", "Cart snapshots read from cart.state at partition assignments.")
	managerQuarantined = desc("manager_quarantined_carts_total", "Carts found unreadable in cart.state at restore.")
	managerCatalog     = desc("manager_catalog_restarts_total", "Catalog followers restarted after one died.")
	managerAbandoned   = desc("manager_abandoned_producers_total", "Producers abandoned unclosed because a transactional call never returned (librdkafka issues 5456, 5511).")
	managerAbandonedC  = desc("manager_abandoned_consumers_total", "Group consumers left closing in the background: fenced (confluent-kafka-go never finishes closing one), or not closed within 10 s.")
	managerOwned       = desc("manager_owned_partitions", "cart.requests partitions this replica holds.")
)

// desc is a Desc of a metric without constant labels.
func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(namespace+"_"+name, help, labels, nil)
}

// NewManager registers the manager's metrics on reg.
func NewManager(reg prometheus.Registerer) *Manager {
	m := &Manager{
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "manager", Name: "batch_requests",
			Help:    "Requests per committed transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12), // 1 .. 2048
		}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "manager", Name: "commit_seconds",
			Help:    "Time from a batch decided to its transaction committed (offsets, produce, commit).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		restore: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "manager", Name: "restore_seconds",
			Help:    "Time to restore an assignment's partitions from cart.state before serving them.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}),
	}
	reg.MustRegister(m, m.batch, m.commit, m.restore)
	return m
}

// Attach makes the collector read mgr's Stats.
func (m *Manager) Attach(mgr *validation.Manager) { m.mgr.Store(mgr) }

// TransactionEnded implements validation.Observer.
func (m *Manager) TransactionEnded(t validation.TxnTrace) {
	if t.Outcome != validation.TxnCommitted {
		return
	}
	m.batch.Observe(float64(len(t.Requests)))
	if !t.Decided.IsZero() && !t.Ended.IsZero() {
		m.commit.Observe(t.Ended.Sub(t.Decided).Seconds())
	}
}

// PartitionsRestored implements validation.RestoreObserver.
func (m *Manager) PartitionsRestored(t validation.RestoreTrace) {
	m.restore.Observe(t.Took.Seconds())
}

// Describe implements prometheus.Collector.
func (m *Manager) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{managerRequests, managerRejections, managerCommits, managerAborts, managerRebuilds,
		managerConcurrent, managerOrders, managerRestored, managerQuarantined, managerCatalog, managerAbandoned, managerAbandonedC, managerOwned} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Manager) Collect(ch chan<- prometheus.Metric) {
	mgr := m.mgr.Load()
	if mgr == nil {
		return
	}
	st := mgr.Stats()
	s := st.Snapshot()
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(managerRequests, s.Accepted, "accepted")
	counter(managerRequests, s.Rejected, "rejected")
	counter(managerRequests, s.Duplicates, "duplicate")
	counter(managerRequests, s.Stale, "stale")
	counter(managerRequests, s.Malformed, "malformed")
	for _, r := range cart.Reasons() {
		counter(managerRejections, st.RejectedBy(r), r.String())
	}
	counter(managerCommits, s.Commits)
	counter(managerAborts, s.Aborts)
	counter(managerRebuilds, s.Restarts)
	counter(managerConcurrent, s.ConcurrentRetries)
	counter(managerOrders, s.Orders)
	counter(managerRestored, s.Restored)
	counter(managerQuarantined, s.Quarantined)
	counter(managerCatalog, s.CatalogRestarts)
	counter(managerAbandoned, s.AbandonedProducers)
	counter(managerAbandonedC, s.AbandonedConsumers)
	ch <- prometheus.MustNewConstMetric(managerOwned, prometheus.GaugeValue, float64(st.OwnedPartitions.Load()))
}
