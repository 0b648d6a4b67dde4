package validation

import (
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/globaltable"
)

// A restarted follower reads the topic again into a table of its own: a
// product deleted while the follower was down, whose tombstone compaction
// removed, must not survive the reload.
func TestCatalogReloadReplacesTheTableOnlyWhenComplete(t *testing.T) {
	products := map[string]cart.Product{
		"A": {SKU: "A", Name: "a", UnitPrice: cart.Money{Amount: 100, Currency: "EUR"}, Active: true},
		"B": {SKU: "B", Name: "b", UnitPrice: cart.Money{Amount: 200, Currency: "EUR"}, Active: true},
	}
	decode := func(v []byte) (cart.Product, error) {
		p, ok := products[string(v)]
		if !ok {
			return cart.Product{}, errors.New("unknown")
		}
		return p, nil
	}
	c := newCatalogStore(decode, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	for _, sku := range []string{"A", "B"} {
		if err := c.apply(globaltable.Record{Key: []byte(sku), Value: []byte(sku)}); err != nil {
			t.Fatal(err)
		}
	}
	c.beginReload()
	// The compacted topic now holds only A (B's tombstone is gone).
	if err := c.apply(globaltable.Record{Key: []byte("A"), Value: []byte("A")}); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Product("B"); !ok {
		t.Fatal("B vanished before the reload completed: requests meanwhile would see a half-read catalog")
	}
	c.promote()
	if _, ok := c.Product("B"); ok {
		t.Error("B, deleted while the follower was down, survived the reload")
	}
	if _, ok := c.Product("A"); !ok {
		t.Error("A is missing after the reload")
	}
}

// An injected fault kills the follower: apply returns it.
func TestCatalogApplyFailsWithAnInjectedFault(t *testing.T) {
	c := newCatalogStore(nil, slog.New(slog.NewTextHandler(io.Discard, nil)), injectOnce{FaultFatal})
	err := c.apply(globaltable.Record{Key: []byte("A"), Value: []byte("A")})
	var inj *injectedError
	if !errors.As(err, &inj) || inj.site.Point != FaultCatalog {
		t.Fatalf("apply = %v, want the injected catalog fault", err)
	}
}

type injectOnce struct{ f Fault }

func (i injectOnce) Inject(FaultSite) Fault { return i.f }

func TestClassifyInjectedFaults(t *testing.T) {
	for f, want := range map[Fault]txnAction{FaultRetriable: actRetry, FaultAbortable: actAbort, FaultFatal: actFatal} {
		err := inject(injectOnce{f}, FaultSite{Point: FaultCommit})
		if got := classify(err); got != want {
			t.Errorf("classify(%s fault) = %s, want %s", f, got, want)
		}
	}
	if err := inject(nil, FaultSite{Point: FaultCommit}); err != nil {
		t.Errorf("no injector: %v", err)
	}
	if got := classify(errAssignmentLost); got != actAbort {
		t.Errorf("classify(assignment lost) = %s, want abort", got)
	}
}
