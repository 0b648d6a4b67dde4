// Package auth authenticates the callers of the cart API and names them.
//
// What it holds:
//
//   - [Verifier]: checks a bearer token (a JWT whose signature is verified
//     against a JWKS read from a file or fetched, cached and refreshed from
//     an https URL; issuer, audience and expiry checked within a clock
//     skew) and returns the [Caller]: the customer id taken from a
//     configurable claim and whether the caller holds the operator role.
//     In development mode it verifies nothing and every caller is an
//     anonymous [Caller] whose customer the request itself names.
//   - [Verifier.UnaryInterceptor] and [Verifier.StreamInterceptor]: the
//     gRPC edge. They put the Caller in the call's context ([FromContext])
//     and answer UNAUTHENTICATED, with an RFC 6750 WWW-Authenticate value in
//     the response metadata, when a protected method comes without a valid
//     token. Health, reflection and the catalog are public.
//
// Invariants:
//
//   - A token is trusted only after its signature verified against a key
//     of the configured set whose kid matches; "alg" is never taken from
//     the token alone, and "none" never verifies.
//   - exp is required; iss and aud must equal the configured values.
//   - The customer id of a verified caller satisfies the API's identifier
//     rule, so it can stand in a command unchanged.
//   - Nothing here logs a token or a customer id.
//
// What a Caller may do with a cart (ownership) is decided by the gateway,
// which can look the cart's owner up; this package only says who calls.
package auth
