package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

func runCtl(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code = run(ctx, args, nil, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"nosuch"},
		{"replay", "-o", "yaml"},
		{"replay", "--verify", "--rewrite"},
		{"replay", "--dry-run"},
		{"replay", "--verify", "--until-time", "2026-11-24T12:00:00Z"},
		{"replay", "--until-time", "yesterday"},
		{"replay", "--until-offset", "0:1,0:2"},
		{"replay", "--until-offset", "0:1", "--until-time", "2026-11-24T12:00:00Z"},
		{"replay", "--cart", "bad id!"},
		{"replay", "stray"},
		{"replay", "--rewrite", "--to-topic", "cart.state"},
		{"replay", "--progress", "loud"},
		{"topics"},
		{"topics", "explode"},
		{"cart", "get"},
		{"cart", "dance", "c1"},
		{"verify", "extra"},
		{"verify", "--log-level", "loud"},
	} {
		code, out, errOut := runCtl(t, args...)
		if code != exitOperational {
			t.Errorf("cartctl %q = %d, want %d (stderr %q)", args, code, exitOperational, errOut)
		}
		if out != "" {
			t.Errorf("cartctl %q wrote to stdout: %q", args, out)
		}
	}
}

func TestHelpPerSubcommand(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"help"}, "Commands:"},
		{[]string{"help", "replay"}, "STOP THE AddItemManager"},
		{[]string{"replay", "--help"}, "--until-offset"},
		{[]string{"cart", "-h"}, "history"},
		{[]string{"topics", "--help"}, "last stable offset"},
		{[]string{"verify", "--help"}, "exactly-once"},
	} {
		code, out, _ := runCtl(t, tc.args...)
		if code != exitOK || !strings.Contains(out, tc.want) {
			t.Errorf("cartctl %q = %d, stdout lacks %q:\n%s", tc.args, code, tc.want, out)
		}
	}
}

