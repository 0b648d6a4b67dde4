package integration

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// Issue 14, item 2: stock through the admin API of the one-process backend
// (its inventory processor in-process, as `make run` runs it): a count set
// by an operator limits AddItem at once (the soft check) and checkout for
// real; a restock and a refused correction show in GetStock.
func TestStockAdminAPI(t *testing.T) {
	conn := startDevProcess(t)
	carts, admin := cartv1.NewCartServiceClient(conn), cartv1.NewInventoryAdminServiceClient(conn)
	sku := activeSKU(t)
	if _, err := admin.GetStock(withTimeout(t, 10*time.Second), &cartv1.GetStockRequest{Sku: sku}); status.Code(err) != codes.NotFound {
		t.Fatalf("GetStock of an untracked sku: %v, want NOT_FOUND", err)
	}
	if _, err := admin.SetStock(withTimeout(t, 10*time.Second), &cartv1.SetStockRequest{Sku: sku, Available: 1, RequestId: "op-1"}); err != nil {
		t.Fatalf("SetStock: %v", err)
	}
	if _, err := admin.SetStock(withTimeout(t, 10*time.Second), &cartv1.SetStockRequest{Sku: sku, Available: -1, RequestId: "op-x"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("SetStock below zero: %v, want INVALID_ARGUMENT", err)
	}
	waitLevel := func(want func(*cartv1.StockLevel) bool) *cartv1.StockLevel {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			resp, err := admin.GetStock(withTimeout(t, 10*time.Second), &cartv1.GetStockRequest{Sku: sku})
			if err == nil && want(resp.GetStock()) {
				return resp.GetStock()
			}
			if time.Now().After(deadline) {
				t.Fatalf("stock of %s: %v, %v", sku, resp, err)
			}
			time.Sleep(100 * time.Millisecond) // polling the processor's commit with a deadline
		}
	}
	waitLevel(func(l *cartv1.StockLevel) bool { return l.GetAvailable() == 1 && l.GetVersion() == 1 })

	n := 0
	add := func(cartID string, qty int32) *cartv1.CommandOutcome {
		t.Helper()
		n++
		resp, err := carts.AddItem(withTimeout(t, 10*time.Second), &cartv1.AddItemRequest{
			CartId: cartID, RequestId: fmt.Sprintf("req-%d", n), CustomerId: "cust-1", Sku: sku, Quantity: qty, WaitForOutcome: true,
		})
		if err != nil || resp.GetOutcome() == nil {
			t.Fatalf("AddItem: %v, %v", resp, err)
		}
		return resp.GetOutcome()
	}
	// The manager follows inventory.stock: two units are refused once it
	// has read the count.
	deadline := time.Now().Add(time.Minute)
	for i := 0; ; i++ {
		out := add(fmt.Sprintf("cart-two-%d", i), 2)
		if out.GetRejection().GetReason() == cartv1.ReasonCode_REASON_CODE_OUT_OF_STOCK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("AddItem of 2 with 1 in stock: %v", out)
		}
	}
	if out := add("cart-one", 1); !out.GetAccepted() {
		t.Fatalf("AddItem of the last unit: %v", out)
	}
	co, err := carts.Checkout(withTimeout(t, 30*time.Second), &cartv1.CheckoutRequest{CartId: "cart-one", RequestId: "co-1", CustomerId: "cust-1", WaitForOutcome: true})
	if err != nil || !co.GetOutcome().GetAccepted() || co.GetOutcome().GetOrderId() == "" {
		t.Fatalf("Checkout of the last unit: %v, %v", co, err)
	}
	waitLevel(func(l *cartv1.StockLevel) bool { return l.GetAvailable() == 0 && l.GetReserved() == 1 })

	if _, err := admin.AdjustStock(withTimeout(t, 10*time.Second), &cartv1.AdjustStockRequest{Sku: sku, Delta: 3, RequestId: "op-2"}); err != nil {
		t.Fatalf("AdjustStock: %v", err)
	}
	// Refused by the processor: it would leave -2.
	if _, err := admin.AdjustStock(withTimeout(t, 10*time.Second), &cartv1.AdjustStockRequest{Sku: sku, Delta: -5, RequestId: "op-3"}); err != nil {
		t.Fatalf("AdjustStock: %v", err)
	}
	if _, err := admin.AdjustStock(withTimeout(t, 10*time.Second), &cartv1.AdjustStockRequest{Sku: sku, Delta: -1, RequestId: "op-4"}); err != nil {
		t.Fatalf("AdjustStock: %v", err)
	}
	l := waitLevel(func(l *cartv1.StockLevel) bool { return l.GetVersion() >= 4 })
	if l.GetAvailable() != 2 || l.GetReserved() != 1 || l.GetVersion() != 4 {
		t.Fatalf("after +3, a refused -5 and -1: %v, want 2 available, 1 reserved, version 4", l)
	}
}
