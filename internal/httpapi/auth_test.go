package httpapi_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/cartstream/cartstream/internal/auth"
	"github.com/cartstream/cartstream/internal/httpapi"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// guarded answers GetCart with the authorization metadata it got (as the
// cart id), or UNAUTHENTICATED with a challenge; AddItem is rate limited.
type guarded struct {
	cartv1.UnimplementedCartServiceServer
}

func (guarded) GetCart(ctx context.Context, _ *cartv1.GetCartRequest) (*cartv1.GetCartResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if got := md.Get("authorization"); len(got) == 1 {
		return &cartv1.GetCartResponse{Cart: &cartv1.Cart{CartId: got[0]}}, nil
	}
	_ = grpc.SetHeader(ctx, metadata.Pairs(auth.HeaderWWWAuthenticate, `Bearer realm="cartstream"`))
	return nil, status.Error(codes.Unauthenticated, "unauthenticated: no bearer token")
}

func (guarded) AddItem(context.Context, *cartv1.AddItemRequest) (*cartv1.AddItemResponse, error) {
	st, _ := status.New(codes.ResourceExhausted, "too many commands").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(1500 * time.Millisecond)})
	return nil, st.Err()
}

func serveGuarded(t *testing.T, devAuth bool) http.Handler {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	cartv1.RegisterCartServiceServer(srv, guarded{})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s, err := httpapi.New(httpapi.Config{Conn: conn, DevAuth: devAuth})
	if err != nil {
		t.Fatal(err)
	}
	return s.Handler()
}

func TestAuthorizationHeaderReachesGRPCAndChallengesComeBack(t *testing.T) {
	h := serveGuarded(t, false)
	req := httptest.NewRequest("GET", "/v1/carts/c1", nil)
	req.Header.Set("Authorization", "Bearer abc.def.ghi")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Bearer abc.def.ghi") {
		t.Fatalf("with a token: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/carts/c1", nil))
	if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") != `Bearer realm="cartstream"` {
		t.Fatalf("without a token: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
}

func TestRetryInfoBecomesRetryAfter(t *testing.T) {
	h := serveGuarded(t, false)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/carts/c1/items", strings.NewReader(`{"requestId":"r1","sku":"a","quantity":1}`)))
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "2" {
		t.Fatalf("rate limited: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
}

func TestHealthzSaysDevelopmentMode(t *testing.T) {
	for _, dev := range []bool{true, false} {
		rec := httptest.NewRecorder()
		serveGuarded(t, dev).ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		var body map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != http.StatusOK {
			t.Fatalf("/healthz: %d %s", rec.Code, rec.Body)
		}
		if got := body["auth"]; (got == httpapi.DevAuthNotice) != dev {
			t.Fatalf("dev %v: auth %q", dev, got)
		}
	}
}
