package integration

import (
	"context"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/inventory"
	"github.com/cartstream/cartstream/inventory/processor"
	"github.com/cartstream/cartstream/validation"
)

// inventoryGroup is the env's inventory processor group.
func (e *cartEnv) inventoryGroup(t *testing.T) string {
	return e.group + "-inventory"
}

// reservingConfig is the manager's configuration with reservations on.
func (e *cartEnv) reservingConfig(t *testing.T, instance string) validation.Config {
	cfg := e.managerConfig(t, instance)
	cfg.Reservations = true
	return cfg
}

// inventoryConfig is the inventory processor's configuration for this env.
func (e *cartEnv) inventoryConfig(t *testing.T, instance string) processor.Config {
	return processor.Config{
		Client: e.client("inventory"), Topics: e.set, GroupID: e.inventoryGroup(t), InstanceID: instance,
		Records: e.rec, Logger: testLogger(t).With("service", "inventory"),
		SessionTimeout: 6 * time.Second, TransactionTimeout: 10 * time.Second,
	}
}

// startInventory runs an inventory processor in this process until the
// test ends (or stop is called) and waits until it has its partitions.
func (e *cartEnv) startInventory(t *testing.T, cfg processor.Config) (*processor.Processor, func()) {
	t.Helper()
	p, err := processor.New(cfg)
	if err != nil {
		t.Fatalf("new inventory processor: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("inventory %s: %v", cfg.InstanceID, err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("inventory %s did not stop within 60s", cfg.InstanceID)
		}
	}
	t.Cleanup(stop)
	select {
	case <-p.Ready():
	case err := <-done:
		t.Fatalf("inventory %s ended before ready: %v", cfg.InstanceID, err)
	case <-time.After(60 * time.Second):
		t.Fatalf("inventory %s not ready within 60s", cfg.InstanceID)
	}
	return p, stop
}

// setStock writes stock counts as the admin API does: SetStock requests
// keyed by SKU.
func (e *cartEnv) setStock(t *testing.T, levels map[cart.SKU]int64) {
	t.Helper()
	var recs []rawRecord
	for sku, n := range levels {
		v, err := e.rec.EncodeInventoryRequest(inventory.Request{Kind: inventory.KindSet, RequestID: "op-set", SKU: sku, RequestedAt: e.now(), Units: n})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rawRecord{key: []byte(sku), value: v})
	}
	e.produce(t, e.set.Inventory, recs...)
}

// stockLevels reads inventory.stock whole (read_committed): the latest
// level of each SKU, and every level ever committed, in order.
func (e *cartEnv) stockLevels(t *testing.T) (latest map[cart.SKU]inventory.Level, all []inventory.Level) {
	t.Helper()
	latest = map[cart.SKU]inventory.Level{}
	for _, m := range readToEnd(t, e.c, e.set.Stock, e.partitions, "read_committed") {
		l, err := e.rec.DecodeStockLevel(m.Value)
		if err != nil {
			t.Fatalf("stock level at %v: %v", m.TopicPartition, err)
		}
		latest[l.SKU] = l
		all = append(all, l)
	}
	return latest, all
}

// waitStock polls the stock levels until ok accepts them.
func (e *cartEnv) waitStock(t *testing.T, ok func(map[cart.SKU]inventory.Level) bool) map[cart.SKU]inventory.Level {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		latest, _ := e.stockLevels(t)
		if ok(latest) {
			return latest
		}
		if time.Now().After(deadline) {
			t.Fatalf("stock levels %+v not as expected within a minute", latest)
		}
		time.Sleep(100 * time.Millisecond) // polling committed records with a deadline
	}
}

// groupBehind reports whether group has records of topic left to
// consume. Committed offsets alone cannot say: where topic is written in
// transactions (the answers on cart.requests, the reservations on
// inventory.requests) a commit marker follows the last record, so a
// drained group's offset stays one short of the end per transaction. A
// read_committed consumer from the committed offsets finds out.
func (e *cartEnv) groupBehind(admin *kafka.AdminClient, group, topic string) (bool, error) {
	cons, err := kafka.NewConsumer(e.c.Config(kafka.ConfigMap{"group.id": group, "isolation.level": "read_committed", "enable.auto.commit": false, "enable.partition.eof": true}))
	if err != nil {
		return true, err
	}
	defer cons.Close()
	tps := make([]kafka.TopicPartition, e.partitions)
	for i := range tps {
		tps[i] = kafka.TopicPartition{Topic: &topic, Partition: int32(i)}
	}
	res, err := cons.Committed(tps, 10000)
	if err != nil {
		return true, err
	}
	ends, err := e.ends(admin, topic)
	if err != nil {
		return true, err
	}
	var check []kafka.TopicPartition
	for _, tp := range res {
		if tp.Error != nil {
			return true, tp.Error
		}
		from := max(int64(tp.Offset), 0)
		if from < ends[tp.Partition] {
			check = append(check, kafka.TopicPartition{Topic: &topic, Partition: tp.Partition, Offset: kafka.Offset(from)})
		}
	}
	if len(check) == 0 {
		return false, nil
	}
	if err := cons.Assign(check); err != nil {
		return true, err
	}
	pending := len(check)
	deadline := time.Now().Add(10 * time.Second)
	for pending > 0 && time.Now().Before(deadline) {
		switch ev := cons.Poll(100).(type) {
		case *kafka.Message:
			return true, nil
		case kafka.PartitionEOF:
			pending--
		case kafka.Error:
			return true, ev
		}
	}
	return pending > 0, nil
}

// waitSagaDrained waits until the manager and the inventory groups have
// both consumed everything, at the same look: from then on no checkout is
// in flight between them.
func (e *cartEnv) waitSagaDrained(t *testing.T, timeout time.Duration) {
	t.Helper()
	admin := e.c.Admin(t)
	deadline := time.Now().Add(timeout)
	// Two clean looks in a row: a look reads one group, then the other, and
	// work can pass from the second to the first in between.
	for clean := 0; clean < 2; {
		inv, err1 := e.groupBehind(admin, e.inventoryGroup(t), e.set.Inventory)
		carts, err2 := e.groupBehind(admin, e.group, e.set.Requests)
		if err1 == nil && err2 == nil && !inv && !carts {
			clean++
			continue
		}
		clean = 0
		if time.Now().After(deadline) {
			t.Fatalf("saga not drained after %s: inventory behind %t (%v), carts behind %t (%v)", timeout, inv, err1, carts, err2)
		}
		time.Sleep(100 * time.Millisecond) // polling the groups' offsets with a deadline
	}
}
