package metrics

import (
	"encoding/json"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// KafkaStats exports librdkafka's own statistics (the JSON document its
// clients emit every statistics.interval.ms) as gauges labelled by the
// client's role in the process ("gateway-producer", "manager-consumer",
// ...). The latest document of each client is kept; a scrape exports it.
type KafkaStats struct {
	mu      sync.Mutex
	clients map[string]rdStats
}

// rdStats is the part of librdkafka's statistics document exported
// (librdkafka's STATISTICS.md). Latencies are microseconds.
type rdStats struct {
	Type    string              `json:"type"`
	MsgCnt  int64               `json:"msg_cnt"`
	ReplyQ  int64               `json:"replyq"`
	Brokers map[string]rdBroker `json:"brokers"`
	Topics  map[string]rdTopic  `json:"topics"`
}

type rdBroker struct {
	NodeID       int32    `json:"nodeid"`
	State        string   `json:"state"`
	OutbufCnt    int64    `json:"outbuf_cnt"`
	OutbufMsgCnt int64    `json:"outbuf_msg_cnt"`
	WaitrespCnt  int64    `json:"waitresp_cnt"`
	RTT          rdWindow `json:"rtt"`
	IntLatency   rdWindow `json:"int_latency"`
}

type rdWindow struct {
	Avg int64 `json:"avg"`
	P99 int64 `json:"p99"`
	Cnt int64 `json:"cnt"`
}

type rdTopic struct {
	Partitions map[string]rdPartition `json:"partitions"`
}

type rdPartition struct {
	Partition   int32  `json:"partition"`
	MsgqCnt     int64  `json:"msgq_cnt"`
	XmitMsgqCnt int64  `json:"xmit_msgq_cnt"`
	FetchqCnt   int64  `json:"fetchq_cnt"`
	ConsumerLag int64  `json:"consumer_lag"`
	FetchState  string `json:"fetch_state"`
	AppOffset   int64  `json:"app_offset"`
	HiOffset    int64  `json:"hi_offset"`
	LsOffset    int64  `json:"ls_offset"`
}

// lag is the partition's consumer lag, or -1 when unknown. librdkafka's
// own consumer_lag counts from the offsets this consumer stored or
// committed; the manager does neither (its offsets commit in the
// producer's transaction, enable.auto.offset.store=false), so for it
// the lag is counted from the position the application polled to
// (app_offset) instead.
func (p rdPartition) lag() int64 {
	if p.ConsumerLag >= 0 {
		return p.ConsumerLag
	}
	end := p.LsOffset
	if end < 0 {
		end = p.HiOffset
	}
	if end < 0 || p.AppOffset < 0 {
		return -1
	}
	return max(end-p.AppOffset, 0)
}

var (
	kafkaQueued  = desc("kafka_client_queued_messages", "Messages in the client's producer queues (librdkafka msg_cnt).", "client")
	kafkaReplyQ  = desc("kafka_client_replyq", "Operations waiting in the client's reply queue for the application to poll.", "client")
	kafkaUp      = desc("kafka_broker_up", "1 when the client's connection to the broker is UP.", "client", "broker")
	kafkaRTT     = desc("kafka_broker_rtt_seconds", "Broker round-trip time over the last statistics window (stat: avg, p99).", "client", "broker", "stat")
	kafkaIntLat  = desc("kafka_broker_int_latency_seconds", "Time a message waited in the client's queue before it was sent (stat: avg, p99).", "client", "broker", "stat")
	kafkaOutbuf  = desc("kafka_broker_outbuf_requests", "Requests waiting to be sent to the broker.", "client", "broker")
	kafkaOutMsgs = desc("kafka_broker_outbuf_messages", "Messages in the requests waiting to be sent to the broker.", "client", "broker")
	kafkaWait    = desc("kafka_broker_waitresp_requests", "Requests sent to the broker and awaiting its response.", "client", "broker")
	kafkaMsgq    = desc("kafka_partition_queued_messages", "Messages queued for the partition by a producer (msgq_cnt + xmit_msgq_cnt).", "client", "topic", "partition")
	kafkaFetchq  = desc("kafka_partition_fetchq_messages", "Messages fetched for the partition and not yet polled.", "client", "topic", "partition")
	kafkaLag     = desc("kafka_consumer_lag", "Consumer lag of the partition: its end (last stable offset when read_committed) minus the consumer's committed, stored or polled offset.", "client", "topic", "partition")
)

// NewKafkaStats registers the librdkafka statistics collector on reg.
func NewKafkaStats(reg prometheus.Registerer) *KafkaStats {
	k := &KafkaStats{clients: map[string]rdStats{}}
	reg.MustRegister(k)
	return k
}

// Observe takes one statistics document of the client with the given
// role. A document that does not parse is ignored: statistics must never
// disturb the client.
func (k *KafkaStats) Observe(client, doc string) {
	var s rdStats
	if err := json.Unmarshal([]byte(doc), &s); err != nil {
		return
	}
	k.mu.Lock()
	k.clients[client] = s
	k.mu.Unlock()
}

// Func is Observe for the callbacks that know one client: role prefixes
// the client name the callback passes ("manager-" + "consumer").
func (k *KafkaStats) Func(role string) func(client, doc string) {
	return func(client, doc string) { k.Observe(role+client, doc) }
}

// Describe implements prometheus.Collector.
func (k *KafkaStats) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{kafkaQueued, kafkaReplyQ, kafkaUp, kafkaRTT, kafkaIntLat, kafkaOutbuf, kafkaOutMsgs, kafkaWait, kafkaMsgq, kafkaFetchq, kafkaLag} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (k *KafkaStats) Collect(ch chan<- prometheus.Metric) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for client, s := range k.clients {
		collectClient(ch, client, s)
	}
}

