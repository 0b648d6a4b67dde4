package projection

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/gateway"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
	readsidev1 "github.com/cartstream/cartstream/proto/cartstream/readside/v1"
)

// DefaultHistoryTimeout bounds GetCartHistory's reads from Kafka in a call
// without a deadline.
const DefaultHistoryTimeout = 10 * time.Second

// Server serves CartService's queries from a Projection. It is also the
// gateway's Reader and Outcomes when both run in one process. Every method
// returns gRPC status errors (statusOf) and is safe for concurrent use.
type Server struct {
	cartv1.UnimplementedCartServiceServer
	p *Projection
}

var (
	_ cartv1.CartServiceServer = (*Server)(nil)
	_ gateway.Reader           = (*Server)(nil)
	_ gateway.Outcomes         = (*Server)(nil)
)

// NewServer returns the CartService query server of p.
func NewServer(p *Projection) *Server { return &Server{p: p} }

// GetCart implements cartv1.CartServiceServer and gateway.Reader.
func (s *Server) GetCart(ctx context.Context, req *cartv1.GetCartRequest) (*cartv1.GetCartResponse, error) {
	id := cart.CartID(req.GetCartId())
	tok := req.GetConsistencyToken()
	if tok == nil {
		snap, err := s.p.Cart(id)
		if err != nil {
			return nil, statusOf(err)
		}
		return &cartv1.GetCartResponse{Cart: cartPB(&snap.Cart)}, nil
	}
	snap, err := s.p.AwaitToken(ctx, id, Token{Partition: tok.GetPartition(), Offset: tok.GetOffset()})
	if err != nil {
		return nil, statusOf(err)
	}
	resp := &cartv1.GetCartResponse{Cart: cartPB(&snap.Cart)}
	if o, ok := findOffset(snap, tok.GetOffset()); ok {
		resp.RequestOutcome = requestOutcomePB(o)
	}
	return resp, nil
}

// GetCartHistory implements cartv1.CartServiceServer and gateway.Reader.
func (s *Server) GetCartHistory(ctx context.Context, req *cartv1.GetCartHistoryRequest) (*cartv1.GetCartHistoryResponse, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, statusOf(err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultHistoryTimeout)
		defer cancel()
	}
	pg, err := s.p.History(ctx, cart.CartID(req.GetCartId()), size, req.GetPageToken())
	if err != nil {
		return nil, statusOf(err)
	}
	return &cartv1.GetCartHistoryResponse{Entries: pg.Entries, NextPageToken: pg.NextToken, Truncated: pg.Truncated}, nil
}

// AwaitOutcome implements gateway.Outcomes: it waits until the cart's
// snapshot covers the command's position and answers with the outcome its
// window records for the request id (for a retry, the first outcome).
// (nil, nil) means the outcome is not in the window any more.
func (s *Server) AwaitOutcome(ctx context.Context, q gateway.OutcomeQuery) (*cartv1.CommandOutcome, error) {
	tok := Token{Partition: q.Position.Partition, Offset: q.Position.Offset}
	snap, err := s.p.AwaitToken(ctx, q.CartID, tok)
	if errors.Is(err, ErrUnreadable) || errors.Is(err, errNotCartsToken) {
		out, err := s.p.awaitRecordedOutcome(ctx, q.CartID, q.RequestID, tok)
		return out, statusOf(err)
	}
	if err == nil && snap.Pending != nil && snap.Pending.RequestID == q.RequestID {
		snap, err = s.p.awaitCheckoutDecided(ctx, q.CartID, q.RequestID)
	}
	if err != nil {
		return nil, statusOf(err)
	}
	o, ok := outcomeOf(snap, q.RequestID, q.Position.Offset, q.Fingerprint)
	if !ok {
		return nil, nil
	}
	return commandOutcomePB(o, &snap.Cart), nil
}

// outcomeOf is the outcome of request id recorded at offset: the window
// entry at that offset, or for a retry (recorded earlier under the same id)
// the first outcome. When the caller knows the command's fingerprint fp and
// the earlier entry has another one, the id was reused for a different
// command: the write side rejected it with DUPLICATE_REQUEST and kept the
// original entry in the window, so that rejection is rebuilt here.
func outcomeOf(snap cart.Snapshot, id cart.RequestID, offset int64, fp cart.Fingerprint) (cart.RequestOutcome, bool) {
	if o, ok := findOffset(snap, offset); ok {
		return o, o.RequestID == id
	}
	o, ok := snap.Lookup(id)
	// A checkout that reserved stock is recorded at the offset of the
	// answer that decided it, after its own (decision 12).
	if !ok || (o.Offset > offset && o.Kind != cart.KindCheckout) {
		return cart.RequestOutcome{}, false
	}
	if fp != 0 && o.Fingerprint != fp {
		return cart.RequestOutcome{
			RequestID: id, Offset: offset, Kind: o.Kind, Fingerprint: fp,
			Reason: cart.ReasonDuplicateRequest, Message: "request id was already used for a different command",
			CartVersion: o.CartVersion,
		}, true
	}
	return o, true
}

