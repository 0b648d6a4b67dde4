package projection

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/gateway"
	"github.com/cartstream/cartstream/internal/partition"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// Router is the gateway's read path over a projection group: it sends
// each cart's GetCart, WatchCart, GetCartHistory and wait_for_outcome to
// a replica that serves the cart's partition (murmur2, the producers'
// partitioner), as the membership topic says (MemberView): the owner
// first, then a standby. A replica that answers UNAVAILABLE (not the
// owner any more, still catching up, shutting down, too stale for the
// query, or gone) is passed over for the next, and when none answers the
// router waits for the view to change (or a short backoff) and tries
// again, within the call's deadline: a partition moving between replicas
// costs a client time, never an error. Other answers (NOT_FOUND,
// INVALID_ARGUMENT, ...) are the cart's and are returned as they are.
// Safe for concurrent use.
type Router struct {
	cfg RouterConfig
	// conns is read on every call without a lock (an immutable map,
	// replaced whole under mu when a replica is first dialed or on
	// Close): the calls of all clients go through it, and a mutex there
	// made them queue behind each other for a map lookup.
	conns atomic.Pointer[map[string]*routerConn]
	mu    sync.Mutex // serializes dials and Close
}

// RouterConfig configures a Router.
type RouterConfig struct {
	// View is the membership topic's reader; the caller runs it. Required.
	View *MemberView
	// Dial connects to a replica's endpoint (TLS, keepalive: the caller's
	// choice; with grpclimits.ClientWindows, or each answer costs a PING
	// and its ACK). Required.
	Dial func(endpoint string) (*grpc.ClientConn, error)
	// MaxWait bounds a call without a deadline, retries included; default
	// DefaultWaitTimeout.
	MaxWait time.Duration
	// Logger; default: discard.
	Logger *slog.Logger
}

type routerConn struct {
	cc      *grpc.ClientConn
	remote  *Remote
	client  cartv1.CartServiceClient
	catalog cartv1.CatalogServiceClient
}

var (
	_ gateway.Reader        = (*Router)(nil)
	_ gateway.Outcomes      = (*Router)(nil)
	_ gateway.ProductReader = (*Router)(nil)
)

// NewRouter returns a Router; Close closes its connections.
func NewRouter(cfg RouterConfig) (*Router, error) {
	if cfg.View == nil || cfg.Dial == nil {
		return nil, errors.New("projection: router: view and dial are required")
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = DefaultWaitTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Router{cfg: cfg}
	r.conns.Store(&map[string]*routerConn{})
	return r, nil
}

// Close closes the connections to the replicas.
func (r *Router) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, c := range *r.conns.Swap(&map[string]*routerConn{}) {
		errs = append(errs, c.cc.Close())
	}
	return errors.Join(errs...)
}

// conn is the connection to ep, dialed on first use and kept: a lookup
// without a lock on the hot path.
func (r *Router) conn(ep string) (*routerConn, error) {
	if c, ok := (*r.conns.Load())[ep]; ok {
		return c, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	conns := *r.conns.Load()
	if c, ok := conns[ep]; ok {
		return c, nil // dialed by another call meanwhile
	}
	cc, err := r.cfg.Dial(ep)
	if err != nil {
		return nil, fmt.Errorf("projection: router: dial %s: %w", ep, err)
	}
	c := &routerConn{cc: cc, remote: NewRemote(cc), client: cartv1.NewCartServiceClient(cc), catalog: cartv1.NewCatalogServiceClient(cc)}
	next := maps.Clone(conns)
	next[ep] = c
	r.conns.Store(&next)
	return c, nil
}

// retriable: another replica, or the same one a moment later, may answer.
func retriable(err error) bool { return status.Code(err) == codes.Unavailable }

// bound gives a call without a deadline MaxWait, and forwards the
// caller's accepted staleness (MDMaxLag) to the replicas.
func (r *Router) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if vs := md.Get(MDMaxLag); len(vs) > 0 {
			ctx = metadata.AppendToOutgoingContext(ctx, MDMaxLag, vs[0])
		}
	}
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, r.cfg.MaxWait)
}

// candidates are the endpoints to try for cart id now, best first.
func (r *Router) candidates(id string) ([]string, int32) {
	routes := r.cfg.View.Routes()
	now := time.Now()
	n := routes.Partitions(now)
	if n == 0 {
		return nil, -1
	}
	part := partition.For([]byte(id), n)
	return routes.Candidates(part, now), part
}

// pause waits before the next round: until the view changes or a backoff
// passes; false once ctx has ended.
func (r *Router) pause(ctx context.Context, round int) bool {
	d := min(time.Duration(round+1)*20*time.Millisecond, 250*time.Millisecond)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-r.cfg.View.Changed():
		return true
	case <-t.C:
		return true
	}
}

// noReplica is the answer when no replica answered within the deadline.
func noReplica(part int32, last error) error {
	if last == nil {
		return status.Errorf(codes.Unavailable, "projection: no replica serves the cart's partition %d yet; call again", part)
	}
	return status.Errorf(codes.Unavailable, "projection: no replica answered for the cart's partition %d: %v", part, status.Convert(last).Message())
}

