// Package app is the one-process cartstream backend that `make run`
// starts (cmd/cartstream only turns flags and environment into a Config):
// the gateway (gRPC CartService commands), the AddItemManager (the write
// side), the projection (the read side and the CatalogService) and the
// HTTP side (HTTP/JSON API, the storefront page, health, metrics), all on
// one Kafka cluster: the one Config.Brokers names, or else an embedded
// development broker (internal/devbroker).
//
// Start-up order: the broker (embedded or checked), the topics, the demo
// catalog (only into an empty catalog topic), then the manager and the
// projection; the gRPC gateway is started once both are ready, so gRPC
// health SERVING means the whole process is ready. The HTTP server answers
// from the start: /healthz and the API say 503 until then.
//
// Shutdown is the reverse: HTTP (streams end at once, calls in flight get
// the grace period), then the gateway, then the manager and the
// projection, then the embedded broker, which saves its state if it has a
// data directory.
//
// It lives here rather than in package main so that tests (the hermetic
// one beside it, integration/browser_test.go against a real broker) run
// exactly what the binary runs.
package app