func (s *Server) command(rpc string) error {
	return statusOf(fmt.Errorf("%w: send %s to the cart gateway", ErrCommandNotServed, rpc))
}

// AddItem answers FAILED_PRECONDITION: commands go to the gateway.
func (s *Server) AddItem(context.Context, *cartv1.AddItemRequest) (*cartv1.AddItemResponse, error) {
	return nil, s.command("AddItem")
}

// RemoveItem answers FAILED_PRECONDITION: commands go to the gateway.
func (s *Server) RemoveItem(context.Context, *cartv1.RemoveItemRequest) (*cartv1.RemoveItemResponse, error) {
	return nil, s.command("RemoveItem")
}

// ChangeQuantity answers FAILED_PRECONDITION: commands go to the gateway.
func (s *Server) ChangeQuantity(context.Context, *cartv1.ChangeQuantityRequest) (*cartv1.ChangeQuantityResponse, error) {
	return nil, s.command("ChangeQuantity")
}

// Checkout answers FAILED_PRECONDITION: commands go to the gateway.
func (s *Server) Checkout(context.Context, *cartv1.CheckoutRequest) (*cartv1.CheckoutResponse, error) {
	return nil, s.command("Checkout")
}

// CatalogServer serves CatalogService from a Projection's catalog table.
type CatalogServer struct {
	cartv1.UnimplementedCatalogServiceServer
	t *SharedTables
	// maxQty is what a product without its own cap reports.
	maxQty int32
}

var _ cartv1.CatalogServiceServer = (*CatalogServer)(nil)

// NewCatalogServer returns the CatalogService server of p.
func NewCatalogServer(p *Projection) *CatalogServer {
	return &CatalogServer{t: p.tables, maxQty: p.cfg.DefaultMaxQuantityPerLine}
}

// ListProducts implements cartv1.CatalogServiceServer.
func (c *CatalogServer) ListProducts(_ context.Context, req *cartv1.ListProductsRequest) (*cartv1.ListProductsResponse, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, statusOf(err)
	}
	ps, next, err := c.t.catalog.list(size, req.GetPageToken(), req.GetIncludeInactive())
	if err != nil {
		return nil, statusOf(err)
	}
	out := &cartv1.ListProductsResponse{Products: make([]*cartv1.Product, len(ps)), NextPageToken: next}
	for i, p := range ps {
		out.Products[i] = c.productPB(p)
	}
	return out, nil
}

// productPB is the API's product with its available units, if counted.
func (c *CatalogServer) productPB(p cart.Product) *cartv1.Product {
	pb := productPB(p, c.maxQty)
	if n, ok := c.t.stock.get(p.SKU); ok {
		pb.AvailableUnits = &n
	}
	return pb
}

// GetProduct implements cartv1.CatalogServiceServer.
func (c *CatalogServer) GetProduct(_ context.Context, req *cartv1.GetProductRequest) (*cartv1.GetProductResponse, error) {
	p, err := c.t.catalog.get(cart.SKU(req.GetSku()))
	if err != nil {
		return nil, statusOf(err)
	}
	return &cartv1.GetProductResponse{Product: c.productPB(p)}, nil
}

// Register registers CartService (queries), CatalogService and
// OutcomeService (for gateways) of p on reg: what a stand-alone projection
// serves.
func (p *Projection) Register(reg grpc.ServiceRegistrar) {
	cartv1.RegisterCartServiceServer(reg, NewServer(p))
	cartv1.RegisterCatalogServiceServer(reg, NewCatalogServer(p))
	readsidev1.RegisterOutcomeServiceServer(reg, NewOutcomeServer(p))
}

// RegisterCatalog registers only CatalogService: for a process whose
// gateway already serves CartService (with this projection's Server as its
// Reader).
func (p *Projection) RegisterCatalog(reg grpc.ServiceRegistrar) {
	cartv1.RegisterCatalogServiceServer(reg, NewCatalogServer(p))
}
