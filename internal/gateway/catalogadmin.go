package gateway

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/catalog"
	"github.com/cartstream/cartstream/internal/auth"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// ProductEncoder encodes a product for catalog.products, refusing one the
// managers would refuse (records.Codec implements it).
type ProductEncoder interface {
	EncodeProduct(p cart.Product) ([]byte, error)
}

// ProductReader reads the catalog as the read side holds it (the
// projection's CatalogService, in process or remote).
type ProductReader interface {
	GetProduct(ctx context.Context, req *cartv1.GetProductRequest) (*cartv1.GetProductResponse, error)
}

// MaxUpsertProducts bounds one UpsertProducts call.
const MaxUpsertProducts = 500

// CatalogAdmin serves CatalogAdminService: it writes products to
// catalog.products with the gateway's idempotent producer. The managers and
// the projection follow that topic, so a change applies to the next
// command; there is nothing to tell them.
type CatalogAdmin struct {
	cartv1.UnimplementedCatalogAdminServiceServer
	Topic    string
	Producer Producer
	Encoder  ProductEncoder
	// Products reads the current product for PatchProduct; nil answers
	// PatchProduct UNIMPLEMENTED.
	Products ProductReader
}

// ErrNotOperator is an admin call by a caller without the operator role.
var ErrNotOperator = fmt.Errorf("%w: changing the catalog needs the operator role", ErrPermissionDenied)

// Register registers the service on reg.
func (a *CatalogAdmin) Register(reg grpc.ServiceRegistrar) {
	cartv1.RegisterCatalogAdminServiceServer(reg, a)
}

// requireOperator lets a call through in development mode or for an operator.
func requireOperator(ctx context.Context) error {
	c, ok := auth.FromContext(ctx)
	if !ok || c.Dev || c.Operator {
		// No caller: the server runs without the auth interceptors, which
		// is development mode.
		return nil
	}
	return ErrNotOperator
}

// UpsertProducts implements CatalogAdminService.
func (a *CatalogAdmin) UpsertProducts(ctx context.Context, req *cartv1.UpsertProductsRequest) (*cartv1.UpsertProductsResponse, error) {
	if err := requireOperator(ctx); err != nil {
		return nil, statusOf(err)
	}
	ps := req.GetProducts()
	if len(ps) == 0 || len(ps) > MaxUpsertProducts {
		return nil, statusOf(invalidField("products", fmt.Sprintf("must hold 1 to %d products", MaxUpsertProducts)))
	}
	values := make([][]byte, len(ps))
	var vs []cart.FieldViolation
	for i, p := range ps {
		v, err := a.encode(catalog.FromPB(p))
		if err != nil {
			vs = append(vs, cart.FieldViolation{Field: fmt.Sprintf("products[%d]", i), Description: err.Error()})
		}
		values[i] = v
	}
	if len(vs) > 0 {
		return nil, statusOf(&cart.ValidationError{Violations: vs})
	}
	for i, p := range ps {
		if _, err := a.Producer.Produce(ctx, Record{Topic: a.Topic, Key: []byte(p.GetSku()), Value: values[i]}); err != nil {
			return nil, statusOf(fmt.Errorf("write product %s (%d of %d written): %w", p.GetSku(), i, len(ps), err))
		}
	}
	return &cartv1.UpsertProductsResponse{Written: int32(len(ps))}, nil
}

// PatchProduct implements CatalogAdminService: read, change, write. Two
// patches of one product at once may lose one of them (the last write
// wins); an operator's tool, not a hot path.
func (a *CatalogAdmin) PatchProduct(ctx context.Context, req *cartv1.PatchProductRequest) (*cartv1.PatchProductResponse, error) {
	if err := requireOperator(ctx); err != nil {
		return nil, statusOf(err)
	}
	if a.Products == nil {
		return nil, statusOf(fmt.Errorf("%w: PatchProduct needs the read side", ErrNotServed))
	}
	if err := cart.SKU(req.GetSku()).Validate(); err != nil {
		return nil, statusOf(err)
	}
	cur, err := a.Products.GetProduct(ctx, &cartv1.GetProductRequest{Sku: req.GetSku()})
	if err != nil {
		return nil, statusOf(err)
	}
	p := catalog.FromPB(cur.GetProduct())
	if m := req.GetUnitPrice(); m != nil {
		p.UnitPrice = cart.Money{Amount: m.GetAmountMinor(), Currency: cart.Currency(m.GetCurrencyCode())}
	}
	if req.Active != nil {
		p.Active = req.GetActive()
	}
	if req.MaxQuantityPerLine != nil {
		p.MaxQuantityPerLine = req.GetMaxQuantityPerLine()
	}
	value, err := a.encode(p)
	if err != nil {
		return nil, statusOf(invalidField("product", err.Error()))
	}
	if _, err := a.Producer.Produce(ctx, Record{Topic: a.Topic, Key: []byte(p.SKU), Value: value}); err != nil {
		return nil, statusOf(fmt.Errorf("write product %s: %w", p.SKU, err))
	}
	return &cartv1.PatchProductResponse{Product: catalog.ToPB(p)}, nil
}

// encode checks p with the managers' rules (and the API's quantity cap)
// and encodes it.
func (a *CatalogAdmin) encode(p cart.Product) ([]byte, error) {
	if p.MaxQuantityPerLine > MaxAPIQuantity {
		return nil, fmt.Errorf("max_quantity_per_line must be between 1 and %d (0: the default)", MaxAPIQuantity)
	}
	v, err := a.Encoder.EncodeProduct(p)
	if err != nil {
		var inner error = err
		if errors.Is(err, cart.ErrInvalidProduct) {
			inner = errors.Unwrap(err)
		}
		return nil, fmt.Errorf("invalid product: %w", inner)
	}
	return v, nil
}

func invalidField(field, description string) error {
	return &cart.ValidationError{Violations: []cart.FieldViolation{{Field: field, Description: description}}}
}
