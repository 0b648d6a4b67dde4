// Package projection is cartstream's read side. It materializes the
// compacted topic cart.state (read_committed) into memory, indexes the
// cart's history on cart.validated and cart.invalid, reads the catalog
// (catalog.products) whole, and serves the CartService queries (GetCart,
// WatchCart, GetCartHistory), the CatalogService, and the gateway's
// wait-for-outcome (gateway.Outcomes).
//
// What it holds:
//
//   - [Projection]: the materialized carts, one shard per cart.state
//     partition it owns (all by default; Config.Partitions selects a subset
//     for sharding). [Projection.Run] rebuilds from the compacted log, logs
//     progress, closes [Projection.Ready] once every owned partition has
//     been read up to the last stable offset seen at start, then follows
//     the topics until ctx ends.
//   - [Server]: cartv1.CartService's query RPCs over a Projection. It also
//     implements gateway.Reader and gateway.Outcomes, so a gateway in the
//     same process can delegate to it; the command RPCs answer
//     FAILED_PRECONDITION (they belong to the gateway).
//   - [CatalogServer]: cartv1.CatalogService over the catalog table.
//   - [OutcomeServer]: readsidev1.OutcomeService, wait_for_outcome for a
//     gateway in another process, answered by Server.AwaitOutcome.
//   - [Remote]: gateway.Reader and gateway.Outcomes over a gRPC connection
//     to a separately deployed projection; it answers wait_for_outcome
//     exactly like a Server in the gateway's process.
//   - [Serve]: a whole projection process (gRPC with health and
//     reflection, graceful stop), for cmd/cart-projection to wire.
//
// Invariants:
//
//   - A cart's snapshot only moves forward: a snapshot whose RequestOffset
//     is not beyond the one held is ignored.
//   - Waiters are notified, never polled: every cart has a channel that is
//     closed and replaced when its snapshot changes; GetCart with a token,
//     WatchCart and AwaitOutcome wait on it (and on the call's ctx).
//   - A consistency token (partition, offset) of cart X is satisfied when
//     X's snapshot has RequestOffset >= offset: every request of X,
//     accepted, rejected or a retry, advances X's snapshot in the same
//     transaction as its outcome. The highest offset of a partition says
//     nothing about X, except once the partition is settled (read to its
//     end): then a token at or below it that X's snapshot does not cover
//     cannot belong to X.
//   - Nothing a client does is unbounded: a token wait without a deadline
//     ends after Config.WaitTimeout, a watch after Config.MaxWatch, a
//     watch whose client stops reading after Config.WatchSendTimeout; a
//     cart's history index keeps at most Config.MaxHistoryPerCart entries
//     and a history page costs O(page size). The follower never waits for
//     a reader.
//   - Every error reaches a client through one mapping (statusOf).
//   - Logs carry cart ids, SKUs and positions, never customer ids.
//
// docs/read-path.md describes the design; docs/consistency.md the
// consistency token from an API user's side.
package projection
