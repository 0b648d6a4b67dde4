package projection

import (
	"context"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/gateway"
	readsidev1 "github.com/cartstream/cartstream/proto/cartstream/readside/v1"
)

// OutcomeServer serves readsidev1.OutcomeService: wait_for_outcome for a
// gateway whose read path is this projection over gRPC (Remote). It
// answers with Server.AwaitOutcome, so a remote projection and one in the
// gateway's process give the same outcome for every command, retries and
// reused request ids included. Safe for concurrent use.
type OutcomeServer struct {
	readsidev1.UnimplementedOutcomeServiceServer
	s *Server
}

var _ readsidev1.OutcomeServiceServer = (*OutcomeServer)(nil)

// NewOutcomeServer returns the OutcomeService server of p.
func NewOutcomeServer(p *Projection) *OutcomeServer { return &OutcomeServer{s: NewServer(p)} }

// AwaitOutcome implements readsidev1.OutcomeServiceServer.
func (o *OutcomeServer) AwaitOutcome(ctx context.Context, req *readsidev1.AwaitOutcomeRequest) (*readsidev1.AwaitOutcomeResponse, error) {
	if req.GetPosition() == nil {
		return nil, statusOf(invalid("position", "is required: the command's consistency token"))
	}
	out, err := o.s.AwaitOutcome(ctx, gateway.OutcomeQuery{
		CartID:      cart.CartID(req.GetCartId()),
		RequestID:   cart.RequestID(req.GetRequestId()),
		Position:    gateway.Position{Partition: req.GetPosition().GetPartition(), Offset: req.GetPosition().GetOffset()},
		Fingerprint: cart.Fingerprint(req.GetFingerprint()),
	})
	if err != nil {
		return nil, err // a status already (statusOf)
	}
	return &readsidev1.AwaitOutcomeResponse{Outcome: out}, nil
}
