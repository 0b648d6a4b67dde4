// Package replay is the operator's view of the event log: it folds
// cart.validated with cart.Apply into carts (all of them, one cart, or as of
// a point), compares the result with the snapshots in cart.state, rewrites
// snapshots from the fold, and reports the health of the cart topics
// (offsets, last stable offsets, consumer lag, hanging transactions).
// cmd/cartctl wires it to flags and a terminal.
//
// The package has pure halves and Kafka halves:
//
//   - Fold, LoadSnapshots, Rewrite, Status and Bench talk to the cluster;
//   - Compare, PlanRewrite, and the views are pure and tested without one.
//
// Invariants:
//
//   - Every read is read_committed and bounded: each partition is read from
//     its log start up to the last stable offset listed when the read
//     begins (or an earlier bound the caller asks for), never beyond, so a
//     replay of a live system is a consistent cut per partition.
//   - Within a partition records are folded in offset order; a cart lives in
//     exactly one partition (the topics are co-partitioned by cart id with
//     Kafka's murmur2 partitioner), so per-cart order is the log's order.
//   - A record that does not decode, or an event cart.Apply refuses, never
//     stops a replay: it is reported as a Problem and the cart it belongs to
//     is marked broken (its later events are not folded, since the fold
//     cannot skip a version).
//   - A rewrite writes a snapshot that keeps the current snapshot's
//     RequestOffset and request window and replaces only its Cart, writes it
//     to the cart's own partition, and commits it in a Kafka transaction
//     together with its progress (consumer-group offsets over cart.validated
//     of a group dedicated to the run), so an interrupted rewrite resumes
//     where it stopped and never writes a batch twice.
//
// Functions that take a context stop when it ends and return its error;
// nothing here starts a goroutine that outlives the call.
package replay
