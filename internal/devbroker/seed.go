package devbroker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
)

// ProductEncoder encodes a catalog.products value (internal/records.Codec
// implements it).
type ProductEncoder interface {
	EncodeProduct(p cart.Product) ([]byte, error)
}

// SeedConfig says where and what SeedCatalog writes.
type SeedConfig struct {
	// Client is the base librdkafka configuration: bootstrap.servers and
	// any security settings.
	Client   kafka.ConfigMap
	Topic    string
	Encoder  ProductEncoder
	Products []cart.Product
}

// Validate reports every problem at once.
func (c SeedConfig) Validate() error {
	var errs []error
	if c.Client["bootstrap.servers"] == nil {
		errs = append(errs, errors.New("bootstrap.servers is not set"))
	}
	if c.Topic == "" {
		errs = append(errs, errors.New("topic is empty"))
	}
	if c.Encoder == nil {
		errs = append(errs, errors.New("encoder is nil"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("devbroker: seed catalog: %w", err)
	}
	return nil
}

// SeedCatalog writes the products into the catalog topic, keyed by SKU,
// if and only if that topic has never had a record (every partition's end
// offset is 0). It returns how many it wrote: 0 when the topic already had
// records. The topic must exist. Every record is acknowledged (acks=all,
// idempotent producer, the murmur2_random partitioner) before it returns.
func SeedCatalog(ctx context.Context, cfg SeedConfig) (int, error) {
	if err := cfg.Validate(); err != nil {
		return 0, err
	}
	values := make([][]byte, len(cfg.Products))
	for i, p := range cfg.Products {
		v, err := cfg.Encoder.EncodeProduct(p)
		if err != nil {
			return 0, fmt.Errorf("devbroker: seed catalog: product %s: %w", p.SKU, err)
		}
		values[i] = v
	}
	empty, err := topicEmptyRetrying(ctx, cfg.Client, cfg.Topic)
	if err != nil || !empty {
		return 0, err
	}
	if err := produceAll(ctx, cfg, values); err != nil {
		return 0, err
	}
	return len(values), nil
}

// topicEmptyRetrying is topicEmpty, retried while the answer is a
// transient error (a topic created a moment ago has no leader yet) and ctx
// lasts.
func topicEmptyRetrying(ctx context.Context, client kafka.ConfigMap, topic string) (bool, error) {
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		empty, err := topicEmpty(ctx, client, topic)
		if err == nil || !transient(err) {
			return empty, err
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("%w (gave up: %w)", err, context.Cause(ctx))
		case <-time.After(wait): // retrying a transient broker answer
		}
	}
}

// transient says whether err is a broker answer that changes by itself
// soon: no leader elected yet, metadata not yet propagated.
func transient(err error) bool {
	var kerr kafka.Error
	if !errors.As(err, &kerr) {
		return false
	}
	switch kerr.Code() {
	case kafka.ErrNotLeaderForPartition, kafka.ErrLeaderNotAvailable, kafka.ErrUnknownTopicOrPart,
		kafka.ErrUnknownTopic, kafka.ErrUnknownPartition, kafka.ErrTimedOut, kafka.ErrRequestTimedOut, kafka.ErrTransport:
		return true
	}
	return kerr.IsRetriable()
}

// topicEmpty says whether every partition of topic has end offset 0.
func topicEmpty(ctx context.Context, client kafka.ConfigMap, topic string) (bool, error) {
	admin, err := kafka.NewAdminClient(configWith(client, nil))
	if err != nil {
		return false, fmt.Errorf("devbroker: admin client: %w", err)
	}
	defer admin.Close()
	timeout := 10 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	md, err := admin.GetMetadata(&topic, false, int(timeout.Milliseconds()))
	if err != nil {
		return false, fmt.Errorf("devbroker: metadata of %s: %w", topic, err)
	}
	tm, ok := md.Topics[topic]
	if !ok || tm.Error.Code() != kafka.ErrNoError || len(tm.Partitions) == 0 {
		return false, fmt.Errorf("devbroker: topic %s: %w", topic, kafka.NewError(kafka.ErrUnknownTopicOrPart, "no metadata: "+tm.Error.String(), false))
	}
	req := make(map[kafka.TopicPartition]kafka.OffsetSpec, len(tm.Partitions))
	for _, p := range tm.Partitions {
		req[kafka.TopicPartition{Topic: &topic, Partition: p.ID}] = kafka.LatestOffsetSpec
	}
	res, err := admin.ListOffsets(ctx, req)
	if err != nil {
		return false, fmt.Errorf("devbroker: end offsets of %s: %w", topic, err)
	}
	for tp, info := range res.ResultInfos {
		if info.Error.Code() != kafka.ErrNoError {
			return false, fmt.Errorf("devbroker: end offset of %s[%d]: %w", topic, tp.Partition, info.Error)
		}
		if info.Offset > 0 {
			return false, nil
		}
	}
	return true, nil
}

func produceAll(ctx context.Context, cfg SeedConfig, values [][]byte) error {
	prod, err := kafka.NewProducer(configWith(cfg.Client, kafka.ConfigMap{
		"enable.idempotence": true,
		"acks":               "all",
		"partitioner":        "murmur2_random",
		"linger.ms":          5,
	}))
	if err != nil {
		return fmt.Errorf("devbroker: seed producer: %w", err)
	}
	defer prod.Close()
	topic := cfg.Topic
	done := make(chan kafka.Event, len(values))
	for i, v := range values {
		msg := &kafka.Message{
			TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
			Key:            []byte(cfg.Products[i].SKU),
			Value:          v,
		}
		if err := prod.Produce(msg, done); err != nil {
			return fmt.Errorf("devbroker: seed %s: %w", cfg.Products[i].SKU, err)
		}
	}
	var errs []error
	for range values {
		select {
		case ev := <-done:
			m, ok := ev.(*kafka.Message)
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("unexpected delivery event %v", ev))
			case m.TopicPartition.Error != nil:
				errs = append(errs, fmt.Errorf("%s: %w", m.Key, m.TopicPartition.Error))
			}
		case <-ctx.Done():
			return fmt.Errorf("devbroker: seed catalog: %w", context.Cause(ctx))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("devbroker: seed catalog: %w", err)
	}
	return nil
}

func configWith(base, extra kafka.ConfigMap) *kafka.ConfigMap {
	cm := maps.Clone(base)
	if cm == nil {
		cm = kafka.ConfigMap{}
	}
	maps.Copy(cm, extra)
	return &cm
}
