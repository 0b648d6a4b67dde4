// Package devbroker is the embedded development broker of `make run`: an
// in-process Kafka-protocol cluster (github.com/twmb/franz-go/pkg/kfake) on
// 127.0.0.1, with cartstream's topics created at start and, optionally, its
// state kept on disk between runs. It also seeds a demo catalog into an
// empty catalog topic, on the embedded broker or on a real cluster.
//
// The embedded broker is for development only. kfake speaks what the
// services need (transactions, read_committed, consumer groups with static
// membership, KIP-447 offsets) to librdkafka, but it is one process with
// no replication, and exactly-once is proved against Apache Kafka in
// integration/, never against it. [Broker.Banner] is the warning every
// process that starts one logs.
//
// Invariants:
//
//   - The broker listens on 127.0.0.1 only.
//   - [SeedCatalog] writes only into a catalog topic that has never had a
//     record: it never overwrites an operator's or a previous run's catalog.
package devbroker
