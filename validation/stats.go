package validation

import (
	"sync/atomic"
	"time"

	"github.com/cartstream/cartstream/cart"
)

// reasonSlots bounds the reason codes counted one by one; cart.Reason is a
// uint8 and the domain has far fewer, so any valid reason fits.
const reasonSlots = 32

// Stats are the manager's counters since start, safe to read at any time.
type Stats struct {
	Processed     atomic.Int64 // requests that reached the domain
	Accepted      atomic.Int64
	Rejected      atomic.Int64
	Duplicates    atomic.Int64 // retries answered from the request window
	Stale         atomic.Int64 // redeliveries the snapshot already covered
	Malformed     atomic.Int64
	Commits       atomic.Int64
	Aborts        atomic.Int64
	Restarts      atomic.Int64 // sessions rebuilt after a fatal error
	CommitNanos   atomic.Int64 // total time in SendOffsets + Commit
	MaxCommitNano atomic.Int64
	Restored      atomic.Int64 // snapshots read from cart.state
	// Quarantined counts carts found unreadable in cart.state at restore
	// (quarantine.go), once per restore of their partition.
	Quarantined atomic.Int64
	// QuarantineRejections counts committed INVALID_STATE rejections of
	// quarantined carts' requests (also counted in Rejected).
	QuarantineRejections atomic.Int64
	// Orders counts committed OrderPlaced records (one per accepted checkout).
	Orders atomic.Int64
	// Reservations and Releases count committed requests to the
	// inventory; Answers the reservation answers taken.
	Reservations, Releases, Answers atomic.Int64
	// ConcurrentRetries counts CONCURRENT_TRANSACTIONS answers librdkafka
	// retried: a transaction that waited for its predecessor's markers.
	ConcurrentRetries atomic.Int64
	// CatalogRestarts counts catalog followers restarted after one died.
	CatalogRestarts atomic.Int64
	// AbandonedProducers counts producers left unclosed because a
	// transactional call of theirs never returned (worker.bounded).
	AbandonedProducers atomic.Int64
	// AbandonedConsumers counts group consumers whose Close did not finish
	// within consumerCloseTimeout and goes on in the background.
	AbandonedConsumers atomic.Int64
	// OwnedPartitions is how many cart.requests partitions the current
	// session holds (0 between sessions).
	OwnedPartitions atomic.Int64
	// Carts is how many carts the owned partitions hold in memory (a
	// gauge, updated by the scheduler); Expired counts carts expired.
	Carts   atomic.Int64
	Expired atomic.Int64
	// ExpiryRequests counts the ExpireCart requests the scan wrote.
	ExpiryRequests atomic.Int64
	// rejectedBy counts committed rejections by reason (RejectedBy).
	rejectedBy [reasonSlots]atomic.Int64
}

// RejectedBy returns the committed rejections of reason r (they are also
// counted in Rejected).
func (s *Stats) RejectedBy(r cart.Reason) int64 {
	if int(r) >= reasonSlots {
		return 0
	}
	return s.rejectedBy[r].Load()
}

// StatsSnapshot is a plain copy of Stats.
type StatsSnapshot struct {
	Processed, Accepted, Rejected, Duplicates, Stale, Malformed int64
	Commits, Aborts, Restarts, Restored                         int64
	ConcurrentRetries, CatalogRestarts, AbandonedProducers      int64
	AbandonedConsumers                                          int64
	Quarantined, QuarantineRejections, Orders                   int64
	MeanCommit, MaxCommit                                       time.Duration
}

// Snapshot copies the counters.
func (s *Stats) Snapshot() StatsSnapshot {
	out := StatsSnapshot{
		Processed: s.Processed.Load(), Accepted: s.Accepted.Load(), Rejected: s.Rejected.Load(),
		Duplicates: s.Duplicates.Load(), Stale: s.Stale.Load(), Malformed: s.Malformed.Load(),
		Commits: s.Commits.Load(), Aborts: s.Aborts.Load(), Restarts: s.Restarts.Load(), Restored: s.Restored.Load(),
		ConcurrentRetries: s.ConcurrentRetries.Load(),
		CatalogRestarts:   s.CatalogRestarts.Load(), AbandonedProducers: s.AbandonedProducers.Load(),
		AbandonedConsumers: s.AbandonedConsumers.Load(),
		Quarantined:        s.Quarantined.Load(), QuarantineRejections: s.QuarantineRejections.Load(), Orders: s.Orders.Load(),
		MaxCommit: time.Duration(s.MaxCommitNano.Load()),
	}
	if out.Commits > 0 {
		out.MeanCommit = time.Duration(s.CommitNanos.Load() / out.Commits)
	}
	return out
}

func (s *Stats) observeCommit(d time.Duration) {
	s.Commits.Add(1)
	s.CommitNanos.Add(int64(d))
	for {
		cur := s.MaxCommitNano.Load()
		if int64(d) <= cur || s.MaxCommitNano.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}
