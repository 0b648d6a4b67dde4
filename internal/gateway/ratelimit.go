package gateway

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of RateLimits, for the binaries' flags. The zero RateLimits
// limits nothing (a library default that changes no caller's behaviour);
// cart-gateway and cartstream apply these unless told otherwise.
const (
	DefaultCustomerRate  = 20.0 // commands per second per customer
	DefaultCustomerBurst = 40
	// DefaultMaxCustomers bounds the customers whose buckets are kept at
	// once; idle buckets (full again) are dropped first.
	DefaultMaxCustomers = 100_000
)

// Limit names which bound refused a command.
type Limit string

// The limits.
const (
	LimitCustomer Limit = "customer"
	LimitGlobal   Limit = "global"
)

// RateLimits bound the commands a gateway accepts, as token buckets
// (golang.org/x/time/rate). Queries are not limited: they write nothing.
type RateLimits struct {
	// PerCustomer is the sustained rate of commands per second of one
	// customer; 0: no per-customer limit.
	PerCustomer float64
	// PerCustomerBurst is how many commands a customer may send at once;
	// default twice the rate, at least 1.
	PerCustomerBurst int
	// Global is the sustained rate of commands per second of the whole
	// gateway replica; 0: no global limit.
	Global float64
	// GlobalBurst; default twice the rate, at least 1.
	GlobalBurst int
	// MaxCustomers: see DefaultMaxCustomers.
	MaxCustomers int
}

// Validate reports every problem at once.
func (r RateLimits) Validate() error {
	var errs []error
	if r.PerCustomer < 0 || r.Global < 0 {
		errs = append(errs, errors.New("gateway: rate limits must not be negative (0: off)"))
	}
	if r.PerCustomerBurst < 0 || r.GlobalBurst < 0 || r.MaxCustomers < 0 {
		errs = append(errs, errors.New("gateway: bursts and max customers must not be negative"))
	}
	return errors.Join(errs...)
}

func burstOf(r float64, b int) int {
	if b > 0 {
		return b
	}
	return max(1, int(2*r))
}

// ErrRateLimited matches every *RateLimitError.
var ErrRateLimited = errors.New("gateway: rate limited")

// RateLimitError is a command refused by a rate limit; RetryAfter is when
// the bucket will have a token again.
type RateLimitError struct {
	Limit      Limit
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("gateway: %s rate limit: retry after %v", e.Limit, e.RetryAfter)
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// limiter holds the token buckets of one gateway replica. It is safe for
// concurrent use; a nil *limiter allows everything.
type limiter struct {
	mu        sync.Mutex
	perRate   rate.Limit // 0: no per-customer limit
	perBurst  int
	customers map[string]*rate.Limiter
	overflow  *rate.Limiter // shared by customers beyond maxKeys
	global    *rate.Limiter // nil: no global limit
	maxKeys   int
	lastSweep time.Time
}

func newLimiter(r RateLimits) *limiter {
	if r.PerCustomer == 0 && r.Global == 0 {
		return nil
	}
	l := &limiter{maxKeys: r.MaxCustomers, customers: map[string]*rate.Limiter{}}
	if l.maxKeys == 0 {
		l.maxKeys = DefaultMaxCustomers
	}
	if r.PerCustomer > 0 {
		l.perRate, l.perBurst = rate.Limit(r.PerCustomer), burstOf(r.PerCustomer, r.PerCustomerBurst)
		l.overflow = rate.NewLimiter(l.perRate, l.perBurst)
	}
	if r.Global > 0 {
		l.global = rate.NewLimiter(rate.Limit(r.Global), burstOf(r.Global, r.GlobalBurst))
	}
	return l
}

// allow takes one token from the customer's bucket and the global one at
// now, or takes none and says which limit refused and for how long.
func (l *limiter) allow(customer string, now time.Time) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var rs [2]*rate.Reservation
	var worst *RateLimitError
	for i, b := range []struct {
		lim   *rate.Limiter
		limit Limit
	}{{l.bucket(customer, now), LimitCustomer}, {l.global, LimitGlobal}} {
		if b.lim == nil {
			continue
		}
		rs[i] = b.lim.ReserveN(now, 1)
		if d := rs[i].DelayFrom(now); d > 0 && (worst == nil || d > worst.RetryAfter) {
			worst = &RateLimitError{Limit: b.limit, RetryAfter: d}
		}
	}
	if worst == nil {
		return nil
	}
	// Refused: give back what was taken, so a refused command costs
	// nothing and the advertised wait stays true.
	for _, r := range rs {
		if r != nil {
			r.CancelAt(now)
		}
	}
	return worst
}

// bucket is the customer's limiter, nil without a per-customer limit.
func (l *limiter) bucket(customer string, now time.Time) *rate.Limiter {
	if l.perRate == 0 {
		return nil
	}
	if b, ok := l.customers[customer]; ok {
		return b
	}
	if len(l.customers) >= l.maxKeys && now.Sub(l.lastSweep) >= time.Second {
		l.sweep(now)
	}
	if len(l.customers) >= l.maxKeys {
		// Bounded memory under a flood of new ids: the newcomers share
		// one bucket until idle ones are swept.
		return l.overflow
	}
	b := rate.NewLimiter(l.perRate, l.perBurst)
	l.customers[customer] = b
	return b
}

// sweep drops the buckets that are full again: forgetting them changes
// nothing, as a new bucket starts full.
func (l *limiter) sweep(now time.Time) {
	l.lastSweep = now
	for k, b := range l.customers {
		if b.TokensAt(now) >= float64(l.perBurst) {
			delete(l.customers, k)
		}
	}
}
