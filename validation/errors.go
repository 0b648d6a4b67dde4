package validation

import (
	"errors"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// txnAction is what the loop does after a transactional call failed, per
// librdkafka's error model (INTRODUCTION.md, "Transactional producer").
type txnAction int

const (
	// actRetry: the call may be repeated as is (same offsets).
	actRetry txnAction = iota + 1
	// actAbort: abort the transaction, rewind consumer and state to the
	// last commit, and process the records again.
	actAbort
	// actFatal: the producer is unusable, or the outcome is unknown; start
	// a new session (new producer fences the old epoch, state restored from
	// Kafka).
	actFatal
)

func (a txnAction) String() string {
	switch a {
	case actRetry:
		return "retry"
	case actAbort:
		return "abort"
	case actFatal:
		return "fatal"
	default:
		return "unknown"
	}
}

// classify maps a transactional error to the loop's action. Anything it does
// not recognise is fatal: guessing "retry" could commit twice, guessing
// "abort" could leave the state out of step with the log.
func classify(err error) txnAction {
	var ke kafka.Error
	if !errors.As(err, &ke) {
		return actFatal
	}
	switch {
	case ke.IsFatal():
		return actFatal
	case ke.TxnRequiresAbort():
		return actAbort
	case ke.IsRetriable():
		return actRetry
	default:
		return actFatal
	}
}

// errSessionFatal marks an error after which the session must be rebuilt.
var errSessionFatal = errors.New("transactional session is unusable")

// errAborted marks a batch that was aborted and rewound: not an error of the
// manager, its records are processed again.
var errAborted = errors.New("transaction aborted and rewound")
