// Package codec encodes and decodes Kafka payloads as Avro, framed so every
// record names the schema it was written with.
//
// It holds three things, and nothing about the cart domain:
//
//   - [Schema]: one parsed Avro schema, its Parsing Canonical Form and its
//     CRC-64-AVRO (Rabin) fingerprint, backed by a goavro codec.
//   - [Registry]: an immutable set of schemas indexed by fingerprint and by
//     full name, with every version of a name kept in registration order
//     (the last registered is the newest, and the reader's default). It also
//     holds the schema-resolution plans between versions of a name.
//   - [Format]: how a body is framed with its writer's identity.
//     [SingleObject] implements Avro single-object encoding (0xC3 0x01, the
//     8-byte little-endian fingerprint, the binary body). A Schema Registry
//     framing (0x00 + 4-byte id) can be added as another Format.
//
// Values are goavro's native form: records are map[string]any, arrays []any,
// maps map[string]any, enums string, fixed and bytes []byte, int int32, long
// int64, float float32, double float64, timestamp-millis time.Time, and a
// non-null union branch is map[string]any{branchName: value}.
//
// Invariants:
//
//   - A decode never panics and never trusts a length prefix: records over
//     the configured maximum size are refused before any decode work, goavro
//     panics are recovered in one place and become [ErrBody], and array and
//     map block counts are capped ([MaxBlockItems]) so a few bytes cannot
//     make the decoder allocate gigabytes.
//   - Every decode failure is a *[DecodeError] wrapping one sentinel
//     (ErrTruncated, ErrBadMagic, ErrUnknownSchema, ErrTooLarge, ErrBody,
//     ErrIncompatible); [IsMalformed] tells a consumer to route the record
//     to its dead-letter stream instead of retrying it.
//   - A decoded value never aliases the caller's input buffer.
//   - Schema evolution follows the Avro specification's resolution rules:
//     a reader sees data written with any registered version of the same
//     record in the shape of the version it asks for (fields it lacks are
//     filled from defaults, fields it does not know are dropped, and numeric
//     and string/bytes promotions apply). goavro has no reader/writer
//     resolution (v2.15.0), so this package resolves on goavro's native
//     form, in resolve.go.
//   - Registered schemas are restricted so the invariants above hold: no
//     recursive types (hostile nesting would overflow the stack, which no
//     recover catches), no arrays whose items encode to zero bytes (a few
//     bytes could claim unbounded items), and no decimal or validated-string
//     logical type (goavro rewrites their schemas while parsing, and money
//     is integer minor units in this project anyway).
//
// For hot record types a caller may write and read the Avro binary body by
// hand with the primitives of binary.go (AppendLong, ..., BodyReader),
// framed by [SingleObject.EncodeFunc] and [SingleObject.DecodeHeader]. The
// primitives write and accept exactly what goavro does; the caller's tests
// must show its hand-written code equals the goavro path for its schema.
//
// Registries, schemas and formats are safe for concurrent use once built.
package codec
