package validation

import (
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// The transactional producers compress by default; the operator's client
// configuration may choose another codec, but not the settings the
// guarantees rest on.
func TestProducerConfigCompressesUnlessTheOperatorSaysOtherwise(t *testing.T) {
	get := func(cm *kafka.ConfigMap, key string) any {
		t.Helper()
		v, err := cm.Get(key, nil)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	def := Config{Client: kafka.ConfigMap{"bootstrap.servers": "b:9092"}, GroupID: "g", InstanceID: "i"}
	if got := get(def.producerConfig(0), "compression.type"); got != "lz4" {
		t.Errorf("default compression.type = %v, want lz4", got)
	}
	own := Config{Client: kafka.ConfigMap{"bootstrap.servers": "b:9092", "compression.type": "zstd", "acks": "1"}, GroupID: "g", InstanceID: "i"}
	cm := own.producerConfig(1)
	if got := get(cm, "compression.type"); got != "zstd" {
		t.Errorf("operator's compression.type = %v, want zstd", got)
	}
	if got := get(cm, "acks"); got != "all" {
		t.Errorf("acks = %v, want all whatever the file says", got)
	}
}
