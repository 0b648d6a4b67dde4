package gateway

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/auth"
	"github.com/cartstream/cartstream/internal/records"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

type fakeProducts map[string]*cartv1.Product

func (f fakeProducts) GetProduct(_ context.Context, req *cartv1.GetProductRequest) (*cartv1.GetProductResponse, error) {
	p, ok := f[req.GetSku()]
	if !ok {
		return nil, status.Error(codes.NotFound, "no such product")
	}
	return &cartv1.GetProductResponse{Product: p}, nil
}

func testAdmin(t *testing.T) (*CatalogAdmin, *fakeProducer, *records.Codec) {
	t.Helper()
	rec, err := records.New(records.Config{})
	if err != nil {
		t.Fatal(err)
	}
	prod := &fakeProducer{}
	cup := &cartv1.Product{Sku: "SKU-A", Name: "Cup", UnitPrice: &cartv1.Money{AmountMinor: 1999, CurrencyCode: "EUR"}, Active: true, MaxQuantityPerLine: 10}
	return &CatalogAdmin{Topic: "catalog.products", Producer: prod, Encoder: rec, Products: fakeProducts{"SKU-A": cup}}, prod, rec
}

// Issue 14: products are checked with the managers' rules before anything
// is written, and written whole, keyed by SKU.
func TestCatalogAdminUpsert(t *testing.T) {
	a, prod, rec := testAdmin(t)
	good := &cartv1.Product{Sku: "SKU-N", Name: "New", UnitPrice: &cartv1.Money{AmountMinor: 500, CurrencyCode: "EUR"}, Active: true}
	bad := &cartv1.Product{Sku: "SKU-X", Name: "", UnitPrice: &cartv1.Money{AmountMinor: -1, CurrencyCode: "eur"}}
	_, err := a.UpsertProducts(context.Background(), &cartv1.UpsertProductsRequest{Products: []*cartv1.Product{good, bad}})
	if status.Code(err) != codes.InvalidArgument || len(prod.records()) != 0 {
		t.Fatalf("an invalid product in the batch: %v, %d written", err, len(prod.records()))
	}
	resp, err := a.UpsertProducts(context.Background(), &cartv1.UpsertProductsRequest{Products: []*cartv1.Product{good}})
	if err != nil || resp.GetWritten() != 1 {
		t.Fatalf("upsert: %v, %v", resp, err)
	}
	r := prod.records()[0]
	p, err := rec.DecodeProduct(r.Value)
	if err != nil || r.Topic != "catalog.products" || string(r.Key) != "SKU-N" || p.UnitPrice.Amount != 500 {
		t.Fatalf("written %s/%s: %+v, %v", r.Topic, r.Key, p, err)
	}
	if _, err := a.UpsertProducts(context.Background(), &cartv1.UpsertProductsRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("empty upsert: %v", err)
	}
}

// Issue 14: a patch changes only what it names.
func TestCatalogAdminPatch(t *testing.T) {
	a, prod, rec := testAdmin(t)
	off := false
	resp, err := a.PatchProduct(context.Background(), &cartv1.PatchProductRequest{
		Sku: "SKU-A", UnitPrice: &cartv1.Money{AmountMinor: 2499, CurrencyCode: "EUR"}, Active: &off,
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := rec.DecodeProduct(prod.records()[0].Value)
	want := cart.Product{SKU: "SKU-A", Name: "Cup", UnitPrice: cart.Money{Amount: 2499, Currency: "EUR"}, Active: false, MaxQuantityPerLine: 10}
	if err != nil || p != want || resp.GetProduct().GetUnitPrice().GetAmountMinor() != 2499 {
		t.Fatalf("patched %+v, %v", p, err)
	}
	if _, err := a.PatchProduct(context.Background(), &cartv1.PatchProductRequest{Sku: "SKU-NONE"}); status.Code(err) != codes.NotFound {
		t.Fatalf("patch of an unknown product: %v", err)
	}
	tooMany := int32(5000)
	if _, err := a.PatchProduct(context.Background(), &cartv1.PatchProductRequest{Sku: "SKU-A", MaxQuantityPerLine: &tooMany}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("cap beyond the API's: %v", err)
	}
}

// Issue 14: with authentication on, only operators change the catalog.
func TestCatalogAdminNeedsTheOperatorRole(t *testing.T) {
	a, prod, _ := testAdmin(t)
	good := &cartv1.Product{Sku: "SKU-N", Name: "New", UnitPrice: &cartv1.Money{AmountMinor: 500, CurrencyCode: "EUR"}, Active: true}
	req := &cartv1.UpsertProductsRequest{Products: []*cartv1.Product{good}}
	customer := auth.NewContext(context.Background(), auth.Caller{Customer: "alice"})
	if _, err := a.UpsertProducts(customer, req); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a customer changed the catalog: %v", err)
	}
	if _, err := a.PatchProduct(customer, &cartv1.PatchProductRequest{Sku: "SKU-A"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a customer patched the catalog: %v", err)
	}
	if len(prod.records()) != 0 {
		t.Fatal("a refused call wrote")
	}
	op := auth.NewContext(context.Background(), auth.Caller{Customer: "ops", Operator: true})
	if _, err := a.UpsertProducts(op, req); err != nil {
		t.Fatalf("operator: %v", err)
	}
	dev := auth.NewContext(context.Background(), auth.Caller{Dev: true})
	if _, err := a.UpsertProducts(dev, req); err != nil {
		t.Fatalf("development mode: %v", err)
	}
}
