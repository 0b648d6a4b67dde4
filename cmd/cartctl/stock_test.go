package main

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// fakeStock answers AdjustStock UNAVAILABLE the first failures times (the
// answer lost on its way back) and records what it was sent.
type fakeStock struct {
	cartv1.UnimplementedInventoryAdminServiceServer
	mu       sync.Mutex
	failures int
	got      []*cartv1.AdjustStockRequest
}

func (f *fakeStock) AdjustStock(_ context.Context, req *cartv1.AdjustStockRequest) (*cartv1.AdjustStockResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, req)
	if len(f.got) <= f.failures {
		return nil, status.Error(codes.Unavailable, "connection reset")
	}
	return &cartv1.AdjustStockResponse{Partition: 1, Offset: 7, AdjustmentId: req.GetAdjustmentId()}, nil
}

func startFakeStock(t *testing.T, failures int) (*fakeStock, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	fake := &fakeStock{failures: failures}
	cartv1.RegisterInventoryAdminServiceServer(srv, fake)
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

// Issue 14: cartctl stock adjust retries a lost answer with the same
// adjustment id (the processor applies an id once), makes a new id per
// invocation, and takes --adjustment-id.
func TestStockAdjustRetriesWithOneID(t *testing.T) {
	fake, addr := startFakeStock(t, 2)
	code, out, errOut := runCtl(t, "stock", "adjust", "--admin-addr", addr, "SKU-A", "5")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if len(fake.got) != 3 {
		t.Fatalf("%d calls, want 3 (two lost answers, then the answer)", len(fake.got))
	}
	id := fake.got[0].GetAdjustmentId()
	if !strings.HasPrefix(id, "cartctl-") {
		t.Fatalf("adjustment id %q", id)
	}
	for _, r := range fake.got {
		if r.GetAdjustmentId() != id || r.GetDelta() != 5 || r.GetSku() != "SKU-A" {
			t.Fatalf("a retry changed the request: %v, first id %s", r, id)
		}
	}
	if !strings.Contains(out, id) {
		t.Errorf("output does not name the adjustment id %s:\n%s", id, out)
	}

	// A second invocation is another adjustment: another id.
	if code, _, errOut := runCtl(t, "stock", "adjust", "--admin-addr", addr, "SKU-A", "5"); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if next := fake.got[3].GetAdjustmentId(); next == id || next == "" {
		t.Fatalf("second invocation sent id %q (first %q)", next, id)
	}
	// An operator retrying by hand names the id.
	if code, _, errOut := runCtl(t, "stock", "adjust", "--admin-addr", addr, "--adjustment-id", id, "SKU-A", "5"); code != exitOK || fake.got[4].GetAdjustmentId() != id {
		t.Fatalf("--adjustment-id: exit %d, sent %q: %s", code, fake.got[4].GetAdjustmentId(), errOut)
	}
}

// Out of attempts, cartctl gives up and says which id to retry with.
func TestStockAdjustGivesUpNamingTheID(t *testing.T) {
	fake, addr := startFakeStock(t, 10)
	code, _, errOut := runCtl(t, "stock", "adjust", "--admin-addr", addr, "--attempts", "2", "--adjustment-id", "restock-9", "SKU-A", "5")
	if code != exitOperational || len(fake.got) != 2 || !strings.Contains(errOut, "--adjustment-id restock-9") {
		t.Fatalf("exit %d after %d calls: %s", code, len(fake.got), errOut)
	}
}
