package bench

import (
	"slices"
	"testing"
	"time"
)

func TestP99Ratio(t *testing.T) {
	ds := func(ms ...int) []time.Duration {
		var out []time.Duration
		for _, m := range ms {
			out = append(out, time.Duration(m)*time.Millisecond)
		}
		return out
	}
	co, add := percentiles(ds(10, 20, 30, 40)), percentiles(ds(5, 10))
	if got := p99Ratio(co, add); got != 4 {
		t.Errorf("p99Ratio = %v, want 40/10 = 4", got)
	}
	if got := p99Ratio(co, Percentiles{}); got != 0 {
		t.Errorf("p99Ratio without a baseline = %v, want 0", got)
	}
}

func TestPerCheckout(t *testing.T) {
	if got := perCheckout(300, 100); got != 3 {
		t.Errorf("perCheckout(300, 100) = %v, want 3", got)
	}
	if got := perCheckout(5, 0); got != 0 {
		t.Errorf("perCheckout without checkouts = %v, want 0", got)
	}
	if got := slicesMin([]int{200, 50, 1000}); got != 50 {
		t.Errorf("slicesMin = %d, want 50", got)
	}
}

func TestRequestIDsOf(t *testing.T) {
	got := requestIDsOf(map[string]outcome{
		"coshortab-000001-co": {}, "coshortab-000001-a0": {}, "cor50ab-000002-co": {}, "-co": {},
	}, "coshort")
	if !slices.Equal(got, []string{"coshortab-000001-co"}) {
		t.Errorf("requestIDsOf = %v, want only the short run's checkout", got)
	}
}

func TestCheckoutConfigDefaultsAndValidation(t *testing.T) {
	c := Config{Brokers: "x"}.withDefaults()
	if !slices.Equal(c.CheckoutRates, []int{50, 200}) || c.CheckoutDuration != 5*time.Second || c.CheckoutClients != 16 {
		t.Errorf("checkout defaults = %v, %s, %d", c.CheckoutRates, c.CheckoutDuration, c.CheckoutClients)
	}
	if !slices.Contains(c.Scenarios, "checkout") {
		t.Errorf("checkout is not among the default scenarios %v", c.Scenarios)
	}
	c.CheckoutRates = []int{50, 0}
	if err := c.Validate(); err == nil {
		t.Error("a zero checkout rate passed validation")
	}
}
