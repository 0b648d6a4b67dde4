package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/auth"
	"github.com/cartstream/cartstream/internal/tracing"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// Header names of a cart.requests record. They equal internal/records'
// HeaderRequestID, HeaderEventType and HeaderTraceparent.
const (
	HeaderRequestID   = "request-id"
	HeaderEventType   = "event-type"
	HeaderTraceparent = "traceparent"
)

// MaxAPIQuantity is the API's ceiling of a quantity (proto: 1..999). It is
// tighter than the domain's cart.MaxQuantity, which bounds what a line may
// ever hold.
const MaxAPIQuantity int32 = 999

var apiQuantityRule = fmt.Sprintf("must be between 1 and %d", MaxAPIQuantity)

// RequestEncoder encodes a validated command as the value of its
// cart.requests record (internal/records.Codec implements it). It must be
// safe for concurrent use.
type RequestEncoder interface {
	EncodeRequest(cmd cart.Command) ([]byte, error)
}

// Reader serves the query RPCs; the read path implements it. It must be
// safe for concurrent use, honour each call's ctx, and may return gRPC
// status errors or errors the gateway maps (context errors, ErrUnavailable,
// cart.ErrInvalidArgument).
type Reader interface {
	GetCart(ctx context.Context, req *cartv1.GetCartRequest) (*cartv1.GetCartResponse, error)
	WatchCart(req *cartv1.WatchCartRequest, stream grpc.ServerStreamingServer[cartv1.WatchCartResponse]) error
	GetCartHistory(ctx context.Context, req *cartv1.GetCartHistoryRequest) (*cartv1.GetCartHistoryResponse, error)
}

// OutcomeQuery names a recorded command whose outcome a caller waits for.
type OutcomeQuery struct {
	CartID    cart.CartID
	RequestID cart.RequestID
	// Position is the command's record in cart.requests.
	Position Position
	// Fingerprint is the command's content (cart.FingerprintOf): it tells a
	// retry of a recorded request (same id, same content: the first
	// outcome) from a reuse of its id for another command (DUPLICATE_REQUEST).
	// Zero means unknown.
	Fingerprint cart.Fingerprint
}

// Outcomes waits for the outcome of a recorded command (the read path
// implements it). AwaitOutcome blocks until the outcome is known or ctx
// ends; it returns (nil, nil) or an error when no outcome came, and the
// gateway then answers with the token alone, which the API documents as
// not an error. It must be safe for concurrent use.
type Outcomes interface {
	AwaitOutcome(ctx context.Context, q OutcomeQuery) (*cartv1.CommandOutcome, error)
}

// Defaults of Config.
const (
	// DefaultOutcomeMargin is how long before the call's deadline a wait
	// for an outcome gives up, leaving time to send the answer.
	DefaultOutcomeMargin = 100 * time.Millisecond
	// DefaultMaxOutcomeWait bounds a wait for an outcome in a call without
	// a deadline.
	DefaultMaxOutcomeWait = 5 * time.Second
)

