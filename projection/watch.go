package projection

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"

	"github.com/cartstream/cartstream/cart"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// WatchCart implements cartv1.CartServiceServer and gateway.Reader: the
// current cart, then each newer version (intermediate ones may be
// skipped), ending with OK once a checked-out cart was sent, or once the
// stream has lasted Config.MaxWatch.
//
// Each subscriber is conflated to the latest snapshot: the follower only
// closes a channel when a cart changes, and the subscriber's goroutine
// sends whatever version is current once its previous message has left. A
// subscriber that leaves a message unread for Config.WatchSendTimeout is
// ended RESOURCE_EXHAUSTED, so a stalled client holds nothing for long and
// never slows the others or the follower.
func (s *Server) WatchCart(req *cartv1.WatchCartRequest, stream grpc.ServerStreamingServer[cartv1.WatchCartResponse]) error {
	id := cart.CartID(req.GetCartId())
	snap, err := s.p.Cart(id)
	if err != nil {
		return statusOf(err)
	}
	ctx, cancel := context.WithTimeout(stream.Context(), s.p.cfg.MaxWatch)
	defer cancel()
	s.p.watches.Add(1)
	defer s.p.watches.Add(-1)
	out := startWatchSender(stream, s.p.cfg.WatchSendTimeout)
	defer out.stop()
	for {
		err := out.send(ctx, &cartv1.WatchCartResponse{Cart: cartPB(&snap.Cart)})
		if err == nil && snap.Cart.Status != cart.StatusOpen { // checked out or merged: final
			return nil
		}
		if err == nil {
			snap, err = s.p.AwaitChange(ctx, id, snap.Cart.Version)
		}
		if err != nil {
			return s.watchEnd(stream.Context(), ctx, id, err)
		}
	}
}

// watchEnd is a watch's final status: OK when the stream reached MaxWatch
// (the client calls again and its first message brings it up to date),
// else err's status.
func (s *Server) watchEnd(client, watch context.Context, id cart.CartID, err error) error {
	if errors.Is(err, context.DeadlineExceeded) && watch.Err() != nil && client.Err() == nil {
		s.p.log.Debug("projection: watch reached its maximum duration", "cart_id", id, "max_watch", s.p.cfg.MaxWatch)
		return nil
	}
	if errors.Is(err, ErrSlowWatcher) {
		s.p.slowWatches.Add(1)
		s.p.log.Info("projection: ending a watch whose client stopped reading", "cart_id", id, "timeout", s.p.cfg.WatchSendTimeout)
	}
	return statusOf(err)
}

// watchSender sends a watch stream's messages from its own goroutine, so
// the handler can give up on a client that stopped reading: grpc-go's
// Send blocks while the stream's flow-control window is full, and only the
// end of the stream (the handler returning) releases it. The goroutine
// ends after stop, once its Send in flight, if any, has returned.
type watchSender struct {
	timeout time.Duration
	in      chan *cartv1.WatchCartResponse
	out     chan error
}

func startWatchSender(stream grpc.ServerStreamingServer[cartv1.WatchCartResponse], timeout time.Duration) *watchSender {
	w := &watchSender{timeout: timeout, in: make(chan *cartv1.WatchCartResponse), out: make(chan error, 1)}
	go func() {
		for m := range w.in {
			w.out <- stream.Send(m)
		}
	}()
	return w
}

// send hands m to the sending goroutine and waits until it has left, the
// client has left it unread for the timeout (ErrSlowWatcher), or ctx ends.
// After an error send must not be called again.
func (w *watchSender) send(ctx context.Context, m *cartv1.WatchCartResponse) error {
	w.in <- m // the goroutine is idle: the previous send returned
	t := time.NewTimer(w.timeout)
	defer t.Stop()
	select {
	case err := <-w.out:
		return err
	case <-t.C:
		return fmt.Errorf("%w: a message stayed unread for %v", ErrSlowWatcher, w.timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *watchSender) stop() { close(w.in) }
