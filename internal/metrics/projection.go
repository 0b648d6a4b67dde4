package metrics

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cartstream/cartstream/projection"
)

// Projection are the read side's metrics, read from projection.Stats at
// scrape time, and the token-wait histogram fed by Config.TokenWaited.
//
// Build it before the projection (TokenWaited goes into the config), then
// Attach the projection.
type Projection struct {
	src       atomic.Pointer[statsSource]
	tokenWait *prometheus.HistogramVec
}

// StatsSource is what the collector reads: a Projection, or a projection
// group's Replica (the sum over its partitions).
type StatsSource interface{ Stats() projection.Stats }

type statsSource struct{ StatsSource }

var (
	projReady        = desc("projection_ready", "1 once cart.state is rebuilt and the catalog loaded: queries are served.")
	projHistoryReady = desc("projection_history_ready", "1 once the history index has caught up.")
	projCarts        = desc("projection_carts", "Carts held.")
	projWatches      = desc("projection_watch_subscribers", "WatchCart streams open.")
	projState        = desc("projection_state_records_total", "cart.state records applied.")
	projSkipped      = desc("projection_skipped_records_total", "Undecodable cart.state records (their carts quarantined).")
	projHistory      = desc("projection_history_records_total", "cart.validated and cart.invalid records indexed.")
	projSlow         = desc("projection_slow_watches_total", "WatchCart streams ended because the client stopped reading.")
	projStaleness    = desc("projection_staleness_offsets",
		"cart.state's last stable offset minus the offset applied, per owned partition: committed writes not yet served.", "partition")
	projApplied = desc("projection_applied_offset", "Position in cart.state after the records applied, per owned partition.", "partition")
	projStable  = desc("projection_last_stable_offset", "cart.state's last stable offset as last probed, per owned partition.", "partition")
	projHigh    = desc("projection_high_watermark", "cart.state's high watermark as last probed, per owned partition.", "partition")
	projOpenTxn = desc("projection_open_transaction_offsets",
		"High watermark minus last stable offset of cart.state, per owned partition: records of transactions still open. Stuck above 0 is a hanging transaction.", "partition")
	projRebuild = desc("projection_rebuild_progress_ratio", "Share of cart.state (up to the end offsets taken at start) applied: 1 when rebuilt.")
)

// NewProjection registers the projection's metrics on reg.
func NewProjection(reg prometheus.Registerer) *Projection {
	p := &Projection{
		tokenWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "projection", Name: "token_wait_seconds",
			Help:    "Time a query waited for its consistency token, by result (ok, timeout, error).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"result"}),
	}
	reg.MustRegister(p, p.tokenWait)
	return p
}

// Attach makes the collector read proj's Stats.
func (p *Projection) Attach(proj *projection.Projection) { p.AttachStats(proj) }

// AttachStats makes the collector read src's Stats (a projection.Replica).
func (p *Projection) AttachStats(src StatsSource) { p.src.Store(&statsSource{src}) }

// TokenWaited is projection.Config.TokenWaited.
func (p *Projection) TokenWaited(d time.Duration, err error) {
	result := "ok"
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		result = "timeout"
	case err != nil:
		result = "error"
	}
	p.tokenWait.WithLabelValues(result).Observe(d.Seconds())
}

// Describe implements prometheus.Collector.
func (p *Projection) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{projReady, projHistoryReady, projCarts, projWatches, projState, projSkipped,
		projHistory, projSlow, projStaleness, projApplied, projStable, projHigh, projOpenTxn, projRebuild} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (p *Projection) Collect(ch chan<- prometheus.Metric) {
	src := p.src.Load()
	if src == nil {
		return
	}
	s := src.Stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge(projReady, boolValue(s.Ready))
	gauge(projHistoryReady, boolValue(s.HistoryReady))
	gauge(projCarts, float64(s.Carts))
	gauge(projWatches, float64(s.Watches))
	counter(projState, s.StateRecords)
	counter(projSkipped, s.SkippedRecords)
	counter(projHistory, s.HistoryRecords)
	counter(projSlow, s.SlowWatches)
	gauge(projRebuild, rebuildRatio(s.Partitions))
	for _, ps := range s.Partitions {
		part := strconv.Itoa(int(ps.Partition))
		gauge(projApplied, float64(ps.Applied), part)
		if ps.Stable < 0 {
			continue // not probed yet: no figure is better than a wrong one
		}
		gauge(projStable, float64(ps.Stable), part)
		gauge(projStaleness, float64(max(ps.Stable-ps.Applied, 0)), part)
		if ps.High >= 0 {
			gauge(projHigh, float64(ps.High), part)
			gauge(projOpenTxn, float64(max(ps.High-ps.Stable, 0)), part)
		}
	}
}

// rebuildRatio is how much of the offsets to reach at start are applied.
func rebuildRatio(parts []projection.PartitionStats) float64 {
	var reached, total int64
	for _, ps := range parts {
		total += ps.RebuildEnd
		reached += min(ps.Applied, ps.RebuildEnd)
	}
	if total == 0 {
		return 1
	}
	return float64(reached) / float64(total)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
