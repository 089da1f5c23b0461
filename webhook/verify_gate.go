package webhook

import (
	"context"
	"runtime"
	"time"
)

// DefaultVerifyWait is how long a request waits for a verification slot before it is answered
// 503. A slot is held for one verification and parse: well under a millisecond for a notification
// (a few RSA-2048 public-key operations, or an HMAC). With 2 slots, 3 s drains a queue of some
// 10,000 forged requests, more than the connections a sender can hold open; and a provider's
// delivery (attempt timeouts of 5 to 10 s) still has time for the status write after it.
const DefaultVerifyWait = 3 * time.Second

// defaultVerifySlots bounds concurrent verifications: GOMAXPROCS (which Go sets from the
// container's CPU limit), and at least 2, so that one slow parse (a 1 MiB body) does not stop
// everyone on a 1-CPU pod.
func defaultVerifySlots() int { return max(2, runtime.GOMAXPROCS(0)) }

// verifyGate bounds the signature verification and parsing under way at once, across all
// sources and providers.
//
// Verification is the work an unauthenticated sender controls: every request with a well-formed
// signature header costs public-key operations, whether or not it verifies. Unbounded, a flood of
// forged signatures takes every CPU from the notifications that verify, from their status writes,
// and from the controller in the same process. Bounded, the flood queues with everyone else, in
// arrival order (a channel's waiting senders are served first come, first served), and a genuine
// notification waits behind at most the requests already queued, each a fraction of a
// millisecond. Only when the queue does not move for DefaultVerifyWait is the server as a whole
// saturated; then the answer is 503 with Retry-After, which every provider retries.
//
// The gate covers verification and parsing only. Reading the body happens before it: that is
// waiting on the sender's network, and a slot held while waiting would let a handful of slow
// senders (slowloris) lock everyone out. Body reads are bounded per request instead (1 MiB,
// ReadTimeout) and cost only the bytes a sender actually sends.
type verifyGate struct {
	slots chan struct{}
}

func newVerifyGate(n int) *verifyGate {
	if n <= 0 {
		n = defaultVerifySlots()
	}
	return &verifyGate{slots: make(chan struct{}, n)}
}

// enter waits up to wait (or until ctx ends) for a slot. It returns the slot's release, or false
// when none came.
func (g *verifyGate) enter(ctx context.Context, wait time.Duration) (func(), bool) {
	release := func() { <-g.slots }
	select {
	case g.slots <- struct{}{}:
		return release, true
	default:
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case g.slots <- struct{}{}:
		return release, true
	case <-timer.C:
		return nil, false
	case <-ctx.Done():
		return nil, false
	}
}
