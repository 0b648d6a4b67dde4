package projection

import (
	"context"
	"errors"
	"fmt"
	"github.com/cartstream/cartstream/internal/grpcerr"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cartstream/cartstream/cart"
)

// Sentinels of the read side. Callers classify with errors.Is; statusOf is
// the one place that turns them into gRPC codes.
var (
	// ErrNotFound is a cart that never had a command, or an unknown SKU.
	ErrNotFound = errors.New("projection: not found")
	// ErrUnavailable is a read the projection cannot serve now; the client
	// retries with backoff.
	ErrUnavailable = errors.New("projection: unavailable")
	// ErrNotReady: the projection is still rebuilding (or the history or
	// catalog still loading).
	ErrNotReady = fmt.Errorf("%w: still rebuilding", ErrUnavailable)
	// ErrNotOwned: the cart's partition is not owned by this replica.
	ErrNotOwned = fmt.Errorf("%w: the cart's partition is not served by this replica", ErrUnavailable)
	// ErrClosed: the projection is shutting down.
	ErrClosed = fmt.Errorf("%w: shutting down", ErrUnavailable)
	// ErrCommandNotServed is a command RPC sent to the projection.
	ErrCommandNotServed = errors.New("projection: commands are served by the cart gateway, not the read side")
	// ErrUnreadable is a cart whose latest record in cart.state this replica
	// cannot decode (corrupt, or a newer schema version not shipped to it):
	// it is quarantined, not served from an older snapshot, until an
	// operator repairs it or a replica that reads it serves it.
	ErrUnreadable = errors.New("projection: the cart's stored state cannot be read by this replica; an operator must repair it (cartctl replay --verify, --rewrite)")
	// ErrSlowWatcher ends a WatchCart stream whose client stopped reading
	// it; the client reconnects (and reads).
	ErrSlowWatcher = errors.New("projection: the watch's client stopped reading its stream; reconnect")
	// ErrFetch is a history record that could not be read back from Kafka.
	ErrFetch = fmt.Errorf("%w: history records could not be read", ErrUnavailable)
)

// invalid returns a *cart.ValidationError for one field; it matches
// cart.ErrInvalidArgument.
func invalid(field, description string) error {
	return &cart.ValidationError{Violations: []cart.FieldViolation{{Field: field, Description: description}}}
}

// Client-facing messages for errors whose text is not for clients.
const (
	msgDeadline = "deadline exceeded before the read side reached the consistency token; the command is not lost: call again"
	msgCanceled = "the call was canceled"
	msgInternal = "internal error"
)

// statusOf is the one mapping from the read side's errors to gRPC status
// errors. It classifies with errors.Is/As, so wrapped errors keep their
// code. nil stays nil.
func statusOf(err error) error {
	if err == nil {
		return nil
	}
	var carrier interface{ GRPCStatus() *status.Status }
	switch {
	case cart.IsInvalidArgument(err):
		return grpcerr.InvalidArgument(err)
	case errors.Is(err, ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, msgDeadline)
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, msgCanceled)
	case errors.Is(err, ErrUnavailable):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, ErrUnreadable):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, ErrSlowWatcher):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, ErrCommandNotServed):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.As(err, &carrier):
		return carrier.GRPCStatus().Err()
	default:
		return status.Error(codes.Internal, msgInternal)
	}
}