// Config of a Server. Producer, Encoder and Topic are required; the rest
// has defaults.
type Config struct {
	// Topic is cart.requests (with the deployment's prefix).
	Topic    string
	Producer Producer
	Encoder  RequestEncoder
	// Clock stamps RequestedAt; default time.Now.
	Clock func() time.Time
	// Random is the source of new trace ids; default crypto/rand.Reader.
	Random io.Reader
	// Logger; default: discard.
	Logger *slog.Logger
	// Reader serves GetCart, WatchCart and GetCartHistory; nil answers
	// them UNIMPLEMENTED.
	Reader Reader
	// Outcomes serves wait_for_outcome; nil answers with the token alone.
	Outcomes Outcomes
	// OutcomeMargin: see DefaultOutcomeMargin.
	OutcomeMargin time.Duration
	// MaxOutcomeWait: see DefaultMaxOutcomeWait.
	MaxOutcomeWait time.Duration
	// Authenticated says the callers' tokens are verified (the
	// internal/auth interceptors put an auth.Caller in every call's
	// context): commands act for the token's customer, and a cart is
	// served to its owner only (operators read any). It needs Reader, to
	// look owners up. False is development mode: the request names its
	// customer and anyone reads any cart. See access.go.
	Authenticated bool
	// RateLimits bound the commands accepted; the zero value none.
	RateLimits RateLimits
	// MaxCartsPerCustomer bounds a customer's open carts: a command that
	// would create one more is refused RESOURCE_EXHAUSTED (cartbound.go;
	// a soft bound). 0 is off, and so is a Reader that does not list
	// carts (CartLister): the count is the read side's. At most
	// MaxCartsBoundCeiling.
	MaxCartsPerCustomer int
	// TracerProvider records the produce and outcome-wait spans; nil: the
	// global provider (internal/tracing).
	TracerProvider trace.TracerProvider
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Topic == "" {
		errs = append(errs, errors.New("gateway: topic: empty"))
	}
	if c.Producer == nil {
		errs = append(errs, errors.New("gateway: producer: nil"))
	}
	if c.Encoder == nil {
		errs = append(errs, errors.New("gateway: encoder: nil"))
	}
	if c.OutcomeMargin < 0 {
		errs = append(errs, fmt.Errorf("gateway: outcome margin %v: must not be negative", c.OutcomeMargin))
	}
	if c.MaxOutcomeWait < 0 {
		errs = append(errs, fmt.Errorf("gateway: max outcome wait %v: must not be negative", c.MaxOutcomeWait))
	}
	if c.Authenticated && c.Reader == nil {
		errs = append(errs, errors.New("gateway: authentication needs the read side to look up cart owners (cart-gateway: -projection-addr)"))
	}
	if c.MaxCartsPerCustomer < 0 || c.MaxCartsPerCustomer > MaxCartsBoundCeiling {
		errs = append(errs, fmt.Errorf("gateway: max carts per customer %d: want 0 (off) to %d (a ListCarts answer's size)", c.MaxCartsPerCustomer, MaxCartsBoundCeiling))
	}
	errs = append(errs, c.RateLimits.Validate())
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Random == nil {
		c.Random = rand.Reader
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.OutcomeMargin == 0 {
		c.OutcomeMargin = DefaultOutcomeMargin
	}
	if c.MaxOutcomeWait == 0 {
		c.MaxOutcomeWait = DefaultMaxOutcomeWait
	}
	return c
}

// Server implements cartv1.CartServiceServer. It holds no state between
// calls and is safe for concurrent use.
type Server struct {
	cartv1.UnimplementedCartServiceServer
	cfg     Config
	log     *slog.Logger
	limiter *limiter // nil: no rate limits
	tracer  trace.Tracer
}

var _ cartv1.CartServiceServer = (*Server)(nil)

// NewServer checks cfg and returns the server.
func NewServer(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Server{cfg: cfg, log: cfg.Logger, limiter: newLimiter(cfg.RateLimits), tracer: tracing.Tracer(cfg.TracerProvider)}, nil
}

// AddItem implements cartv1.CartServiceServer.
func (s *Server) AddItem(ctx context.Context, req *cartv1.AddItemRequest) (*cartv1.AddItemResponse, error) {
	who, customer, err := s.commandCaller(ctx, req.GetCustomerId())
	if err != nil {
		return nil, statusOf(err)
	}
	cmd := cart.AddItem{
		CartID:      cart.CartID(req.GetCartId()),
		RequestID:   cart.RequestID(req.GetRequestId()),
		CustomerID:  customer,
		RequestedAt: s.now(),
		SKU:         cart.SKU(req.GetSku()),
		Quantity:    req.GetQuantity(),
	}
	token, outcome, err := s.submit(ctx, who, cmd, req.GetWaitForOutcome())
	if err != nil {
		return nil, statusOf(err)
	}
	return &cartv1.AddItemResponse{ConsistencyToken: token, Outcome: outcome}, nil
}

// RemoveItem implements cartv1.CartServiceServer.
func (s *Server) RemoveItem(ctx context.Context, req *cartv1.RemoveItemRequest) (*cartv1.RemoveItemResponse, error) {
	who, err := s.caller(ctx)
	if err != nil {
		return nil, statusOf(err)
	}
	cmd := cart.RemoveItem{
		CartID:      cart.CartID(req.GetCartId()),
		RequestID:   cart.RequestID(req.GetRequestId()),
		RequestedAt: s.now(),
		SKU:         cart.SKU(req.GetSku()),
	}
	token, outcome, err := s.submit(ctx, who, cmd, req.GetWaitForOutcome())
	if err != nil {
		return nil, statusOf(err)
	}
	return &cartv1.RemoveItemResponse{ConsistencyToken: token, Outcome: outcome}, nil
}

// ChangeQuantity implements cartv1.CartServiceServer.
func (s *Server) ChangeQuantity(ctx context.Context, req *cartv1.ChangeQuantityRequest) (*cartv1.ChangeQuantityResponse, error) {
	who, err := s.caller(ctx)
	if err != nil {
		return nil, statusOf(err)
	}
	cmd := cart.ChangeQuantity{
		CartID:      cart.CartID(req.GetCartId()),
		RequestID:   cart.RequestID(req.GetRequestId()),
		RequestedAt: s.now(),
		SKU:         cart.SKU(req.GetSku()),
		Quantity:    req.GetQuantity(),
	}
	token, outcome, err := s.submit(ctx, who, cmd, req.GetWaitForOutcome())
	if err != nil {
		return nil, statusOf(err)
	}
	return &cartv1.ChangeQuantityResponse{ConsistencyToken: token, Outcome: outcome}, nil
}

// Checkout implements cartv1.CartServiceServer.
func (s *Server) Checkout(ctx context.Context, req *cartv1.CheckoutRequest) (*cartv1.CheckoutResponse, error) {
	who, customer, err := s.commandCaller(ctx, req.GetCustomerId())
	if err != nil {
		return nil, statusOf(err)
	}
	cmd := cart.Checkout{
		CartID:      cart.CartID(req.GetCartId()),
		RequestID:   cart.RequestID(req.GetRequestId()),
		CustomerID:  customer,
		RequestedAt: s.now(),
	}
	token, outcome, err := s.submit(ctx, who, cmd, req.GetWaitForOutcome())
	if err != nil {
		return nil, statusOf(err)
	}
	return &cartv1.CheckoutResponse{ConsistencyToken: token, Outcome: outcome}, nil
}

// GetCart implements cartv1.CartServiceServer by delegating to the Reader.
// In token mode the cart it answers with must be the caller's (or the
// caller an operator), else NOT_FOUND.
func (s *Server) GetCart(ctx context.Context, req *cartv1.GetCartRequest) (*cartv1.GetCartResponse, error) {
	if s.cfg.Reader == nil {
		return nil, statusOf(notServed("GetCart"))
	}
	who, err := s.caller(ctx)
	if err != nil {
		return nil, statusOf(err)
	}
	resp, err := s.cfg.Reader.GetCart(ctx, req)
	if err != nil {
		return nil, statusOf(readErr(who, req.GetCartId(), err))
	}
	if !mayRead(who, resp.GetCart()) {
		return nil, statusOf(cartNotFound(req.GetCartId()))
	}
	return resp, nil
}

// WatchCart implements cartv1.CartServiceServer by delegating to the Reader
// once the caller may read the cart (its owner never changes, so one check
// covers the stream).
func (s *Server) WatchCart(req *cartv1.WatchCartRequest, stream grpc.ServerStreamingServer[cartv1.WatchCartResponse]) error {
	if s.cfg.Reader == nil {
		return statusOf(notServed("WatchCart"))
	}
	if !s.cfg.Authenticated {
		return statusOf(s.cfg.Reader.WatchCart(req, stream))
	}
	ctx := stream.Context()
	who, err := s.caller(ctx)
	if err != nil {
		return statusOf(err)
	}
	if err := s.checkRead(ctx, who, req.GetCartId()); err != nil {
		return statusOf(err)
	}
	return statusOf(readErr(who, req.GetCartId(), s.cfg.Reader.WatchCart(req, stream)))
}

// GetCartHistory implements cartv1.CartServiceServer by delegating to the
// Reader once the caller may read the cart.
func (s *Server) GetCartHistory(ctx context.Context, req *cartv1.GetCartHistoryRequest) (*cartv1.GetCartHistoryResponse, error) {
	if s.cfg.Reader == nil {
		return nil, statusOf(notServed("GetCartHistory"))
	}
	who, err := s.caller(ctx)
	if err != nil {
		return nil, statusOf(err)
	}
	if err := s.checkRead(ctx, who, req.GetCartId()); err != nil {
		return nil, statusOf(err)
	}
	resp, err := s.cfg.Reader.GetCartHistory(ctx, req)
	if err != nil {
		return nil, statusOf(readErr(who, req.GetCartId(), err))
	}
	return resp, nil
}

// commandCaller is the caller of a command that names a customer, and the
// customer it acts for.
func (s *Server) commandCaller(ctx context.Context, requested string) (auth.Caller, cart.CustomerID, error) {
	who, err := s.caller(ctx)
	if err != nil {
		return who, "", err
	}
	customer, err := s.customer(who, requested)
	return who, customer, err
}

// now is the request time: UTC, without a monotonic reading (it travels in
// the record and is compared across processes).
func (s *Server) now() time.Time { return s.cfg.Clock().Round(0).UTC() }

func notServed(rpc string) error {
	return fmt.Errorf("%w: %s is served by the read path (the cart projection), which is not wired into this gateway", ErrNotServed, rpc)
}

// submit checks cmd, appends it to cart.requests and, if asked and
// possible, waits for its outcome. Nothing is produced for a command that
// fails a check.
func (s *Server) submit(ctx context.Context, who auth.Caller, cmd cart.Command, wait bool) (*cartv1.ConsistencyToken, *cartv1.CommandOutcome, error) {
	et := cmd.EventType().String()
	meta := cmd.Meta()
	// The limit comes first: a flood of bad or foreign commands costs its
	// sender budget too, and the owner look-up below is not free.
	if err := s.limiter.allow(rateKey(who, meta), s.cfg.Clock()); err != nil {
		s.log.DebugContext(ctx, "command refused: rate limit", "event_type", et, "cart_id", meta.CartID, "error", err)
		return nil, nil, err
	}
	if err := checkCommand(cmd); err != nil {
		s.log.DebugContext(ctx, "command refused: invalid argument", "event_type", et, "fields", violatedFields(err))
		return nil, nil, err
	}
	view := s.newCartView()
	if err := s.authorizeCommand(ctx, view, who, cmd); err != nil {
		s.log.DebugContext(ctx, "command refused: not the caller's cart", "event_type", et, "cart_id", meta.CartID, "error", err)
		return nil, nil, err
	}
	if err := s.checkCartBound(ctx, view, cmd); err != nil {
		s.log.DebugContext(ctx, "command refused: open carts per customer", "event_type", et, "cart_id", meta.CartID, "error", err)
		return nil, nil, err
	}
	value, err := s.cfg.Encoder.EncodeRequest(cmd)
	if err != nil {
		s.log.ErrorContext(ctx, "command not recorded: encode", "event_type", et, "cart_id", meta.CartID, "request_id", meta.RequestID, "error", err)
		if cart.IsInvalidArgument(err) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrEncode, et, err)
	}
	pctx, span, tp, propagated, err := s.startProduce(ctx, cmd)
	if err != nil {
		return nil, nil, err
	}
	rec := Record{
		Topic: s.cfg.Topic,
		Key:   []byte(meta.CartID),
		Value: value,
		Headers: []Header{
			{Key: HeaderRequestID, Value: []byte(meta.RequestID)},
			{Key: HeaderEventType, Value: []byte(et)},
			{Key: HeaderTraceparent, Value: []byte(tp.String())},
		},
	}
	pos, err := s.cfg.Producer.Produce(pctx, rec)
	endProduce(span, pos, err)
	if err != nil {
		level := slog.LevelDebug // the caller gave up: its deadline or cancellation
		if IsUnavailable(err) {
			level = slog.LevelWarn
		}
		s.log.Log(ctx, level, "command not recorded", "event_type", et, "cart_id", meta.CartID, "request_id", meta.RequestID, "trace_id", tp.TraceID(), "error", err)
		return nil, nil, err
	}
	s.log.DebugContext(ctx, "command recorded", "event_type", et, "cart_id", meta.CartID, "request_id", meta.RequestID,
		"partition", pos.Partition, "offset", pos.Offset, "trace_id", tp.TraceID(), "trace_propagated", propagated)
	token := &cartv1.ConsistencyToken{Partition: pos.Partition, Offset: pos.Offset}
	if !wait || s.cfg.Outcomes == nil {
		return token, nil, nil
	}
	return token, s.awaitOutcome(ctx, OutcomeQuery{CartID: meta.CartID, RequestID: meta.RequestID, Position: pos, Fingerprint: cart.FingerprintOf(cmd)}), nil
}

