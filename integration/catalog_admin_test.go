package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/cartstream/cartstream/catalog"
	"github.com/cartstream/cartstream/cmd/cartstream/app"
	"github.com/cartstream/cartstream/internal/auth"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// startDevProcess runs the one-process backend in development mode on the
// real broker and returns a connection to its gRPC API.
func startDevProcess(t *testing.T) *grpc.ClientConn {
	t.Helper()
	a := startOneProcess(t, func(c *app.Config) { c.Auth = auth.Config{DevMode: true} })
	return dialOneProcess(t, a)
}

// Issue 14, item 1: a price changed through the admin API reaches the
// managers live: the next AddItem is priced anew, and a checkout of a line
// still at the old price is rejected with PRICE_CHANGED.
func TestCatalogPriceChangeAppliesLive(t *testing.T) {
	conn := startDevProcess(t)
	carts, admin := cartv1.NewCartServiceClient(conn), cartv1.NewCatalogAdminServiceClient(conn)
	sku := activeSKU(t)
	n := 0
	add := func(cartID string) *cartv1.CommandOutcome {
		t.Helper()
		n++
		resp, err := carts.AddItem(withTimeout(t, 10*time.Second), &cartv1.AddItemRequest{
			CartId: cartID, RequestId: fmt.Sprintf("req-%d", n), CustomerId: "cust-1", Sku: sku, Quantity: 1, WaitForOutcome: true,
		})
		if err != nil || resp.GetOutcome() == nil {
			t.Fatalf("AddItem: %v, %v", resp, err)
		}
		return resp.GetOutcome()
	}
	priceIn := func(out *cartv1.CommandOutcome) int64 {
		return out.GetCart().GetLines()[0].GetUnitPrice().GetAmountMinor()
	}
	old := priceIn(add("cart-stale"))

	const newPrice = 123_45
	patched, err := admin.PatchProduct(withTimeout(t, 10*time.Second), &cartv1.PatchProductRequest{
		Sku: sku, UnitPrice: &cartv1.Money{AmountMinor: newPrice, CurrencyCode: "EUR"},
	})
	if err != nil || patched.GetProduct().GetUnitPrice().GetAmountMinor() != newPrice || old == newPrice {
		t.Fatalf("PatchProduct: %v, %v (old price %d)", patched, err, old)
	}
	// The manager follows catalog.products: a new cart is priced anew
	// once it has read the change.
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; priceIn(add(fmt.Sprintf("cart-probe-%d", i))) != newPrice; i++ {
		if time.Now().After(deadline) {
			t.Fatal("the managers never priced an AddItem at the new price")
		}
	}
	co, err := carts.Checkout(withTimeout(t, 10*time.Second), &cartv1.CheckoutRequest{
		CartId: "cart-stale", RequestId: "co-1", CustomerId: "cust-1", WaitForOutcome: true,
	})
	if err != nil || co.GetOutcome().GetAccepted() || co.GetOutcome().GetRejection().GetReason() != cartv1.ReasonCode_REASON_CODE_PRICE_CHANGED {
		t.Fatalf("checkout of a stale line: %v, %v; want PRICE_CHANGED", co, err)
	}
	// Adding to the line shows the customer the new price; then the
	// checkout goes through and names its order.
	if p := priceIn(add("cart-stale")); p != newPrice {
		t.Fatalf("the stale line was re-priced at %d, want %d", p, newPrice)
	}
	// This checkout reserves stock (the one-process backend runs the
	// saga): three transactions on a machine that may be loaded.
	co, err = carts.Checkout(withTimeout(t, 30*time.Second), &cartv1.CheckoutRequest{
		CartId: "cart-stale", RequestId: "co-2", CustomerId: "cust-1", WaitForOutcome: true,
	})
	if err != nil || !co.GetOutcome().GetAccepted() || co.GetOutcome().GetOrderId() == "" {
		t.Fatalf("checkout after re-pricing: %v, %v", co, err)
	}
}

// Issue 14, item 1: cartctl catalog get|export|import|set against a
// running backend.
func TestCartctlCatalog(t *testing.T) {
	conn := startDevProcess(t)
	bin := buildCommand(t, "cartctl", t.TempDir())
	addr := conn.Target()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"catalog"}, append(args, "--addr", addr, "--admin-addr", addr)...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("cartctl catalog %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	sku := activeSKU(t)
	file := filepath.Join(t.TempDir(), "catalog.json")
	if err := os.WriteFile(file, []byte(run("export")), 0o600); err != nil {
		t.Fatal(err)
	}
	exported, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	products, err := catalog.Parse(exported)
	if err != nil || len(products) == 0 {
		t.Fatalf("export is not a catalog file: %v", err)
	}
	if out := run("set", sku, "--price-minor", "777", "--active=false"); !strings.Contains(out, "777") {
		t.Fatalf("set: %s", out)
	}
	deadline := time.Now().Add(30 * time.Second)
	// protojson leaves active out when false.
	for out := run("get", sku, "-o", "json"); strings.Contains(out, `"active"`) || !strings.Contains(out, "777"); out = run("get", sku, "-o", "json") {
		if time.Now().After(deadline) {
			t.Fatalf("the read side never showed the change: %s", out)
		}
		time.Sleep(100 * time.Millisecond) // polling the read side with a deadline
	}
	// Importing the export puts the product back as it was.
	if out := run("import", file); !strings.Contains(out, fmt.Sprintf("wrote %d products", len(products))) {
		t.Fatalf("import: %s", out)
	}
	for out := run("get", sku, "-o", "json"); strings.Contains(out, "777"); out = run("get", sku, "-o", "json") {
		if time.Now().After(deadline.Add(30 * time.Second)) {
			t.Fatalf("the import never reached the read side: %s", out)
		}
		time.Sleep(100 * time.Millisecond) // polling the read side with a deadline
	}
}
