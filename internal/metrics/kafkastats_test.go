package metrics_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cartstream/cartstream/internal/metrics"
)

// A trimmed statistics document of a librdkafka consumer (STATISTICS.md):
// a bootstrap entry and a coordinator entry beside the real broker, the
// internal partition -1, and a partition known but not consumed.
const consumerStats = `{
  "name": "rdkafka#consumer-1", "type": "consumer", "msg_cnt": 0, "replyq": 3,
  "brokers": {
    "127.0.0.1:9092/bootstrap": {"nodeid": -1, "state": "INIT", "rtt": {"avg": 0, "p99": 0}},
    "GroupCoordinator": {"nodeid": -1, "state": "UP", "rtt": {"avg": 0, "p99": 0}},
    "127.0.0.1:9092/1": {"nodeid": 1, "state": "UP", "outbuf_cnt": 2, "outbuf_msg_cnt": 5, "waitresp_cnt": 1,
      "rtt": {"avg": 1500, "p99": 4000, "cnt": 10}, "int_latency": {"avg": 0, "p99": 0}}
  },
  "topics": {
    "cart.requests": {"partitions": {
      "0": {"partition": 0, "fetch_state": "active", "fetchq_cnt": 4, "consumer_lag": 12},
      "1": {"partition": 1, "fetch_state": "active", "fetchq_cnt": 0, "consumer_lag": -1, "app_offset": -1001, "ls_offset": 40, "hi_offset": 42},
      "3": {"partition": 3, "fetch_state": "active", "fetchq_cnt": 0, "consumer_lag": -1, "app_offset": 35, "ls_offset": 40, "hi_offset": 42},
      "2": {"partition": 2, "fetch_state": "none", "fetchq_cnt": 0, "consumer_lag": -1},
      "-1": {"partition": -1, "fetchq_cnt": 0, "consumer_lag": -1}
    }}
  }
}`

const producerStats = `{
  "type": "producer", "msg_cnt": 9, "replyq": 0,
  "brokers": {"b/1": {"nodeid": 1, "state": "UP", "rtt": {"avg": 2000, "p99": 3000}, "int_latency": {"avg": 500, "p99": 900}}},
  "topics": {"cart.requests": {"partitions": {"0": {"partition": 0, "msgq_cnt": 2, "xmit_msgq_cnt": 1}}}}
}`

func TestKafkaStatsExportsLibrdkafkaStatistics(t *testing.T) {
	reg := prometheus.NewRegistry()
	k := metrics.NewKafkaStats(reg)
	k.Func("manager-")("consumer", consumerStats)
	k.Observe("gateway-producer", producerStats)
	k.Observe("broken", "{not json")

	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"cartstream_kafka_consumer_lag", []string{"client=manager-consumer", "topic=cart.requests", "partition=0"}, 12},
		// No offset stored or committed by the consumer: counted from the position polled to.
		{"cartstream_kafka_consumer_lag", []string{"client=manager-consumer", "partition=3"}, 5},
		{"cartstream_kafka_partition_fetchq_messages", []string{"client=manager-consumer", "partition=0"}, 4},
		{"cartstream_kafka_broker_rtt_seconds", []string{"client=manager-consumer", "broker=1", "stat=avg"}, 0.0015},
		{"cartstream_kafka_broker_rtt_seconds", []string{"client=manager-consumer", "broker=1", "stat=p99"}, 0.004},
		{"cartstream_kafka_broker_outbuf_messages", []string{"client=manager-consumer", "broker=1"}, 5},
		{"cartstream_kafka_broker_up", []string{"client=manager-consumer", "broker=1"}, 1},
		{"cartstream_kafka_client_replyq", []string{"client=manager-consumer"}, 3},
		{"cartstream_kafka_client_queued_messages", []string{"client=gateway-producer"}, 9},
		{"cartstream_kafka_broker_int_latency_seconds", []string{"client=gateway-producer", "stat=avg"}, 0.0005},
		{"cartstream_kafka_partition_queued_messages", []string{"client=gateway-producer", "partition=0"}, 3},
	}
	for _, c := range checks {
		if v := mustValue(t, reg, c.name, c.labels...); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	absent := []struct {
		name   string
		labels []string
	}{
		{"cartstream_kafka_consumer_lag", []string{"partition=1"}},                       // lag -1: unknown
		{"cartstream_kafka_partition_fetchq_messages", []string{"partition=2"}},          // not consumed
		{"cartstream_kafka_partition_fetchq_messages", []string{"partition=-1"}},         // internal
		{"cartstream_kafka_broker_up", []string{"client=manager-consumer", "broker=-1"}}, // bootstrap, coordinator
		{"cartstream_kafka_client_replyq", []string{"client=broken"}},                    // unparsable document
	}
	for _, a := range absent {
		if v, ok := value(t, reg, a.name, a.labels...); ok {
			t.Errorf("%s%v exported (%v)", a.name, a.labels, v)
		}
	}
}
