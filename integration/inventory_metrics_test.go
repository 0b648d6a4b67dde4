package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/metrics"
	"github.com/cartstream/cartstream/inventory"
)

// A known workload straight onto inventory.requests (a stock count, three
// one-unit reservations of two units, a release), then a scrape of the
// processor's /metrics: each decision counted once, by kind and result,
// and the processor serving.
func TestInventoryProcessorMetricsAndHealth(t *testing.T) {
	e := newCartEnv(t, 3)
	set := metrics.ForInventory()
	cfg := e.inventoryConfig(t, "inv1")
	cfg.Restored = set.Inventory.Restored
	cfg.KafkaStats, cfg.KafkaStatsInterval = set.Kafka.Func("inventory-"), statsInterval
	p, _ := e.startInventory(t, cfg)
	set.Inventory.Attach(p)
	url := serveMetrics(t, set)
	waitFor(t, 30*time.Second, "the processor serving after ready", func() bool { h, _ := p.Health(); return h.Serving })

	e.setStock(t, map[cart.SKU]int64{"SKU-A": 2})
	e.waitStock(t, func(l map[cart.SKU]inventory.Level) bool { return l["SKU-A"].Available == 2 })
	reserve := func(kind inventory.Kind, n int) rawRecord {
		id := fmt.Sprintf("res-%d", n)
		r := inventory.Request{Kind: kind, RequestID: cart.RequestID(id), SKU: "SKU-A", RequestedAt: e.now(),
			Reservation: cart.Reservation{ID: cart.ReservationID(id), CartID: cart.CartID(fmt.Sprintf("cart-%d", n)), CheckoutRequestID: "co", SKU: "SKU-A", Quantity: 1}}
		v, err := e.rec.EncodeInventoryRequest(r)
		if err != nil {
			t.Fatal(err)
		}
		return rawRecord{key: []byte("SKU-A"), value: v}
	}
	e.produce(t, e.set.Inventory, reserve(inventory.KindReserve, 1), reserve(inventory.KindReserve, 2), reserve(inventory.KindReserve, 3))
	e.produce(t, e.set.Inventory, reserve(inventory.KindRelease, 1))
	e.waitStock(t, func(l map[cart.SKU]inventory.Level) bool {
		return l["SKU-A"].Available == 1 && l["SKU-A"].Reserved == 1
	})

	req := func(kind, result string) labels { return labels{"kind": kind, "result": result} }
	s := eventually(t, "inventory-processor", url, []check{
		expect("cartstream_inventory_requests_total", req("set", "applied"), eq, 1),
		expect("cartstream_inventory_requests_total", req("reserve", "granted"), eq, 2),
		expect("cartstream_inventory_requests_total", req("reserve", "refused"), eq, 1),
		expect("cartstream_inventory_requests_total", req("release", "applied"), eq, 1),
		expect("cartstream_inventory_requests_total", req("adjust", "applied"), eq, 0),
		expect("cartstream_inventory_requests_total", req("reserve", "invalid"), eq, 0),
		expect("cartstream_inventory_malformed_requests_total", nil, eq, 0),
		expect("cartstream_inventory_transactions_committed_total", nil, ge, 2),
		expect("cartstream_inventory_transactions_aborted_total", nil, eq, 0),
		expect("cartstream_inventory_session_rebuilds_total", nil, eq, 0),
		expect("cartstream_inventory_owned_partitions", nil, eq, float64(e.partitions)),
		expect("cartstream_inventory_serving", nil, eq, 1),
		expect("cartstream_inventory_restore_seconds", nil, ge, 1),
	}, func(s scrape) string {
		for _, c := range []string{"inventory-consumer", "inventory-producer"} {
			if len(s.samples("cartstream_kafka_broker_up", labels{"client": c})) == 0 {
				return "no librdkafka statistics of " + c
			}
		}
		return ""
	})
	// At most 5 transactions: the set, the reservations and the release
	// each commit in one or a few; more would mean empty commits.
	if v, _ := s.value("cartstream_inventory_transactions_committed_total", nil); v > 5 {
		t.Errorf("transactions committed = %v, want at most 5 for 5 requests", v)
	}
	checkRuntime(t, s)
	if h, _ := p.Health(); !h.Serving {
		t.Errorf("health after the workload: %+v, want serving", h)
	}
}
