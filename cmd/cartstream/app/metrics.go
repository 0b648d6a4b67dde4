package app

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/cartstream/cartstream/validation"
)

// metrics serves a few counters in the Prometheus text format: cheap, and
// enough to see the process work (a metrics library can replace it).
type metrics struct {
	mu       sync.Mutex
	manager  *validation.Manager
	readSide *readSide
}

func (m *metrics) set(mgr *validation.Manager, rs *readSide) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.manager, m.readSide = mgr, rs
}

func (m *metrics) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	m.mu.Lock()
	mgr, rs := m.manager, m.readSide
	m.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	counter := func(name, help string, v int64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	gauge := func(name, help string, v float64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %g\n", name, help, name, name, v)
	}
	if mgr != nil {
		s := mgr.Stats().Snapshot()
		counter("cartstream_manager_requests_processed_total", "Requests that reached the domain.", s.Processed)
		counter("cartstream_manager_requests_accepted_total", "Requests accepted.", s.Accepted)
		counter("cartstream_manager_requests_rejected_total", "Requests rejected with a reason.", s.Rejected)
		counter("cartstream_manager_requests_duplicate_total", "Retries answered from the request window.", s.Duplicates)
		counter("cartstream_manager_requests_malformed_total", "Undecodable requests routed to the invalid topic.", s.Malformed)
		counter("cartstream_manager_transactions_committed_total", "Kafka transactions committed.", s.Commits)
		counter("cartstream_manager_transactions_aborted_total", "Kafka transactions aborted.", s.Aborts)
		counter("cartstream_manager_restarts_total", "Sessions rebuilt after a fatal error.", s.Restarts)
		gauge("cartstream_manager_commit_seconds_max", "Longest transaction commit.", s.MaxCommit.Seconds())
		gauge("cartstream_manager_commit_seconds_mean", "Mean transaction commit.", s.MeanCommit.Seconds())
	}
	if rs != nil {
		s := rs.proj.Stats()
		gauge("cartstream_projection_carts", "Carts held by the projection.", float64(s.Carts))
		counter("cartstream_projection_state_records_total", "cart.state records read.", s.StateRecords)
		counter("cartstream_projection_skipped_records_total", "Undecodable records skipped.", s.SkippedRecords)
		counter("cartstream_projection_history_records_total", "History records indexed.", s.HistoryRecords)
		counter("cartstream_projection_slow_watches_total", "WatchCart streams ended because the client stopped reading.", s.SlowWatches)
	}
}
