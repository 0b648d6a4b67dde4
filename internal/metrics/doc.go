// Package metrics holds every Prometheus metric of cartstream, named
// cartstream_*, and the registries of the services: ForGateway,
// ForManager, ForProjection, and ForAll for the one-process binary, so a
// metric has the same name and meaning wherever it is served.
//
// The libraries do not import Prometheus. They offer seams, and this
// package plugs into them: validation's Observer and Stats (counted at
// commit, so an aborted transaction is never counted), projection's Stats
// and TokenWaited, gateway's Instrument, and the librdkafka statistics
// callback of every client (KafkaStats). Collectors that read Stats do so
// at scrape time, so an idle process costs nothing.
package metrics
