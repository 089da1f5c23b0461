package webhook

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of the per-source failure budget (--notify-rate-limit, --notify-rate-burst): requests
// that fail before or during verification, per second per source (IPv4 address or IPv6 /64).
//
// A provider's genuine notifications never spend it (they verify), so these numbers bound noise,
// not traffic: a misconfigured provider (a rotated key not yet in the Secret) gets its first 100
// failures logged one by one and then 10 a second, enough to diagnose; a flood gets the 429 answer
// and one aggregate log line per interval.
const (
	DefaultRateLimit = 10 // failures per second per source
	DefaultRateBurst = 100
	// budgetIdle is how long a source's budget is kept after its last failure.
	budgetIdle = 10 * time.Minute
	// maxBudgetSources bounds the memory of budgets (about 200 bytes each, so some 13 MiB).
	// An IPv6 sender with a /48 has 65,536 /64s; beyond the bound, new sources share one budget.
	maxBudgetSources = 65536
)

// overflowSource is the shared key of sources seen while maxBudgetSources others are tracked.
const overflowSource = "overflow"

// failureBudget is a token bucket per source, spent by every request that fails before it is
// verified. It never refuses anything by itself: it only decides how a failure is answered and
// logged (see Server.refuse). Sharing a budget (an ingress address, the overflow bucket) can
// therefore only change the answer to requests that are refused anyway.
type failureBudget struct {
	limit rate.Limit
	burst int

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newFailureBudget(limit float64, burst int) *failureBudget {
	if limit <= 0 {
		limit = DefaultRateLimit
	}
	if burst <= 0 {
		burst = DefaultRateBurst
	}
	return &failureBudget{limit: rate.Limit(limit), burst: burst, buckets: map[string]*bucket{}}
}

// spend takes one failure from source's budget. When the budget is spent it returns false and
// how long until one failure is allowed again, for Retry-After.
func (b *failureBudget) spend(source string, now time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// Sweeping idle budgets keeps memory to the sources of the last budgetIdle.
	if now.Sub(b.lastSweep) > time.Minute {
		for k, bk := range b.buckets {
			if now.Sub(bk.seen) > budgetIdle {
				delete(b.buckets, k)
			}
		}
		b.lastSweep = now
	}
	bk := b.buckets[source]
	if bk == nil {
		if len(b.buckets) >= maxBudgetSources {
			source = overflowSource
			bk = b.buckets[source]
		}
		if bk == nil {
			bk = &bucket{lim: rate.NewLimiter(b.limit, b.burst)}
			b.buckets[source] = bk
		}
	}
	bk.seen = now
	if bk.lim.AllowN(now, 1) {
		return true, 0
	}
	return false, b.retryAfter()
}

// retryAfter is the time one failure takes to be allowed again, between 1 s and 1 min.
func (b *failureBudget) retryAfter() time.Duration {
	d := time.Duration(math.Ceil(1/float64(b.limit))) * time.Second
	return min(max(d, time.Second), time.Minute)
}
