// Package httpapi is the HTTP side of a cartstream process: the gRPC API
// as HTTP/JSON for browsers, transcoded by grpc-gateway from the
// google.api.http annotations of the .proto files (the generated
// *.pb.gw.go handlers in package cartv1; see
// docs/decisions/0004-http-json-transcoding.md), the storefront page, a
// health endpoint and a few metrics.
//
// The HTTP/JSON API is a client of the process's own gRPC server over
// loopback: every call goes through the same interceptors, size caps,
// validation and error mapping as a native gRPC call, and HTTP adds no
// behaviour of its own. Server-streaming RPCs (WatchCart) are answered as
// chunked, newline-delimited JSON: one {"result": {...}} object per line,
// flushed per message, or {"error": {...}} as the last line.
//
// Routes:
//
//   - /v1/...: the API (docs/api.md); 503 UNAVAILABLE until Config.Ready
//     is closed.
//   - /healthz: the process's gRPC health (service "" or ?service=NAME):
//     200 {"status":"SERVING"}, else 503.
//   - /metrics: Config.Metrics, if set.
//   - everything else: Config.Static (the storefront), if set.
//
// Shutdown first ends the open WatchCart streams (browsers reconnect
// elsewhere), then lets the other calls finish within the grace period.
package httpapi
