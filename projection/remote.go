package projection

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"

	"github.com/cartstream/cartstream/internal/gateway"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// Remote is gateway.Reader and gateway.Outcomes over a gRPC connection to a
// separately deployed projection (cmd/cart-projection). Errors are the
// projection's gRPC statuses, passed through unchanged. Safe for concurrent
// use.
type Remote struct {
	client cartv1.CartServiceClient
}

var (
	_ gateway.Reader   = (*Remote)(nil)
	_ gateway.Outcomes = (*Remote)(nil)
)

// NewRemote returns a Remote over conn (e.g. grpc.NewClient of the
// projection's address). The caller owns and closes conn.
func NewRemote(conn grpc.ClientConnInterface) *Remote {
	return &Remote{client: cartv1.NewCartServiceClient(conn)}
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
func (r *Remote) WatchCart(req *cartv1.WatchCartRequest, stream grpc.ServerStreamingServer[cartv1.WatchCartResponse]) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	in, err := r.client.WatchCart(ctx, req)
	if err != nil {
		return err
	}
	for {
		msg, err := in.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(msg); err != nil {
			return err
		}
	}
}

// AwaitOutcome implements gateway.Outcomes with GetCart and the command's
// token: the projection waits until its snapshot covers the command and
// returns the outcome at that position. (nil, nil) when the window holds no
// outcome there (a retry recorded only under its first position).
func (r *Remote) AwaitOutcome(ctx context.Context, q gateway.OutcomeQuery) (*cartv1.CommandOutcome, error) {
	resp, err := r.client.GetCart(ctx, &cartv1.GetCartRequest{
		CartId:           string(q.CartID),
		ConsistencyToken: &cartv1.ConsistencyToken{Partition: q.Position.Partition, Offset: q.Position.Offset},
	})
	if err != nil {
		return nil, err
	}
	o := resp.GetRequestOutcome()
	if o == nil || o.GetRequestId() != string(q.RequestID) {
		return nil, nil
	}
	return &cartv1.CommandOutcome{Accepted: o.GetAccepted(), Rejection: o.GetRejection(), Cart: resp.GetCart()}, nil
}
