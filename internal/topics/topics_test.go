package topics

import (
	"errors"
	"strings"
	"testing"
)

func TestSetValidateReportsEveryProblem(t *testing.T) {
	s := DefaultSet()
	s.Invalid = ""
	s.State = s.Requests
	err := s.Validate()
	if err == nil {
		t.Fatal("Validate accepted an empty and a duplicated name")
	}
	for _, want := range []string{"topic invalid: empty name", `topic state: "cart.requests" is used twice`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %q, missing %q", err, want)
		}
	}
	if err := DefaultSet().Validate(); err != nil {
		t.Fatalf("default set: %v", err)
	}
}

func TestSpecs(t *testing.T) {
	set := DefaultSet().WithPrefix("t1.")
	specs := set.Specs(Config{})
	if len(specs) != 8 {
		t.Fatalf("%d specs, want 8", len(specs))
	}
	byName := map[string]map[string]string{}
	for _, s := range specs {
		if s.NumPartitions != DefaultPartitions || s.ReplicationFactor != -1 {
			t.Errorf("%s: %d partitions, rf %d; want %d, -1", s.Topic, s.NumPartitions, s.ReplicationFactor, DefaultPartitions)
		}
		byName[s.Topic] = s.Config
	}
	if byName["t1.orders.placed"]["retention.ms"] != "-1" {
		t.Errorf("orders: %v, want kept forever", byName["t1.orders.placed"])
	}
	if byName["t1.cart.state"]["cleanup.policy"] != "compact" || byName["t1.catalog.products"]["cleanup.policy"] != "compact" {
		t.Error("tables are not compacted")
	}
	if byName["t1.cart.validated"]["retention.ms"] != "-1" {
		t.Error("the event log is not kept forever")
	}
	if byName["t1.inventory.stock"]["cleanup.policy"] != "compact" {
		t.Error("stock levels are not compacted")
	}
}

func TestInventoryCoPartitioned(t *testing.T) {
	set := DefaultSet()
	if err := coPartitionedInventory(set, map[string]int{set.Inventory: 4, set.Stock: 4, set.Requests: 12}); err != nil {
		t.Fatalf("the stock side may differ from the carts: %v", err)
	}
	if err := coPartitionedInventory(set, map[string]int{set.Inventory: 4, set.Stock: 3}); !errors.Is(err, ErrNotCoPartitioned) {
		t.Fatalf("coPartitionedInventory = %v", err)
	}
}

func TestCoPartitioned(t *testing.T) {
	set := DefaultSet()
	ok := map[string]int{set.Requests: 6, set.Validated: 6, set.Invalid: 6, set.State: 6, set.Catalog: 1}
	if err := coPartitioned(set, ok); err != nil {
		t.Fatalf("catalog may differ: %v", err)
	}
	bad := map[string]int{set.Requests: 6, set.Validated: 6, set.Invalid: 3, set.State: 6}
	err := coPartitioned(set, bad)
	if !errors.Is(err, ErrNotCoPartitioned) || !strings.Contains(err.Error(), "cart.invalid=3") {
		t.Fatalf("coPartitioned = %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{Partitions: -1, ReplicationFactor: -2}).Validate(); err == nil || !strings.Contains(err.Error(), "partitions") || !strings.Contains(err.Error(), "replication") {
		t.Fatalf("Validate = %v, want both problems", err)
	}
}
