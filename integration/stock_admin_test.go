package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/cartstream/cartstream/cmd/cartstream/app"
	"github.com/cartstream/cartstream/internal/auth"
	"github.com/cartstream/cartstream/internal/gateway"
	"github.com/cartstream/cartstream/inventory"
	"github.com/cartstream/cartstream/projection"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// Issue 14, item 2: stock through the admin API of the one-process backend
// (its inventory processor in-process, as `make run` runs it): a count set
// by an operator limits AddItem at once (the soft check) and checkout for
// real; a restock and a refused correction show in GetStock.
func TestStockAdminAPI(t *testing.T) {
	a := startOneProcess(t, func(c *app.Config) { c.Auth = auth.Config{DevMode: true} })
	conn := dialOneProcess(t, a)
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

	// Over HTTP the body carries the adjustment id: the same adjustment
	// posted twice (a browser or script retrying) counts once.
	url := "http://" + a.HTTPAddr() + "/v1/admin/stock/" + sku + ":adjust"
	for _, body := range []map[string]any{
		{"request_id": "op-5", "delta": 1, "adjustment_id": "http-adj-1"},
		{"request_id": "op-5", "delta": 1, "adjustment_id": "http-adj-1"},
		{"requestId": "op-6", "delta": 10, "adjustmentId": "http-adj-2"},
	} {
		if got := postStock(t, url, body); got["adjustmentId"] != body["adjustment_id"] && got["adjustmentId"] != body["adjustmentId"] {
			t.Fatalf("POST %v answered %v", body, got)
		}
	}
	l = waitLevel(func(l *cartv1.StockLevel) bool { return l.GetVersion() >= 6 })
	if l.GetAvailable() != 13 || l.GetVersion() != 6 {
		t.Fatalf("after +1 posted twice with one id and +10: %v, want 13 available, version 6", l)
	}
}

// postStock posts body as JSON and decodes the JSON answer.
func postStock(t *testing.T, url string, body map[string]any) map[string]any {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(withTimeout(t, 10*time.Second), http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: HTTP %d, %v, %v", url, resp.StatusCode, out, err)
	}
	return out
}

// waitInventoryDrained waits until the inventory group has decided every
// request on inventory.requests.
func (e *cartEnv) waitInventoryDrained(t *testing.T, timeout time.Duration) {
	t.Helper()
	admin := e.c.Admin(t)
	deadline := time.Now().Add(timeout)
	for {
		behind, err := e.groupBehind(admin, e.inventoryGroup(t), e.set.Inventory)
		if err == nil && !behind {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("inventory group behind after %s (err %v)", timeout, err)
		}
		time.Sleep(100 * time.Millisecond) // polling the group's offsets with a deadline
	}
}

// adjustmentsOn counts the AdjustStock records on inventory.requests that
// carry adjustment id id.
func (e *cartEnv) adjustmentsOn(t *testing.T, id inventory.AdjustmentID) int {
	t.Helper()
	n := 0
	for _, m := range readToEnd(t, e.c, e.set.Inventory, e.partitions, "read_committed") {
		if r, err := e.rec.DecodeInventoryRequest(m.Value); err == nil && r.Kind == inventory.KindAdjust && r.AdjustmentID == id {
			n++
		}
	}
	return n
}

// Issue 14: AdjustStock retried by a client whose answer was lost (a
// timeout) adjusted the stock twice. With an adjustment id the processor
// applies it once: the retries, sent through the gateway to the real
// broker, change nothing, also after the processor restarted (the window
// lives in the level record on inventory.stock).
func TestAdjustStockRetriedAppliesOnce(t *testing.T) {
	waitBound(t)
	e := newCartEnv(t, 3)
	e.seedCatalog(t, demoProducts()...)
	inv1, stop1 := e.startInventory(t, e.inventoryConfig(t, "inv-1"))
	run := e.startProjection(t)
	run.waitServing(t, time.Minute)
	srv := projection.NewServer(run.p)
	var addr string
	e.startGatewayWith(t, srv, srv, nil, func(o *gateway.Options) { addr = o.Listener.Addr().String() })
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc client: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	admin := cartv1.NewInventoryAdminServiceClient(conn)
	const sku = "SKU-A"
	if _, err := admin.SetStock(withTimeout(t, 10*time.Second), &cartv1.SetStockRequest{Sku: sku, Available: 10, RequestId: "op-1"}); err != nil {
		t.Fatalf("SetStock: %v", err)
	}
	adjust := func(ctx context.Context, id string, delta int64) (*cartv1.AdjustStockResponse, error) {
		return admin.AdjustStock(ctx, &cartv1.AdjustStockRequest{Sku: sku, Delta: delta, RequestId: "op-adj", AdjustmentId: id})
	}
	// The first call times out on the client (it may or may not have been
	// written); the client retries the same adjustment twice more.
	short, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	_, _ = adjust(short, "restock-1", 5)
	cancel()
	for range 2 {
		resp, err := adjust(withTimeout(t, 10*time.Second), "restock-1", 5)
		if err != nil || resp.GetAdjustmentId() != "restock-1" {
			t.Fatalf("AdjustStock retry: %v, %v", resp, err)
		}
	}
	if _, err := adjust(withTimeout(t, 10*time.Second), "restock-2", 1); err != nil {
		t.Fatalf("AdjustStock: %v", err)
	}
	// Without an id the gateway makes one: applied, once per call.
	resp, err := adjust(withTimeout(t, 10*time.Second), "", 1)
	if err != nil || !strings.HasPrefix(resp.GetAdjustmentId(), "gw-") {
		t.Fatalf("AdjustStock without an id: %v, %v", resp, err)
	}
	if _, err := adjust(withTimeout(t, 10*time.Second), "bad id!", 1); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("AdjustStock with a malformed id: %v, want INVALID_ARGUMENT", err)
	}
	e.waitInventoryDrained(t, time.Minute)
	sent := e.adjustmentsOn(t, "restock-1")
	if sent < 2 {
		t.Fatalf("%d records of restock-1 on %s, want at least the 2 retries", sent, e.set.Inventory)
	}
	latest, _ := e.stockLevels(t)
	l := latest[sku]
	// set 10, +5 once, +1, +1: version 4.
	if l.Available != 17 || l.Version != 4 {
		t.Fatalf("after restock-1 sent %d times: %d available, version %d; want 17, version 4", sent, l.Available, l.Version)
	}
	if a, ok := l.Lookup("restock-1"); !ok || !a.Applied || a.Available != 15 {
		t.Fatalf("window of %s: %+v", sku, l.Adjustments)
	}
	if n := inv1.Stats().Repeats.Load(); n != int64(sent-1) {
		t.Fatalf("processor counted %d repeats of %d sends, want %d", n, sent, sent-1)
	}

	// A new processor restores the window with the level: one more retry
	// changes nothing.
	stop1()
	inv2, _ := e.startInventory(t, e.inventoryConfig(t, "inv-2"))
	if _, err := adjust(withTimeout(t, 10*time.Second), "restock-1", 5); err != nil {
		t.Fatalf("AdjustStock after the restart: %v", err)
	}
	e.waitInventoryDrained(t, time.Minute)
	latest, _ = e.stockLevels(t)
	if l := latest[sku]; l.Available != 17 || l.Version != 4 {
		t.Fatalf("after a retry across a restart: %d available, version %d; want 17, version 4", l.Available, l.Version)
	}
	if n := inv2.Stats().Repeats.Load(); n != 1 {
		t.Fatalf("restarted processor counted %d repeats, want 1", n)
	}
	e.verifyClean(t)
}
