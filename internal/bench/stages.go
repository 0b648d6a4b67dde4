package bench

import (
	"sync"
	"time"

	"github.com/cartstream/cartstream/validation"
)

// Stage is one step of a command's way from the client's call to its
// outcome being visible, over every command of a run.
type Stage struct {
	Name string `json:"name"`
	What string `json:"what"`
	Percentiles
}

// StageTable explains a latency run: where each command spent its time,
// and what the manager's transactions cost while it ran.
type StageTable struct {
	Stages []Stage `json:"stages"`
	// Traced is how many commands had a committed transaction on record.
	Traced int `json:"traced"`
	// Transactions the manager committed while the run's commands were in
	// flight, per second; their mean size; the CONCURRENT_TRANSACTIONS
	// retries librdkafka made, per transaction.
	TxnPerSec          float64 `json:"txn_per_s"`
	MeanBatch          float64 `json:"mean_batch"`
	RetriesPerTxn      float64 `json:"concurrent_retries_per_txn"`
	Aborted            int     `json:"aborted"`
	ConcurrentRetries  int64   `json:"concurrent_retries"`
	CommittedTxns      int     `json:"committed_txns"`
	WindowSeconds      float64 `json:"window_s"`
	BrokerCPUPerSecond float64 `json:"broker_cpu_s_per_s"`
}

// stageRecorder is the bench's validation.Observer: for every request id,
// the timeline of the transaction that committed its outcome (an aborted
// transaction's requests come round again and are recorded then).
type stageRecorder struct {
	mu   sync.Mutex
	byID map[string]reqTimeline
	txns []txnSummary
}

type reqTimeline struct {
	polled time.Time
	txn    int // index into txns
}

type txnSummary struct {
	began, decided, offsetsSent, produced, ended time.Time
	requests                                     int
	retries                                      int64
	outcome                                      validation.TxnOutcome
}

func newStageRecorder() *stageRecorder {
	return &stageRecorder{byID: map[string]reqTimeline{}}
}

func (r *stageRecorder) TransactionEnded(t validation.TxnTrace) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.txns = append(r.txns, txnSummary{
		began: t.Began, decided: t.Decided, offsetsSent: t.OffsetsSent, produced: t.Produced, ended: t.Ended,
		requests: len(t.Requests), retries: t.ConcurrentRetries, outcome: t.Outcome,
	})
	if t.Outcome != validation.TxnCommitted {
		return
	}
	for _, q := range t.Requests {
		r.byID[q.RequestID] = reqTimeline{polled: q.Polled, txn: len(r.txns) - 1}
	}
}

// sent is one command of a latency run as the client saw it.
type sent struct {
	id      string
	start   time.Time
	ack     time.Duration // -1: the call failed
	visible time.Time     // zero: never seen
}

// table builds the stage table of the given commands. answered, if not
// nil, gives when each call returned (for wait_for_outcome calls, whose
// answer follows the outcome's visibility).
func (r *stageRecorder) table(cmds []sent, answered func(i int) (time.Time, bool)) StageTable {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := []struct{ name, what string }{
		{"ack", "call start -> gateway answered (checks, produce with acks=all)"},
		{"to_poll", "call start -> the manager's poll returned the request"},
		{"queued", "polled -> its transaction began (previous transaction, batch fill)"},
		{"decide", "began -> decided and encoded"},
		{"offsets", "decided -> offsets sent and records handed over (AddOffsetsToTxn, TxnOffsetCommit; any wait for earlier markers)"},
		{"commit", "offsets sent -> CommitTransaction returned (AddPartitionsToTxn, Produce, EndTxn)"},
		{"visible", "committed -> a read_committed reader saw the outcome (markers, fetch)"},
		{"answer", "outcome visible -> the call returned"},
		{"total", "call start -> outcome visible"},
	}
	samples := make([][]time.Duration, len(names))
	add := func(k int, from, to time.Time) {
		if !from.IsZero() && !to.IsZero() {
			samples[k] = append(samples[k], to.Sub(from))
		}
	}
	var out StageTable
	first, last := time.Time{}, time.Time{}
	for i, c := range cmds {
		if c.ack >= 0 && answered == nil {
			samples[0] = append(samples[0], c.ack)
		}
		if first.IsZero() || c.start.Before(first) {
			first = c.start
		}
		if c.visible.After(last) {
			last = c.visible
		}
		add(8, c.start, c.visible)
		if answered != nil {
			if at, ok := answered(i); ok {
				add(7, c.visible, at)
			}
		}
		tl, ok := r.byID[c.id]
		if !ok {
			continue
		}
		out.Traced++
		t := r.txns[tl.txn]
		add(1, c.start, tl.polled)
		add(2, tl.polled, t.began)
		add(3, t.began, t.decided)
		sentAll := t.offsetsSent
		if t.produced.After(sentAll) {
			sentAll = t.produced
		}
		add(4, t.decided, sentAll)
		add(5, sentAll, t.ended)
		add(6, t.ended, c.visible)
	}
	for k, n := range names {
		if len(samples[k]) > 0 {
			out.Stages = append(out.Stages, Stage{Name: n.name, What: n.what, Percentiles: percentiles(samples[k])})
		}
	}
	r.summarize(&out, first, last)
	return out
}

// summarize counts the transactions that ended inside [first, last].
func (r *stageRecorder) summarize(out *StageTable, first, last time.Time) {
	if first.IsZero() || !last.After(first) {
		return
	}
	requests := 0
	for _, t := range r.txns {
		if t.ended.Before(first) || t.ended.After(last) {
			continue
		}
		out.ConcurrentRetries += t.retries
		if t.outcome != validation.TxnCommitted {
			out.Aborted++
			continue
		}
		out.CommittedTxns++
		requests += t.requests
	}
	out.WindowSeconds = last.Sub(first).Seconds()
	out.TxnPerSec = float64(out.CommittedTxns) / out.WindowSeconds
	if out.CommittedTxns > 0 {
		out.MeanBatch = float64(requests) / float64(out.CommittedTxns)
		out.RetriesPerTxn = float64(out.ConcurrentRetries) / float64(out.CommittedTxns)
	}
}
