// Package kafkatest gives integration tests a real Apache Kafka broker and
// per-test topics.
//
// Where the broker comes from, in order:
//
//  1. KAFKA_BROKERS is set: that cluster, untouched except for the topics a
//     test creates.
//  2. A Docker engine answers: the official apache/kafka image, through
//     github.com/ory/dockertest/v3.
//  3. Otherwise: the broker jars that scripts/kafka/fetch.sh takes from Maven
//     Central, started by scripts/kafka/up.sh on free ports.
//
// CARTSTREAM_TEST_KAFKA=external|docker|jars forces a choice (external still
// needs KAFKA_BROKERS).
//
// A package starts its broker once, in TestMain through [Main], and stops it
// when its tests end; a broker started from the jars is also stopped by a
// watchdog if the test binary dies. Every test creates its own uniquely named
// topics with [Cluster.Topics], deleted on cleanup, so tests never see each
// other's records and may run in parallel.
//
// CARTSTREAM_TEST_KAFKA_NODES=3 (or [StartWith] with Options.Nodes) starts a
// three-node KRaft cluster from the jars instead, with replication factor 3
// and min.insync.replicas=2. On a cluster from the jars, [Cluster.KillBroker],
// [Cluster.StopBroker] and [Cluster.StartBroker] crash, stop and restart one
// node (the single broker too), so fault tests can move leaders and
// coordinators; other sources answer [ErrUnsupported].
//
// Options.Secure (or CARTSTREAM_TEST_KAFKA_SECURE=1) starts the secured
// broker from the jars instead: SASL_SSL with SCRAM-SHA-512 and ACLs
// enforced (docs/security-kafka.md). The harness's own clients connect as
// the admin principal; [Cluster.ClientConfig] and [Cluster.PropertiesFile]
// give each service's principal, which can do only what a test grants it
// (internal/acls).
//
// This package is test support: production code never imports it.
package kafkatest
