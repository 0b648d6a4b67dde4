package gateway

import (
	"context"
	"io"

	"google.golang.org/grpc/metadata"

	"github.com/cartstream/cartstream/internal/tracecontext"
)

// traceparentFor returns the caller's traceparent from the incoming gRPC
// metadata when there is exactly one and it is valid (the W3C rule: several
// traceparent headers are invalid), else a new one. propagated tells which.
func traceparentFor(ctx context.Context, r io.Reader) (t tracecontext.Traceparent, propagated bool, err error) {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if vs := md.Get(HeaderTraceparent); len(vs) == 1 {
			if t, ok := tracecontext.Parse(vs[0]); ok {
				return t, true, nil
			}
		}
	}
	t, err = tracecontext.New(r)
	return t, false, err
}