// awaitOutcome waits for the outcome until shortly before the call's
// deadline. No outcome in time, or a failing wait, is not an error: the
// command is recorded and the client can ask GetCart with the token.
func (s *Server) awaitOutcome(ctx context.Context, q OutcomeQuery) *cartv1.CommandOutcome {
	var cancel context.CancelFunc
	if dl, ok := ctx.Deadline(); ok {
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-s.cfg.OutcomeMargin))
	} else {
		ctx, cancel = context.WithTimeout(ctx, s.cfg.MaxOutcomeWait)
	}
	defer cancel()
	ctx, span := s.startAwait(ctx)
	out, err := s.cfg.Outcomes.AwaitOutcome(ctx, q)
	endAwait(span, out != nil, err)
	if err != nil {
		s.log.DebugContext(ctx, "no outcome in time", "cart_id", q.CartID, "request_id", q.RequestID, "error", err)
		return nil
	}
	return out
}

// checkCommand runs the domain's Validate and the API's tighter limits and
// returns one *cart.ValidationError listing every violation, or nil.
func checkCommand(cmd cart.Command) error {
	err := cart.ValidateCommand(cmd)
	vs := cart.FieldViolations(err)
	if err != nil && len(vs) == 0 {
		return err
	}
	var out []cart.FieldViolation
	for _, v := range vs {
		// The API's quantity rule replaces the domain's wider one, so a
		// client sees one violation per field with the limit it must meet.
		if v.Field != cart.FieldQuantity {
			out = append(out, v)
		}
	}
	if q, ok := quantityOf(cmd); ok && (q < 1 || q > MaxAPIQuantity) {
		out = append(out, cart.FieldViolation{Field: cart.FieldQuantity, Description: apiQuantityRule})
	}
	if reservedRequestID(cmd.Meta().RequestID) {
		out = append(out, cart.FieldViolation{Field: cart.FieldRequestID, Description: reservedRule})
	}
	if len(out) == 0 {
		return nil
	}
	return &cart.ValidationError{Violations: out}
}

func quantityOf(cmd cart.Command) (int32, bool) {
	switch c := cmd.(type) {
	case cart.AddItem:
		return c.Quantity, true
	case cart.ChangeQuantity:
		return c.Quantity, true
	case cart.RemoveItem, cart.Checkout, cart.ClearCart, cart.ExpireCart, cart.MergeCarts, cart.MergeInto, cart.MergeReturned:
		return 0, false
	default:
		return 0, false
	}
}

func violatedFields(err error) []string {
	vs := cart.FieldViolations(err)
	fields := make([]string, len(vs))
	for i, v := range vs {
		fields[i] = v.Field
	}
	return fields
}
