package projection

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cartstream/cartstream/internal/gateway"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
	readsidev1 "github.com/cartstream/cartstream/proto/cartstream/readside/v1"
)

// Remote is gateway.Reader and gateway.Outcomes over a gRPC connection to a
// separately deployed projection (cmd/cart-projection). Errors are the
// projection's gRPC statuses, passed through unchanged. Safe for concurrent
// use.
type Remote struct {
	client   cartv1.CartServiceClient
	outcomes readsidev1.OutcomeServiceClient
}

var (
	_ gateway.Reader   = (*Remote)(nil)
	_ gateway.Outcomes = (*Remote)(nil)
)

// NewRemote returns a Remote over conn (e.g. grpc.NewClient of the
// projection's address). The caller owns and closes conn.
func NewRemote(conn grpc.ClientConnInterface) *Remote {
	return &Remote{client: cartv1.NewCartServiceClient(conn), outcomes: readsidev1.NewOutcomeServiceClient(conn)}
}

// GetCart implements gateway.Reader.
func (r *Remote) GetCart(ctx context.Context, req *cartv1.GetCartRequest) (*cartv1.GetCartResponse, error) {
	return r.client.GetCart(ctx, req)
}

// GetCartHistory implements gateway.Reader.
func (r *Remote) GetCartHistory(ctx context.Context, req *cartv1.GetCartHistoryRequest) (*cartv1.GetCartHistoryResponse, error) {
	return r.client.GetCartHistory(ctx, req)
}

// WatchCart implements gateway.Reader by relaying the projection's stream.
// A client that leaves a message unread for DefaultWatchSendTimeout is
// ended RESOURCE_EXHAUSTED, like on the projection itself: the relay stops
// reading the projection's stream while it waits, so the projection
// conflates to the latest cart meanwhile.
func (r *Remote) WatchCart(req *cartv1.WatchCartRequest, stream grpc.ServerStreamingServer[cartv1.WatchCartResponse]) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	in, err := r.client.WatchCart(ctx, req)
	if err != nil {
		return err
	}
	out := startWatchSender(stream, DefaultWatchSendTimeout)
	defer out.stop()
	for {
		msg, err := in.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := out.send(ctx, msg); err != nil {
			return statusOf(err)
		}
	}
}

// AwaitOutcome implements gateway.Outcomes with the projection's
// OutcomeService, which answers like Server.AwaitOutcome: the outcome at
// the command's position, for a retry the first outcome, for a request id
// reused for another command DUPLICATE_REQUEST. (nil, nil) when the cart's
// window no longer holds it. A projection too old to serve OutcomeService
// (UNIMPLEMENTED) is asked with GetCart and the token instead, which knows
// no retries.
func (r *Remote) AwaitOutcome(ctx context.Context, q gateway.OutcomeQuery) (*cartv1.CommandOutcome, error) {
	pos := &cartv1.ConsistencyToken{Partition: q.Position.Partition, Offset: q.Position.Offset}
	resp, err := r.outcomes.AwaitOutcome(ctx, &readsidev1.AwaitOutcomeRequest{
		CartId: string(q.CartID), RequestId: string(q.RequestID), Position: pos, Fingerprint: uint64(q.Fingerprint),
	})
	if status.Code(err) == codes.Unimplemented {
		return r.awaitWithGetCart(ctx, q, pos)
	}
	if err != nil {
		return nil, err
	}
	return resp.GetOutcome(), nil
}

// awaitWithGetCart is AwaitOutcome on a projection without OutcomeService.
func (r *Remote) awaitWithGetCart(ctx context.Context, q gateway.OutcomeQuery, pos *cartv1.ConsistencyToken) (*cartv1.CommandOutcome, error) {
	resp, err := r.client.GetCart(ctx, &cartv1.GetCartRequest{CartId: string(q.CartID), ConsistencyToken: pos})
	if err != nil {
		return nil, err
	}
	o := resp.GetRequestOutcome()
	if o == nil || o.GetRequestId() != string(q.RequestID) {
		return nil, nil
	}
	return &cartv1.CommandOutcome{Accepted: o.GetAccepted(), Rejection: o.GetRejection(), Cart: resp.GetCart()}, nil
}