func TestUnreachableBrokerIsOperational(t *testing.T) {
	code, out, errOut := runCtl(t, "replay", "--brokers", "127.0.0.1:1", "--request-timeout", "1s", "--progress", "none")
	if code != exitOperational || out != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// fakeCarts is an in-process CartService: one cart, its history in two
// pages, and a watch that sends three versions and ends with the checkout.
type fakeCarts struct {
	cartv1.UnimplementedCartServiceServer
	gotToken *cartv1.ConsistencyToken
}

func eurMoney(a int64) *cartv1.Money { return &cartv1.Money{AmountMinor: a, CurrencyCode: "EUR"} }

func fakeCart(version int64, status cartv1.CartStatus, qty int32) *cartv1.Cart {
	return &cartv1.Cart{CartId: "cart-1", Status: status, CustomerId: "cust-1", Version: version, ItemCount: qty, Subtotal: eurMoney(1999 * int64(qty)),
		Lines: []*cartv1.CartLine{{Sku: "SKU-A", Name: "Espresso cup", UnitPrice: eurMoney(1999), Quantity: qty, LineTotal: eurMoney(1999 * int64(qty))}}}
}

func (f *fakeCarts) GetCart(_ context.Context, r *cartv1.GetCartRequest) (*cartv1.GetCartResponse, error) {
	if r.GetCartId() != "cart-1" {
		return nil, status.Error(codes.NotFound, "no such cart")
	}
	f.gotToken = r.GetConsistencyToken()
	resp := &cartv1.GetCartResponse{Cart: fakeCart(2, cartv1.CartStatus_CART_STATUS_OPEN, 2)}
	if r.GetConsistencyToken() != nil {
		resp.RequestOutcome = &cartv1.RequestOutcome{RequestId: "r2", Accepted: true}
	}
	return resp, nil
}

func (f *fakeCarts) GetCartHistory(_ context.Context, r *cartv1.GetCartHistoryRequest) (*cartv1.GetCartHistoryResponse, error) {
	if r.GetCartId() != "cart-1" {
		return nil, status.Error(codes.NotFound, "no such cart")
	}
	at := timestamppb.New(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	first := &cartv1.HistoryEntry{RequestId: "r1", EventType: "AddItemValidatedRequest", CartVersion: 1, RequestTime: at,
		RecordPosition: &cartv1.RecordPosition{Topic: "cart.validated", Partition: 0, Offset: 0},
		Detail:         &cartv1.HistoryEntry_ItemAdded{ItemAdded: &cartv1.ItemAdded{Sku: "SKU-A", Quantity: 1, UnitPrice: eurMoney(1999)}}}
	second := &cartv1.HistoryEntry{RequestId: "r2", EventType: "AddItemInvalidRequest", CartVersion: 1, RequestTime: at,
		RecordPosition: &cartv1.RecordPosition{Topic: "cart.invalid", Partition: 0, Offset: 0},
		Detail:         &cartv1.HistoryEntry_Rejected{Rejected: &cartv1.Rejection{Reason: cartv1.ReasonCode_REASON_CODE_UNKNOWN_SKU, Message: "unknown sku NOPE"}}}
	if r.GetPageToken() == "" {
		return &cartv1.GetCartHistoryResponse{Entries: []*cartv1.HistoryEntry{first}, NextPageToken: "p2"}, nil
	}
	if r.GetPageToken() != "p2" {
		return nil, status.Error(codes.InvalidArgument, "bad page token")
	}
	return &cartv1.GetCartHistoryResponse{Entries: []*cartv1.HistoryEntry{second}}, nil
}

func (f *fakeCarts) WatchCart(r *cartv1.WatchCartRequest, s grpc.ServerStreamingServer[cartv1.WatchCartResponse]) error {
	if r.GetCartId() != "cart-1" {
		return status.Error(codes.NotFound, "no such cart")
	}
	for v, st := range []cartv1.CartStatus{cartv1.CartStatus_CART_STATUS_OPEN, cartv1.CartStatus_CART_STATUS_OPEN, cartv1.CartStatus_CART_STATUS_CHECKED_OUT} {
		if err := s.Send(&cartv1.WatchCartResponse{Cart: fakeCart(int64(v+1), st, int32(v+1))}); err != nil {
			return err
		}
	}
	return nil
}

func startFake(t *testing.T) (*fakeCarts, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	fake := &fakeCarts{}
	cartv1.RegisterCartServiceServer(srv, fake)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return fake, lis.Addr().String()
}

func TestCartGet(t *testing.T) {
	fake, addr := startFake(t)
	code, out, errOut := runCtl(t, "cart", "get", "cart-1", "--addr", addr, "--token", "3:42")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"cart cart-1", "status OPEN", "subtotal 3998 EUR", "SKU-A", "Espresso cup", "request r2: accepted"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if fake.gotToken.GetPartition() != 3 || fake.gotToken.GetOffset() != 42 {
		t.Errorf("token sent %v, want 3:42", fake.gotToken)
	}

	code, out, _ = runCtl(t, "cart", "get", "--addr", addr, "-o", "json", "cart-1")
	var resp struct {
		Cart struct {
			CartID  string `json:"cart_id"`
			Version string `json:"version"`
		} `json:"cart"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &resp) != nil || resp.Cart.CartID != "cart-1" || resp.Cart.Version != "2" {
		t.Errorf("json get: exit %d, %+v:\n%s", code, resp, out)
	}

	if code, _, errOut := runCtl(t, "cart", "get", "nope", "--addr", addr); code != exitFindings || !strings.Contains(errOut, "not found") {
		t.Errorf("unknown cart: exit %d, stderr %q", code, errOut)
	}
}

func TestCartHistoryFollowsPages(t *testing.T) {
	_, addr := startFake(t)
	code, out, errOut := runCtl(t, "cart", "history", "cart-1", "--addr", addr)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"added SKU-A x1 at 1999 EUR", "rejected UNKNOWN_SKU: unknown sku NOPE", "cart.invalid/0@0", "2 entries"} {
		if !strings.Contains(out, want) {
			t.Errorf("history lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCtl(t, "cart", "history", "cart-1", "--addr", addr, "--limit", "1", "-o", "json")
	var resp struct {
		Entries []json.RawMessage `json:"entries"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &resp) != nil || len(resp.Entries) != 1 {
		t.Errorf("history --limit 1: exit %d:\n%s", code, out)
	}
}

func TestCartWatchUntilCheckout(t *testing.T) {
	_, addr := startFake(t)
	code, out, errOut := runCtl(t, "cart", "watch", "cart-1", "--addr", addr)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "version 1 OPEN") || !strings.Contains(lines[2], "version 3 CHECKED_OUT") {
		t.Errorf("watch output:\n%s", out)
	}
	code, out, _ = runCtl(t, "cart", "watch", "cart-1", "--addr", addr, "-o", "json")
	if n := strings.Count(strings.TrimSpace(out), "\n") + 1; code != exitOK || n != 3 {
		t.Errorf("watch -o json: exit %d, %d lines:\n%s", code, n, out)
	}
	if code, _, _ := runCtl(t, "cart", "watch", "nope", "--addr", addr); code != exitFindings {
		t.Errorf("watch of an unknown cart: exit %d, want %d", code, exitFindings)
	}
}
