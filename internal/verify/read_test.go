package verify_test

import (
	"strings"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/internal/topics"
	"github.com/cartstream/cartstream/internal/verify"
)

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	err := verify.Config{Topics: topics.Set{Requests: "r"}, ProgressInterval: -1}.Validate()
	if err == nil {
		t.Fatal("empty config validates")
	}
	for _, want := range []string{"bootstrap.servers", "validated topic", "invalid topic", "state topic", "decoder", "negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	ok := verify.Config{Client: kafka.ConfigMap{"bootstrap.servers": "127.0.0.1:9092"}, Topics: topics.DefaultSet(), Decoder: nopDecoder{}}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func TestProgressString(t *testing.T) {
	p := verify.Progress{Topics: []verify.TopicProgress{
		{Topic: "cart.requests", Records: 5, Offsets: 5, Total: 10},
		{Topic: "cart.state", Records: 3, Offsets: 4, Total: 4, Done: true},
		{Topic: "cart.invalid", Done: true},
	}}
	want := "cart.requests 5/10 offsets (50%, 5 records), cart.state 4/4 offsets (100%, 3 records) done, cart.invalid 0/0 offsets (100%, 0 records) done"
	if got := p.String(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
