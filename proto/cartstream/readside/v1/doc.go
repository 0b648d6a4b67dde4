// Package readsidev1 is the generated Go code of protobuf package
// cartstream.readside.v1: OutcomeService, which a cart gateway calls on a
// separately deployed projection for wait_for_outcome. It is internal to a
// cartstream deployment, not part of the storefront's API (docs/api.md).
//
// Everything but this file is generated: do not edit it, run
// scripts/proto/gen.sh and commit the result.
package readsidev1