// route calls f on the replicas for cart id until one answers with
// something other than UNAVAILABLE, within ctx.
func route[T any](r *Router, ctx context.Context, id string, f func(context.Context, *routerConn) (T, error)) (T, error) {
	var zero T
	if err := cart.CartID(id).Validate(); err != nil {
		return zero, statusOf(err)
	}
	_, callerDeadline := ctx.Deadline()
	ctx, cancel := r.bound(ctx)
	defer cancel()
	var last error
	part := int32(-1)
	for round := 0; ; round++ {
		var eps []string
		eps, part = r.candidates(id)
		for _, ep := range eps {
			c, err := r.conn(ep)
			if err != nil {
				last = err
				continue
			}
			res, err := f(ctx, c)
			if err != nil && !callerDeadline && (ctx.Err() != nil || status.Code(err) == codes.DeadlineExceeded) {
				// MaxWait, not the caller, ended the call (the replica's
				// end of it may see the deadline first): no replica
				// answered in time, which is UNAVAILABLE (call again),
				// not a deadline the client never set.
				return zero, noReplica(part, err)
			}
			if err == nil || !retriable(err) || ctx.Err() != nil {
				return res, err
			}
			last = err
		}
		if !r.pause(ctx, round) {
			return zero, noReplica(part, last)
		}
	}
}

// GetCart implements gateway.Reader.
func (r *Router) GetCart(ctx context.Context, req *cartv1.GetCartRequest) (*cartv1.GetCartResponse, error) {
	return route(r, ctx, req.GetCartId(), func(ctx context.Context, c *routerConn) (*cartv1.GetCartResponse, error) {
		return c.client.GetCart(ctx, req)
	})
}

// GetCartHistory implements gateway.Reader.
func (r *Router) GetCartHistory(ctx context.Context, req *cartv1.GetCartHistoryRequest) (*cartv1.GetCartHistoryResponse, error) {
	return route(r, ctx, req.GetCartId(), func(ctx context.Context, c *routerConn) (*cartv1.GetCartHistoryResponse, error) {
		return c.client.GetCartHistory(ctx, req)
	})
}

// AwaitOutcome implements gateway.Outcomes.
func (r *Router) AwaitOutcome(ctx context.Context, q gateway.OutcomeQuery) (*cartv1.CommandOutcome, error) {
	return route(r, ctx, string(q.CartID), func(ctx context.Context, c *routerConn) (*cartv1.CommandOutcome, error) {
		return c.remote.AwaitOutcome(ctx, q)
	})
}

// GetProduct implements gateway.ProductReader: any live replica holds the
// whole catalog.
func (r *Router) GetProduct(ctx context.Context, req *cartv1.GetProductRequest) (*cartv1.GetProductResponse, error) {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	var last error
	for round := 0; ; round++ {
		for _, m := range r.cfg.View.Routes().Members(time.Now()) {
			c, err := r.conn(m.Endpoint)
			if err != nil {
				last = err
				continue
			}
			res, err := c.catalog.GetProduct(ctx, req)
			if err == nil || !retriable(err) || ctx.Err() != nil {
				return res, err
			}
			last = err
		}
		if !r.pause(ctx, round) {
			return nil, noReplica(-1, last)
		}
	}
}

// WatchCart implements gateway.Reader by relaying a replica's stream; when
// that stream ends UNAVAILABLE (the partition moved, the replica stopped)
// it is opened again on the next replica, and versions already sent are
// skipped, so the client sees one stream. A gap with no replica answering
// is bounded by MaxWait.
func (r *Router) WatchCart(req *cartv1.WatchCartRequest, stream grpc.ServerStreamingServer[cartv1.WatchCartResponse]) error {
	if err := cart.CartID(req.GetCartId()).Validate(); err != nil {
		return statusOf(err)
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	out := startWatchSender(stream, DefaultWatchSendTimeout)
	defer out.stop()
	last := int64(-1)
	var lastErr error
	gapEnds := time.Now().Add(r.cfg.MaxWait)
	for round := 0; ; round++ {
		eps, part := r.candidates(req.GetCartId())
		for _, ep := range eps {
			c, err := r.conn(ep)
			if err != nil {
				lastErr = err
				continue
			}
			done, err := r.relay(ctx, c, req, out, &last, &gapEnds)
			if done || (err != nil && !retriable(err)) {
				return err
			}
			lastErr = err
		}
		gctx, gcancel := context.WithDeadline(ctx, gapEnds)
		ok := r.pause(gctx, round)
		gcancel()
		if !ok {
			if ctx.Err() != nil {
				return status.FromContextError(ctx.Err()).Err()
			}
			return noReplica(part, lastErr)
		}
	}
}

// relay forwards one replica's stream: done when it ended for good (OK,
// or an error that is the cart's), else the UNAVAILABLE it ended with.
func (r *Router) relay(ctx context.Context, c *routerConn, req *cartv1.WatchCartRequest, out *watchSender, last *int64, gapEnds *time.Time) (bool, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	in, err := c.client.WatchCart(sctx, req)
	if err != nil {
		return false, err
	}
	for {
		msg, err := in.Recv()
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return !retriable(err), err
		}
		*gapEnds = time.Now().Add(r.cfg.MaxWait)
		if v := msg.GetCart().GetVersion(); v <= *last {
			continue // sent already, by the replica before this one
		} else {
			*last = v
		}
		if err := out.send(ctx, msg); err != nil {
			return true, statusOf(err)
		}
	}
}
