// Package gateway is the write path's front door: a stateless gRPC server
// for the CartService commands (AddItem, RemoveItem, ChangeQuantity,
// Checkout) that checks each request's syntax, appends it to cart.requests
// and answers with its position there (the consistency token).
//
// What it holds:
//
//   - [Server]: the cartv1.CartServiceServer. A command is mapped to its
//     cart.Command (RequestedAt from the injected clock), checked with the
//     domain's Validate plus the API's tighter limits, encoded by a
//     [RequestEncoder] and handed to a [Producer]. Query RPCs are delegated
//     to an optional [Reader]; waiting for an outcome to an optional
//     [Outcomes].
//   - Who may do what (access.go) and the abuse limits: per-customer and
//     global rate limits (ratelimit.go), load shedding, and a soft bound
//     on a customer's open carts counted on the read side (cartbound.go).
//   - [KafkaProducer]: the one idempotent librdkafka producer of a process
//     (acks=all, partitioner=murmur2_random), implementing [Producer].
//   - [Run]: a whole gateway process (topics checked, producer connected,
//     gRPC server with health and reflection, graceful stop), for cmd/ to
//     wire.
//
// Invariants:
//
//   - A request that fails a syntax check is answered INVALID_ARGUMENT with
//     a google.rpc.BadRequest listing every field violation, and nothing is
//     written to Kafka.
//   - OK means the broker acknowledged the record (acks=all): the token is
//     taken from the delivery report, never guessed.
//   - Every error reaches the client through one mapping, [statusOf], which
//     classifies with errors.Is/As.
//   - The gateway keeps no state between calls: any number of replicas may
//     run side by side.
//   - Logs carry cart ids, request ids and positions, never customer ids.
package gateway
