package gateway

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cartstream/cartstream/internal/records"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// Issue 14: AdjustStock carries the client's adjustment id to the
// processor (which applies an id once), makes one when the client sent
// none (answered in the response), and refuses a malformed one.
func TestInventoryAdminAdjustmentID(t *testing.T) {
	rec, err := records.New(records.Config{})
	if err != nil {
		t.Fatal(err)
	}
	prod := &fakeProducer{}
	a := &InventoryAdmin{Requests: "inventory.requests", Stock: "inventory.stock", Producer: prod, Codec: rec}
	ctx := context.Background()

	resp, err := a.AdjustStock(ctx, &cartv1.AdjustStockRequest{Sku: "SKU-A", Delta: 4, RequestId: "op-1", AdjustmentId: "restock-1"})
	if err != nil || resp.GetAdjustmentId() != "restock-1" {
		t.Fatalf("AdjustStock: %v, %v", resp, err)
	}
	r, err := rec.DecodeInventoryRequest(prod.records()[0].Value)
	if err != nil || r.AdjustmentID != "restock-1" || r.Units != 4 || string(prod.records()[0].Key) != "SKU-A" {
		t.Fatalf("written: %+v, %v", r, err)
	}

	resp, err = a.AdjustStock(ctx, &cartv1.AdjustStockRequest{Sku: "SKU-A", Delta: 1, RequestId: "op-2"})
	if err != nil || !strings.HasPrefix(resp.GetAdjustmentId(), "gw-") {
		t.Fatalf("AdjustStock without an id: %v, %v", resp, err)
	}
	r, err = rec.DecodeInventoryRequest(prod.records()[1].Value)
	if err != nil || string(r.AdjustmentID) != resp.GetAdjustmentId() {
		t.Fatalf("written: %+v, %v; answered id %s", r, err, resp.GetAdjustmentId())
	}
	again, err := a.AdjustStock(ctx, &cartv1.AdjustStockRequest{Sku: "SKU-A", Delta: 1, RequestId: "op-2"})
	if err != nil || again.GetAdjustmentId() == resp.GetAdjustmentId() {
		t.Fatalf("two calls without an id got one id %s: %v", again.GetAdjustmentId(), err)
	}

	_, err = a.AdjustStock(ctx, &cartv1.AdjustStockRequest{Sku: "SKU-A", Delta: 1, RequestId: "op-3", AdjustmentId: "not ok!"})
	if status.Code(err) != codes.InvalidArgument || len(prod.records()) != 3 {
		t.Fatalf("malformed adjustment id: %v, %d written", err, len(prod.records()))
	}
	// SetStock has no adjustment id: a count is idempotent by itself.
	if _, err := a.SetStock(ctx, &cartv1.SetStockRequest{Sku: "SKU-A", Available: 3, RequestId: "op-4"}); err != nil {
		t.Fatalf("SetStock: %v", err)
	}
}
