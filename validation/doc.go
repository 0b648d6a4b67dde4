// Package validation holds the AddItemManager: the write side that validates
// every cart request exactly once.
//
// A Manager consumes cart.requests in a consumer group (read_committed, no
// auto-commit). For the partitions it owns it holds each cart's snapshot in
// memory, restored from the compacted cart.state before any request of that
// partition is processed. Each batch runs in one Kafka transaction: the
// outcome events (cart.validated or cart.invalid), one new snapshot per
// touched cart (cart.state) and the consumed offsets
// (SendOffsetsToTransaction with the consumer's group metadata, KIP-447)
// commit together or not at all. docs/write-path.md walks through the loop
// and what a crash at each point leads to.
//
// Invariants:
//   - Offsets sent are the last processed offset + 1 of each partition.
//   - The consumer is polled only between transactions, so a rebalance never
//     finds a transaction open; records of a revoked partition that were
//     polled but not yet processed are dropped (its next owner reads them
//     from the committed offset).
//   - In-memory state changes of a batch live in an overlay until the commit
//     succeeds; an abort drops the overlay and queues the batch's records
//     again ahead of everything polled after them (the consumer's rewind,
//     without a seek racing the poller), so memory and Kafka always agree
//     on the last commit. Repeated aborts and session rebuilds back off
//     (backoff.go); Manager.Health says whether the manager can commit.
//   - A record that cannot be decoded, or that sits in another partition
//     than its cart's, goes to cart.invalid as MALFORMED with (a bounded
//     prefix of) its raw bytes, in the transaction whose offsets skip it.
//     What an outcome copies from its input is bounded (bound.go), so no
//     input can make its outcome too large to produce.
package validation
