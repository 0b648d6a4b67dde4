package validation

import (
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Observer is told how each transaction went, step by step: the stage
// table of `make bench` and the metrics are built on it.
//
// TransactionEnded is called from the lane goroutine that ran the
// transaction, after it committed or aborted, so calls for different lanes
// are concurrent. An implementation must be safe for concurrent use, must
// not block, and must not keep the trace's slices past the call unless it
// copies them.
type Observer interface {
	TransactionEnded(TxnTrace)
}

// RestoreObserver is an optional extension of Observer: an Observer that
// also implements it hears each assignment's restore from cart.state, from
// the poller goroutine (inside the rebalance callback), so it must not
// block either.
type RestoreObserver interface {
	PartitionsRestored(RestoreTrace)
}

// RestoreTrace is one assignment's restore.
type RestoreTrace struct {
	Partitions int           // partitions assigned
	Carts      int           // snapshots restored
	Took       time.Duration // committed offsets, partition count and cart.state read
}

// TxnOutcome is how a transaction ended.
type TxnOutcome uint8

const (
	TxnCommitted TxnOutcome = iota + 1
	TxnAborted              // aborted and rewound; its requests are processed again
	TxnFailed               // a fatal error; the session is rebuilt
)

func (o TxnOutcome) String() string {
	switch o {
	case TxnCommitted:
		return "committed"
	case TxnAborted:
		return "aborted"
	case TxnFailed:
		return "failed"
	default:
		return "unknown"
	}
}

// TxnTrace is one transaction's timeline. Times are the manager's wall
// clock; a step the transaction never reached is the zero time.
type TxnTrace struct {
	Lane     int
	Outcome  TxnOutcome
	Requests []RequestTrace
	// Began: BeginTransaction returned; the batch was complete.
	Began time.Time
	// Decided: every outcome and snapshot is decided and encoded.
	Decided time.Time
	// OffsetsSent: SendOffsetsToTransaction returned. It is the
	// transaction's first request to the coordinator, so it absorbs the
	// wait for the previous transaction's markers (CONCURRENT_TRANSACTIONS).
	OffsetsSent time.Time
	// Produced: every record is handed to the producer.
	Produced time.Time
	// Ended: CommitTransaction (or the abort) returned.
	Ended time.Time
	// Records is how many records the transaction wrote.
	Records int
	// ConcurrentRetries counts the coordinator's CONCURRENT_TRANSACTIONS
	// answers librdkafka retried during the transaction.
	ConcurrentRetries int64
}

// RequestTrace is one request of a transaction.
type RequestTrace struct {
	RequestID string
	Partition int32
	Offset    int64
	// Polled is when the manager's poll returned the request.
	Polled time.Time
}

// producerLogProps route librdkafka's log lines of the transactional
// producer to serveProducerLogs instead of stderr, with the "eos" debug
// context on: its lines are the only place librdkafka says that the
// coordinator answered CONCURRENT_TRANSACTIONS and it retried.
var producerLogProps = kafka.ConfigMap{
	"go.logs.channel.enable": true,
	"debug":                  "eos",
}

// serveProducerLogs drains the producer's log channel until Close closes
// it: CONCURRENT_TRANSACTIONS retries are counted, debug lines dropped,
// everything else forwarded to the logger.
func serveProducerLogs(logs chan kafka.LogEvent, log *slog.Logger, done chan<- struct{}, concurrent ...*atomic.Int64) {
	defer close(done)
	for ev := range logs {
		if isConcurrentRetry(ev) {
			for _, c := range concurrent {
				c.Add(1)
			}
		}
		if ev.Level >= 7 { // syslog debug
			continue
		}
		if ev.Level <= 4 { // syslog warning and worse
			log.Warn("librdkafka", "tag", ev.Tag, "msg", ev.Message)
		} else {
			log.Info("librdkafka", "tag", ev.Tag, "msg", ev.Message)
		}
	}
}

// isConcurrentRetry recognises librdkafka's debug line for a coordinator
// answer of CONCURRENT_TRANSACTIONS that it will retry: AddPartitionsToTxn
// (retried after a fixed 20 ms) and AddOffsetsToTxn (retry.backoff.ms).
func isConcurrentRetry(ev kafka.LogEvent) bool {
	switch ev.Tag {
	case "ADDPARTS":
		return strings.Contains(ev.Message, "concurrent operation on the same transaction")
	case "ADDOFFSETS":
		return strings.Contains(ev.Message, "AddOffsetsToTxn response") && strings.Contains(ev.Message, "CONCURRENT_TRANSACTIONS")
	case "ENDTXN":
		return strings.Contains(ev.Message, "returned CONCURRENT_TRANSACTIONS")
	}
	return false
}
