package projection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/internal/kafkaoffsets"
)

// Defaults of the membership topic's readers and writers.
const (
	// DefaultMemberHeartbeat spaces a replica's records when nothing
	// changes: they are how routers tell a live replica from one killed
	// without its tombstone.
	DefaultMemberHeartbeat = 2 * time.Second
	// DefaultMemberTTL is how long a router trusts a replica it has not
	// heard of; a few heartbeats, so one late record does not drop it.
	DefaultMemberTTL = 7 * time.Second
)

// MemberViewConfig configures a MemberView.
type MemberViewConfig struct {
	// Client is the base librdkafka configuration (bootstrap.servers,
	// security).
	Client kafka.ConfigMap
	// Topic is the membership topic; default DefaultMembersTopic.
	Topic string
	// ReplicationFactor of the topic if this reader creates it; 0 or -1:
	// the broker's default.
	ReplicationFactor int
	// TTL: see DefaultMemberTTL.
	TTL    time.Duration
	Logger *slog.Logger
}

// MemberView reads the membership topic from its start and follows it,
// keeping the latest record of every replica. Routes and Changed are safe
// for concurrent use; Run is called once.
type MemberView struct {
	cfg     MemberViewConfig
	log     *slog.Logger
	mu      sync.Mutex
	members map[string]seenMember
	changed chan struct{} // closed, and replaced, on every change
	routes  atomic.Pointer[Routes]
	loaded  chan struct{}
	now     func() time.Time
}

// NewMemberView returns a view; Run reads the topic.
func NewMemberView(cfg MemberViewConfig) (*MemberView, error) {
	if cfg.Client["bootstrap.servers"] == nil {
		return nil, errors.New("projection: member view: bootstrap.servers is not set")
	}
	if cfg.Topic == "" {
		cfg.Topic = DefaultMembersTopic
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultMemberTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	v := &MemberView{cfg: cfg, log: cfg.Logger, members: map[string]seenMember{}, changed: make(chan struct{}),
		loaded: make(chan struct{}), now: time.Now}
	r := newRoutes(nil, cfg.TTL)
	v.routes.Store(&r)
	return v, nil
}

// Routes returns the latest table.
func (v *MemberView) Routes() Routes { return *v.routes.Load() }

// Changed is closed at the next change of the table.
func (v *MemberView) Changed() <-chan struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.changed
}

// Loaded is closed once the topic was read to its end once.
func (v *MemberView) Loaded() <-chan struct{} { return v.loaded }

// Run creates the topic if absent, then reads and follows it until ctx
// ends.
func (v *MemberView) Run(ctx context.Context) error {
	if err := ensureMembersTopic(ctx, v.cfg.Client, v.cfg.Topic, v.cfg.ReplicationFactor); err != nil {
		return err
	}
	cm := maps.Clone(v.cfg.Client)
	cm["group.id"] = MembersReaderGroup // never joined
	cm["enable.auto.commit"] = false
	cm["enable.partition.eof"] = true
	cm["auto.offset.reset"] = "earliest"
	cons, err := kafka.NewConsumer(&cm)
	if err != nil {
		return fmt.Errorf("projection: member view: %w", err)
	}
	defer func() { _ = cons.Close() }()
	topic := v.cfg.Topic
	// Start at the first offset, named: "the beginning" costs a fresh
	// consumer an offset lookup that librdkafka retries only after 500 ms.
	ends := kafkaoffsets.Ends(cons, topic, []int32{0}, 5*time.Second)
	if err := cons.Assign(kafkaoffsets.FromStart(topic, []int32{0}, ends, nil)); err != nil {
		return fmt.Errorf("projection: member view: assign: %w", err)
	}
	loaded := false
	for ctx.Err() == nil {
		switch e := cons.Poll(100).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				v.log.Warn("projection: member view", "err", e.TopicPartition.Error)
				continue
			}
			v.apply(e, loaded)
		case kafka.PartitionEOF:
			if !loaded {
				loaded = true
				close(v.loaded)
			}
		case kafka.Error:
			if e.IsFatal() {
				return fmt.Errorf("projection: member view: %w", e)
			}
			v.log.Debug("projection: member view", "err", e)
		}
	}
	return nil
}

