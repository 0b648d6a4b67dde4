package service

import (
	"fmt"
	"time"
)

// DefaultKafkaStatsInterval spaces librdkafka's statistics: modest, since
// librdkafka builds the whole document (every broker, topic, partition).
const DefaultKafkaStatsInterval = 15 * time.Second

// MetricsFlags are the flags every service has for its Prometheus
// endpoint (internal/metrics).
type MetricsFlags struct {
	// Addr serves /metrics; empty: not served.
	Addr string
	// KafkaStatsInterval is librdkafka's statistics.interval.ms; 0: off.
	KafkaStatsInterval time.Duration
}

// Register adds -metrics-addr (CARTSTREAM_METRICS_ADDR) with the service's
// default address, and -kafka-stats-interval.
func (m *MetricsFlags) Register(e *EnvFlags, defAddr string) {
	e.String(&m.Addr, "metrics-addr", "CARTSTREAM_METRICS_ADDR", defAddr, "Prometheus metrics endpoint (http://ADDR/metrics); empty: none")
	e.Duration(&m.KafkaStatsInterval, "kafka-stats-interval", "CARTSTREAM_KAFKA_STATS_INTERVAL", DefaultKafkaStatsInterval, "how often librdkafka's statistics refresh the cartstream_kafka_* metrics; 0: off")
}

// Validate reports a negative interval.
func (m MetricsFlags) Validate() error {
	if m.KafkaStatsInterval < 0 {
		return fmt.Errorf("kafka stats interval %v: must not be negative", m.KafkaStatsInterval)
	}
	return nil
}
