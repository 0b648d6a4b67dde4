package auth

import (
	"context"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// whoAmI answers GetCart and WatchCart with the caller it sees as the
// cart's customer ("dev" in development mode, "+op" for an operator).
type whoAmI struct {
	cartv1.UnimplementedCartServiceServer
}

func describe(ctx context.Context) string {
	c, ok := FromContext(ctx)
	switch {
	case !ok:
		return "nobody"
	case c.Dev:
		return "dev"
	case c.Operator:
		return string(c.Customer) + "+op"
	default:
		return string(c.Customer)
	}
}

func (whoAmI) GetCart(ctx context.Context, _ *cartv1.GetCartRequest) (*cartv1.GetCartResponse, error) {
	return &cartv1.GetCartResponse{Cart: &cartv1.Cart{CustomerId: describe(ctx)}}, nil
}

func (whoAmI) WatchCart(_ *cartv1.WatchCartRequest, s grpc.ServerStreamingServer[cartv1.WatchCartResponse]) error {
	return s.Send(&cartv1.WatchCartResponse{Cart: &cartv1.Cart{CustomerId: describe(s.Context())}})
}

// serve runs a gRPC server with v's interceptors on loopback.
func serve(t *testing.T, v *Verifier) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(v.UnaryInterceptor()), grpc.StreamInterceptor(v.StreamInterceptor()))
	cartv1.RegisterCartServiceServer(srv, whoAmI{})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func withToken(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

func TestInterceptorsPutTheCallerInTheContext(t *testing.T) {
	idp := newSigner(t, "k1")
	conn := serve(t, newTestVerifier(t, writeJWKS(t, idp)))
	client := cartv1.NewCartServiceClient(conn)

	resp, err := client.GetCart(withToken(t.Context(), idp.token(t, claims{sub: "alice"})), &cartv1.GetCartRequest{CartId: "c1"})
	if err != nil || resp.GetCart().GetCustomerId() != "alice" {
		t.Fatalf("GetCart: %v, %v", resp, err)
	}
	op := idp.token(t, claims{sub: "ops-1", extra: map[string]any{"roles": []string{"operator"}}})
	stream, err := client.WatchCart(withToken(t.Context(), op), &cartv1.WatchCartRequest{CartId: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.Recv()
	if err != nil || msg.GetCart().GetCustomerId() != "ops-1+op" {
		t.Fatalf("WatchCart: %v, %v", msg, err)
	}
}

func TestInterceptorsRefuseWithAChallenge(t *testing.T) {
	idp := newSigner(t, "k1")
	conn := serve(t, newTestVerifier(t, writeJWKS(t, idp)))
	client := cartv1.NewCartServiceClient(conn)
	for _, tc := range []struct {
		name, token, challenge string
	}{
		{"missing", "", `Bearer realm="cartstream"`},
		{"wrong audience", idp.token(t, claims{aud: "other"}), `error="invalid_token"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			if tc.token != "" {
				ctx = withToken(ctx, tc.token)
			}
			var hdr, trl metadata.MD
			_, err := client.GetCart(ctx, &cartv1.GetCartRequest{CartId: "c1"}, grpc.Header(&hdr), grpc.Trailer(&trl))
			if status.Code(err) != codes.Unauthenticated {
				t.Fatalf("err = %v, want UNAUTHENTICATED", err)
			}
			got := strings.Join(append(hdr.Get(HeaderWWWAuthenticate), trl.Get(HeaderWWWAuthenticate)...), " ")
			if !strings.Contains(got, tc.challenge) {
				t.Fatalf("www-authenticate %q, want %q", got, tc.challenge)
			}
			stream, err := client.WatchCart(ctx, &cartv1.WatchCartRequest{CartId: "c1"})
			if err == nil {
				_, err = stream.Recv()
			}
			if status.Code(err) != codes.Unauthenticated {
				t.Fatalf("WatchCart: err = %v, want UNAUTHENTICATED", err)
			}
		})
	}
}

func TestInterceptorsLeavePublicServicesOpen(t *testing.T) {
	idp := newSigner(t, "k1")
	conn := serve(t, newTestVerifier(t, writeJWKS(t, idp)))
	if _, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("health without a token: %v", err)
	}
}

func TestInterceptorsInDevModeNeedNoToken(t *testing.T) {
	conn := serve(t, Dev())
	resp, err := cartv1.NewCartServiceClient(conn).GetCart(t.Context(), &cartv1.GetCartRequest{CartId: "c1"})
	if err != nil || resp.GetCart().GetCustomerId() != "dev" {
		t.Fatalf("GetCart: %v, %v", resp, err)
	}
}