// apply takes one record in. Before the topic's end was first reached, a
// record counts as heard of when it was written (so replicas long gone do
// not look alive for a TTL after this reader starts); after that, when it
// is read, by this reader's clock.
func (v *MemberView) apply(m *kafka.Message, loaded bool) {
	id := string(m.Key)
	at := v.now()
	if !loaded && !m.Timestamp.IsZero() && m.Timestamp.Before(at) {
		at = m.Timestamp
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if m.Value == nil {
		delete(v.members, id)
	} else {
		mem, err := decodeMember(m.Value)
		if err != nil || mem.ID != id {
			v.log.Warn("projection: member record skipped", "key", id, "err", err)
			return
		}
		v.members[id] = seenMember{Member: mem, seen: at}
	}
	r := newRoutes(slicesOf(v.members), v.cfg.TTL)
	v.routes.Store(&r)
	close(v.changed)
	v.changed = make(chan struct{})
}

func slicesOf(m map[string]seenMember) []seenMember {
	out := make([]seenMember, 0, len(m))
	for _, s := range m {
		out = append(out, s)
	}
	return out
}

// MembersReaderGroup is the group.id of every membership topic reader:
// assigned, never joined (a secured cluster grants Describe on it,
// internal/acls).
const MembersReaderGroup = "cartstream-projection-members"

// ensureMembersTopic creates the compacted one-partition membership topic
// if it is absent (replicas and routers race to; one wins).
func ensureMembersTopic(ctx context.Context, client kafka.ConfigMap, topic string, rf int) error {
	admin, err := kafka.NewAdminClient(&client)
	if err != nil {
		return fmt.Errorf("projection: members topic: %w", err)
	}
	defer admin.Close()
	if rf == 0 {
		rf = -1
	}
	res, err := admin.CreateTopics(ctx, []kafka.TopicSpecification{{
		Topic: topic, NumPartitions: 1, ReplicationFactor: rf,
		Config: map[string]string{"cleanup.policy": "compact", "segment.ms": "600000"},
	}}, kafka.SetAdminOperationTimeout(30*time.Second))
	if err != nil {
		return fmt.Errorf("projection: create %s: %w", topic, err)
	}
	for _, r := range res {
		switch r.Error.Code() {
		case kafka.ErrNoError, kafka.ErrTopicAlreadyExists, kafka.ErrTopicAuthorizationFailed, kafka.ErrClusterAuthorizationFailed:
		default:
			return fmt.Errorf("projection: create %s: %w", topic, r.Error)
		}
	}
	return nil
}

// memberWriter writes this replica's records to the membership topic.
type memberWriter struct {
	topic string
	prod  *kafka.Producer
}

func newMemberWriter(client kafka.ConfigMap, topic string) (*memberWriter, error) {
	cm := maps.Clone(client)
	cm["acks"] = "all"
	cm["linger.ms"] = 0
	cm["partitioner"] = "murmur2_random"
	prod, err := kafka.NewProducer(&cm)
	if err != nil {
		return nil, fmt.Errorf("projection: member writer: %w", err)
	}
	return &memberWriter{topic: topic, prod: prod}, nil
}

// write produces key -> value (nil: a tombstone) and waits for the broker's
// acknowledgement within ctx.
func (w *memberWriter) write(ctx context.Context, key string, value []byte) error {
	done := make(chan kafka.Event, 1)
	err := w.prod.Produce(&kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &w.topic, Partition: 0},
		Key:            []byte(key), Value: value,
	}, done)
	if err != nil {
		return fmt.Errorf("projection: member record: %w", err)
	}
	select {
	case ev := <-done:
		if m, ok := ev.(*kafka.Message); ok && m.TopicPartition.Error != nil {
			return fmt.Errorf("projection: member record: %w", m.TopicPartition.Error)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("projection: member record: %w", ctx.Err())
	}
}

func (w *memberWriter) close() { w.prod.Close() }
