// Package bench is `cartstream bench`: the performance scenarios of the
// write path and the read path, run against one real Apache Kafka broker
// and reported as one [Result] (a table for people, JSON for the record).
//
// The scenarios:
//
//   - drain: the AddItemManager (in process) drains a pre-loaded
//     cart.requests; its baseline, in the same run and over the very same
//     records, is an exactly-once copy loop with the manager's batching
//     policy and no logic.
//   - e2e: gateway and manager in process, gRPC clients on loopback:
//     latency from the call to the outcome being visible to a
//     read_committed reader at each open-loop rate of a sweep, with a
//     stage table (the manager's validation.Observer gives each command's
//     poll, transaction and commit times), then saturation throughput.
//   - rebuild: the read side's cold start: cart.state of N snapshots
//     (made with cart.Process, written directly) rebuilt by the projection
//     (projection.New + Run until Ready) against a raw read_committed read
//     of the same topic with the projection's consumer settings; then
//     cmd/cart-projection as an OS process, idle and loaded, for RSS.
//   - getcart: GetCart without a token over gRPC loopback against that
//     loaded process, one client then a few closed-loop clients.
//   - wait: commands with wait_for_outcome through gateway.Run with the
//     projection's Server as Reader and Outcomes, manager and projection
//     in process, open loop, with the e2e scenario's stage table plus the
//     answer path.
//   - replay: internal/replay.Bench (cartctl replay --bench) over a
//     generated cart.validated: the fold against a raw read.
//   - recovery: the manager as an OS process under steady load, killed with
//     SIGKILL and restarted at once; time to its first committed
//     transaction.
//   - memory: the manager as an OS process; RSS idle and holding N carts.
//   - peer: a Kafka Streams application (bench/peer, exactly_once_v2) does
//     the manager's job on the same records: drain rates, outcome latency
//     at commit.interval.ms 100 and 10, and every outcome compared.
//
// Every scenario works on its own uniquely prefixed topics, created with
// topics.Ensure and deleted at its end, and is bounded in time: a scenario
// that fails or overruns records its error in the Result and the others
// still run.
//
// This is a development tool: it starts goroutines and processes it owns
// and stops, but it is not part of any service.
package bench
