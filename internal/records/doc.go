// Package records is the one place that maps cartstream's domain types (the
// cart package) to and from the Avro records on its Kafka topics:
//
//	cart.requests     CartRequest (one envelope, a command union)
//	cart.validated    AddItemValidatedRequest, RemoveItemValidatedRequest,
//	                  ChangeQuantityValidatedRequest, CartCheckedOut
//	                  (one schema per event type)
//	cart.invalid      InvalidRequest (every *InvalidRequest type and MALFORMED)
//	cart.state        CartSnapshot
//	catalog.products  Product
//
// The schemas are the .avsc files under schemas/, embedded in the binary;
// every record is framed with Avro single-object encoding by
// internal/codec, so it names its writer schema by fingerprint (see
// docs/decisions/0002-avro-single-object-encoding.md).
//
// A [Codec] writes each record type with one pinned schema version (the
// current one) and reads every registered version of it, resolving older
// and newer writers to the current version by Avro's schema-resolution
// rules. A reader can only decode versions it has a schema for: ship a new
// schema to the readers before a writer uses it.
//
// Invariants:
//
//   - Decoding never panics and never returns a value with an error. Every
//     decode error satisfies [IsMalformed]: the record can never be read by
//     this reader, however often it is retried.
//   - A record of another type than asked for (a Product given to
//     DecodeRequest) is an error wrapping [ErrWrongType], never a value.
//   - Decoders validate what they build where the domain can: a command
//     with cart.ValidateCommand, a snapshot with Snapshot.Validate, a
//     product with Product.Validate. A structurally valid record that is
//     semantically impossible is an error wrapping [ErrInvalid].
//   - Encoders of what producers put on a topic from outside (commands by
//     the gateway, products by the catalog owner) validate first, so
//     nothing a decoder would refuse is written. Encoders of what the write
//     side derives (events, rejections, snapshots) check only that the
//     value fits its schema: the manager must never be stuck on its own
//     output, and decoders catch what is wrong.
//   - Times are nanoseconds since the Unix epoch (timestamp-nanos), so the
//     domain's times (t.Round(0).UTC()) round-trip exactly; they decode in
//     UTC without a monotonic reading. Times outside 1677..2262 do not
//     encode. A zero time is null where the domain allows it to be zero,
//     and an encode error elsewhere.
//   - Empty ids and currencies are null on the wire; empty lists and byte
//     strings decode as nil.
//   - The records the manager handles per request (CartRequest, the
//     validated events, InvalidRequest, CartSnapshot) are encoded, and
//     those plus Product decoded, by hand-written code for the pinned
//     schema version (fastenc.go, fastdec.go); everything else (encoding a
//     Product, DecodeAny), and any other writer or reader version, goes
//     through goavro and resolution. Both
//     paths give the same bytes, values and error identities; tests and
//     fuzz targets compare them on every change. The strings of a value
//     decoded by hand share one copy of the record body.
//
// A Codec is immutable once built and safe for concurrent use.
package records
