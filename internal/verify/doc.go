// Package verify proves, after the fact, that the write side processed every
// request exactly once: it reads cart.requests, cart.validated, cart.invalid
// and cart.state (read_committed, from the beginning up to the end offsets
// taken at start) and checks that
//
//  1. every request has exactly the outcomes the write side must have
//     written for it: none for a retry recognised by the request window,
//     one InvalidRequest with reason DUPLICATE_REQUEST for a request id
//     reused for another command, one validated event or one InvalidRequest
//     otherwise, and one MALFORMED InvalidRequest for a record that does not
//     decode;
//  2. each cart's outcomes are in the order of its requests in both outcome
//     topics, and its validated events carry versions 1, 2, 3, ...;
//  3. the latest snapshot of every cart equals the fold (cart.Apply) of its
//     validated events, covers its last request and holds the request window
//     the requests imply; no cart lacks a snapshot and no snapshot lacks a
//     cart;
//  4. no outcome exists without a request.
//
// The package has two halves. Check is pure: it takes decoded records
// (Input) and returns a Report listing every violation, typed and located
// (cart, request id, partition, offsets). Read is the Kafka adapter that
// builds an Input from a cluster. cmd/cartverify (and later cartctl verify)
// only wire the two.
//
// The request window is modelled exactly as cart.Process keeps it (see
// expectations in check.go): the verifier does not re-run Decide, so it does
// not need the catalog, only the request sequence of each cart.
package verify
