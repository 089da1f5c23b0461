package webhook

import (
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of the per-source rate limit. A provider delivers from a handful of addresses and,
// even when it replays a backlog, stays far below this; a flood from one address is cut off
// before it costs a signature check or an API call.
const (
	DefaultRateLimit = 500 // requests per second per source address
	DefaultRateBurst = 1000
	// limiterIdle is how long an address's bucket is kept after its last request.
	limiterIdle = 10 * time.Minute
)

// sourceLimiter is a token bucket per source address.
type sourceLimiter struct {
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

func newSourceLimiter(limit float64, burst int) *sourceLimiter {
	if limit <= 0 {
		limit = DefaultRateLimit
	}
	if burst <= 0 {
		burst = DefaultRateBurst
	}
	return &sourceLimiter{limit: rate.Limit(limit), burst: burst, buckets: map[string]*bucket{}}
}

// allow reports whether a request from remoteAddr may proceed now.
func (s *sourceLimiter) allow(remoteAddr string, now time.Time) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Sweeping idle buckets keeps memory bounded by the addresses seen in the last limiterIdle.
	if now.Sub(s.lastSweep) > time.Minute {
		for k, b := range s.buckets {
			if now.Sub(b.seen) > limiterIdle {
				delete(s.buckets, k)
			}
		}
		s.lastSweep = now
	}
	b := s.buckets[host]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(s.limit, s.burst)}
		s.buckets[host] = b
	}
	b.seen = now
	return b.lim.AllowN(now, 1)
}

// limit wraps next with the per-source limit: over it, 429 with Retry-After, before the body is
// read. Behind a proxy every request has the proxy's address, so size the limit for that (or
// raise it); forwarded headers are not trusted because anyone can set them.
func (s *sourceLimiter) wrap(next http.Handler, onLimited func(*http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.allow(r.RemoteAddr, time.Now()) {
			onLimited(r)
			w.Header().Set("Retry-After", "1")
			http.Error(w, "too many requests", http.StatusTooManyRequests)
			return
		}
		next.ServeHTTP(w, r)
	})
}
