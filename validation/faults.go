package validation

import "fmt"

// FaultPoint is a step of the write path where a FaultInjector may make the
// manager fail.
type FaultPoint uint8

const (
	// FaultProduce: before a transaction's outcomes are produced.
	FaultProduce FaultPoint = iota + 1
	// FaultSendOffsets: before each attempt of SendOffsetsToTransaction.
	FaultSendOffsets
	// FaultCommit: before each attempt of CommitTransaction.
	FaultCommit
	// FaultCatalog: before the catalog follower applies a record.
	FaultCatalog
	// FaultPoll: before each Poll of the group's consumer. A stall here
	// starves the consumer (past max.poll.interval.ms the group takes its
	// assignment away as lost); any fault ends the session as fatal.
	FaultPoll
	// FaultConsumerClose: before a session closes its group consumer. A
	// stall here keeps the consumer open, still a member of the group, as a
	// Close that never finishes does (TestChaos on three nodes): past
	// consumerCloseTimeout the session abandons it and the next one starts
	// beside it. The fault class is ignored.
	FaultConsumerClose
)

func (p FaultPoint) String() string {
	switch p {
	case FaultProduce:
		return "produce"
	case FaultSendOffsets:
		return "send-offsets"
	case FaultCommit:
		return "commit"
	case FaultCatalog:
		return "catalog"
	case FaultPoll:
		return "poll"
	case FaultConsumerClose:
		return "consumer-close"
	default:
		return "unknown"
	}
}

// Fault is the class of failure injected at a FaultPoint: the three classes
// librdkafka gives a transactional error (validation/errors.go).
type Fault uint8

const (
	FaultNone Fault = iota
	// FaultRetriable: the call is repeated as is.
	FaultRetriable
	// FaultAbortable: the transaction is aborted and its requests processed
	// again (at FaultCatalog: the follower dies and is restarted).
	FaultAbortable
	// FaultFatal: the session is rebuilt (at FaultCatalog: the follower
	// dies and is restarted).
	FaultFatal
)

func (f Fault) String() string {
	switch f {
	case FaultNone:
		return "none"
	case FaultRetriable:
		return "retriable"
	case FaultAbortable:
		return "abortable"
	case FaultFatal:
		return "fatal"
	default:
		return "unknown"
	}
}

// FaultSite is where the manager asks for a fault.
type FaultSite struct {
	Point FaultPoint
	// Lane is the producer of the transaction (-1 at FaultCatalog,
	// FaultPoll and FaultConsumerClose).
	Lane int
	// Partitions are the cart.requests partitions of the transaction.
	Partitions []int32
}

// FaultInjector makes the write path fail on purpose: the fault tests use
// it to drive the abort, retry, rebuild and restart paths against a real
// broker, where a real fault would be left to chance. Leave
// Config.Faults nil in production.
//
// Inject is called from the producers' goroutines and the catalog
// follower's, concurrently; it must be safe for concurrent use. It may
// block to stall a step (the transaction stays open meanwhile); at
// FaultSendOffsets and FaultCommit the manager waits for it as for the
// librdkafka call it precedes: a stall past the call's limit abandons the
// producer and rebuilds the session, as a call that never returns does.
type FaultInjector interface {
	Inject(FaultSite) Fault
}

// injectedError is the error a step fails with when a fault is injected;
// classify maps it like the librdkafka error it stands for.
type injectedError struct {
	site  FaultSite
	fault Fault
}

func (e *injectedError) Error() string {
	return fmt.Sprintf("injected %s fault at %s of producer %d", e.fault, e.site.Point, e.site.Lane)
}

// inject asks the configured injector (if any) for a fault at site.
func inject(f FaultInjector, site FaultSite) error {
	if f == nil {
		return nil
	}
	if fault := f.Inject(site); fault != FaultNone {
		return &injectedError{site: site, fault: fault}
	}
	return nil
}
