package projection

import (
	"context"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cartstream/cartstream/cart"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// Every partition's Projection of a replica answers products and stock
// badges from the one pair of tables it was handed, and builds no reader of
// its own (each used to read catalog.products and inventory.stock whole).
func TestPartitionProjectionsAnswerFromTheSharedTables(t *testing.T) {
	cfg := Config{Client: kafka.ConfigMap{"bootstrap.servers": "unused:1"}, Records: nopDecoder{}}
	tables, err := NewSharedTables(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tables.catalog.put("SKU-1", &cart.Product{SKU: "SKU-1", Name: "Mug", UnitPrice: cart.Money{Amount: 900, Currency: "EUR"}, Active: true})
	tables.stock.put("SKU-1", 7, true)
	for part := range int32(3) {
		c := cfg
		c.Partitions, c.Tables = []int32{part}, tables
		p, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		if p.ownTables || p.tables != tables {
			t.Fatalf("partition %d: the Projection built tables of its own", part)
		}
		srv := NewCatalogServer(p)
		if part == 0 {
			if _, err := srv.GetProduct(context.Background(), &cartv1.GetProductRequest{Sku: "SKU-1"}); status.Code(err) != codes.Unavailable {
				t.Fatalf("before the catalog is loaded: %v, want UNAVAILABLE", err)
			}
			tables.catalog.markLoaded()
		}
		resp, err := srv.GetProduct(context.Background(), &cartv1.GetProductRequest{Sku: "SKU-1"})
		if err != nil {
			t.Fatalf("partition %d: GetProduct: %v", part, err)
		}
		if got := resp.GetProduct(); got.GetName() != "Mug" || got.GetAvailableUnits() != 7 {
			t.Errorf("partition %d: product %v, want Mug with 7 available", part, got)
		}
	}
}

// A Projection without Config.Tables reads its own (single-process mode).
func TestProjectionWithoutSharedTablesReadsItsOwn(t *testing.T) {
	p, err := New(Config{Client: kafka.ConfigMap{"bootstrap.servers": "unused:1"}, Records: nopDecoder{}})
	if err != nil {
		t.Fatal(err)
	}
	if !p.ownTables || p.tables == nil || p.tables.catalogT == nil {
		t.Fatal("a Projection without shared tables has no catalog reader of its own")
	}
}