func collectClient(ch chan<- prometheus.Metric, client string, s rdStats) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(kafkaQueued, float64(s.MsgCnt), client)
	gauge(kafkaReplyQ, float64(s.ReplyQ), client)
	for _, b := range s.Brokers {
		if b.NodeID < 0 {
			continue // bootstrap and logical (coordinator) entries duplicate a real broker
		}
		node := strconv.Itoa(int(b.NodeID))
		gauge(kafkaUp, boolValue(b.State == "UP"), client, node)
		gauge(kafkaOutbuf, float64(b.OutbufCnt), client, node)
		gauge(kafkaOutMsgs, float64(b.OutbufMsgCnt), client, node)
		gauge(kafkaWait, float64(b.WaitrespCnt), client, node)
		gauge(kafkaRTT, micros(b.RTT.Avg), client, node, "avg")
		gauge(kafkaRTT, micros(b.RTT.P99), client, node, "p99")
		if s.Type == "producer" {
			gauge(kafkaIntLat, micros(b.IntLatency.Avg), client, node, "avg")
			gauge(kafkaIntLat, micros(b.IntLatency.P99), client, node, "p99")
		}
	}
	for topic, t := range s.Topics {
		for _, p := range t.Partitions {
			if p.Partition < 0 {
				continue // librdkafka's internal unassigned partition
			}
			part := strconv.Itoa(int(p.Partition))
			if s.Type == "producer" {
				gauge(kafkaMsgq, float64(p.MsgqCnt+p.XmitMsgqCnt), client, topic, part)
				continue
			}
			if p.FetchState == "none" {
				continue // known from metadata, not consumed here
			}
			gauge(kafkaFetchq, float64(p.FetchqCnt), client, topic, part)
			if lag := p.lag(); lag >= 0 { // -1: not known yet
				gauge(kafkaLag, float64(lag), client, topic, part)
			}
		}
	}
}

func micros(us int64) float64 { return float64(us) / 1e6 }
