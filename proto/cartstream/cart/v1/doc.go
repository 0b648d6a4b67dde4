// Package cartv1 is the generated Go code of the cartstream gRPC API,
// protobuf package cartstream.cart.v1: CartService (commands and queries on
// a cart) and CatalogService (products). The .proto files beside this file
// are the source of truth; docs/api.md explains the API to client authors.
//
// Everything but this file and the tests is generated: do not edit it, run
// scripts/proto/gen.sh (pinned buf, protoc-gen-go, protoc-gen-go-grpc) and
// commit the result.
package cartv1
