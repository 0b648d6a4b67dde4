// Package kafkaconf is the one way every cartstream binary takes its Kafka
// client configuration beyond the bootstrap servers: a librdkafka
// properties file (-kafka-config FILE, env CARTSTREAM_KAFKA_CONFIG) with the
// security settings a managed cluster needs (TLS, SASL).
//
// The file is merged under each service's own settings. Properties the
// services' guarantees rest on (exactly-once, read_committed, the
// partitioner that co-partitions the topics) are refused at start with the
// reason, instead of being silently overridden or, worse, obeyed.
//
// Secrets (passwords, private keys, client secrets) must never reach a log
// line or an error string: Config.Redact and RedactHandler replace their
// values wherever they appear, and String prints a configuration with
// them masked.
package kafkaconf
