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
	var inj *injectedError
	if errors.As(err, &inj) {
		return inj.action()
	}
	if errors.Is(err, errAssignmentLost) {
		return actAbort
	}
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

// action is what the loop does after an injected fault: what it does after
// the class of librdkafka error the fault stands for.
func (e *injectedError) action() txnAction {
	switch e.fault {
	case FaultRetriable:
		return actRetry
	case FaultAbortable:
		return actAbort
	default:
		return actFatal
	}
}

// errAssignmentLost ends a transaction whose partitions the group gave to
// another member while it was open (a lost assignment): its offsets no
// longer belong to this member, so it aborts instead of committing.
var errAssignmentLost = errors.New("assignment lost while the transaction was open")

// errCallStuck: a transactional call did not return long after its
// timeout (worker.bounded); its producer cannot be used or closed.
var errCallStuck = errors.New("transactional call did not return after its timeout")

// ErrNotAuthorized ends Run: the broker refused the manager's principal an
// operation it cannot work without (its transactional.id, a topic, its
// group). Rebuilding the session would be refused the same way, so the
// manager stops with the ACL to fix instead of retrying for ever
// (docs/security-kafka.md lists what it needs).
var ErrNotAuthorized = errors.New("additem manager: not authorized")

// notAuthorized reports whether err is the broker refusing an ACL.
func notAuthorized(err error) bool {
	var ke kafka.Error
	if !errors.As(err, &ke) {
		return false
	}
	switch ke.Code() {
	case kafka.ErrTransactionalIDAuthorizationFailed, kafka.ErrTopicAuthorizationFailed,
		kafka.ErrGroupAuthorizationFailed, kafka.ErrClusterAuthorizationFailed:
		return true
	}
	return false
}

// errSessionFatal marks an error after which the session must be rebuilt.
var errSessionFatal = errors.New("transactional session is unusable")

// errAborted marks a batch that was aborted and rewound: not an error of the
// manager, its records are processed again.
var errAborted = errors.New("transaction aborted and rewound")
