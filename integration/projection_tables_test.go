package integration

import (
	"context"
	"encoding/json"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cartstream/cartstream/internal/kafkatest"
	"github.com/cartstream/cartstream/inventory"
	"github.com/cartstream/cartstream/projection"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// A replica that materializes four partitions reads catalog.products and
// inventory.stock once, not once per partition (each partition's Projection
// used to run a reader of each): counted by the distinct librdkafka
// consumers that report statistics for each table, beside the four
// cart.state consumers. Products and stock badges are still answered.
func TestProjectionReplicaReadsTheCatalogAndStockOnce(t *testing.T) {
	e := newCartEnv(t, 4)
	e.seedCatalog(t, demoProducts()...)
	v, err := e.rec.EncodeStockLevel(inventory.Level{SKU: "SKU-A", Available: 5, Version: 1})
	if err != nil {
		t.Fatal(err)
	}
	e.produce(t, e.set.Stock, rawRecord{key: []byte("SKU-A"), value: v})
	e.c.DeleteOnCleanup(t, membersTopicOf(e))

	var (
		mu      sync.Mutex
		reports int
		names   = map[string]map[string]bool{} // client -> librdkafka instance names
	)
	stats := func(client, js string) {
		var doc struct {
			Name string `json:"name"`
		}
		if json.Unmarshal([]byte(js), &doc) != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if names[client] == nil {
			names[client] = map[string]bool{}
		}
		names[client][doc.Name] = true
		reports++
	}
	count := func(client string) (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return len(names[client]), reports
	}
	r, err := projection.NewReplica(projection.ReplicaConfig{
		ID: "a", Endpoint: "127.0.0.1:1", GroupID: kafkatest.UniqueName(t, "projection"), MembersTopic: membersTopicOf(e),
		Projection: projection.Config{Client: e.client("projection"), Topics: e.set, Records: e.rec, Logger: testLogger(t),
			KafkaStats: stats, KafkaStatsInterval: 100 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("replica: %v", err)
		}
	})
	select {
	case <-r.Ready():
	case <-time.After(time.Minute):
		t.Fatalf("replica not ready within a minute: %+v", r.Stats())
	}
	waitFor(t, 30*time.Second, "every partition's cart.state consumer to report statistics", func() bool {
		n, _ := count("state")
		return n == 4
	})
	// A few more rounds of statistics: a reader per partition would have
	// reported by now.
	_, before := count("state")
	waitFor(t, 30*time.Second, "more statistics", func() bool {
		_, n := count("state")
		return n >= before+40
	})
	for _, client := range []string{"catalog", "stock"} {
		if n, _ := count(client); n != 1 {
			t.Errorf("%d consumers of %s in a replica of 4 partitions, want 1", n, client)
		}
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	r.Register(srv)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	catalog := cartv1.NewCatalogServiceClient(conn)
	waitFor(t, 30*time.Second, "SKU-A with its stock badge", func() bool {
		resp, err := catalog.GetProduct(context.Background(), &cartv1.GetProductRequest{Sku: "SKU-A"})
		return err == nil && resp.GetProduct().GetAvailableUnits() == 5
	})
	list, err := catalog.ListProducts(context.Background(), &cartv1.ListProductsRequest{})
	if err != nil || len(list.GetProducts()) != 6 {
		t.Errorf("ListProducts: %d products, %v; want the 6 active demo products", len(list.GetProducts()), err)
	}
}
