package stripe

import (
	"maps"
	"sync"
	"time"

	"github.com/kubepay/kubepay/providers"
)

// Recovering a lost create answer.
//
// When the controller has no session id for an order (the create answer was lost, or the status
// write after it was), Query and Close get only the out_trade_no. Stripe can list Checkout
// Sessions by payment_intent, customer or status, but not by client_reference_id, so the session
// cannot be looked up. Instead the create is re-issued with the same Idempotency-Key: for 24 hours
// Stripe answers it with the session the first request created, without creating another.
//
// Stripe does so only when the parameters are identical to the first request's, and Query and
// Close do not have the order. So every create's inputs are remembered here, in memory, for the
// 24 hours Stripe keeps the key. A process that did not send the create (after a restart) knows
// nothing to replay and reports providers.ErrNotFound: the session's URL never reached the order's
// status, so no customer can have been sent to pay it, and its own expires_at ends it.

const (
	// recallTTL is how long Stripe keeps an Idempotency-Key's saved answer.
	recallTTL = 24 * time.Hour
	// maxRecalled bounds the memory: about 1 KiB per order.
	maxRecalled = 10000
)

type createInputs struct {
	order      providers.Order
	unitAmount int64
	expiresAt  int64
	at         time.Time
}

type createMemory struct {
	mu sync.Mutex
	m  map[string]createInputs
}

func newCreateMemory() *createMemory {
	return &createMemory{m: map[string]createInputs{}}
}

// remember records a create's inputs, keeping the first ones for an out_trade_no: those are what
// Stripe saved. Past the bound, expired entries go first, then the oldest.
func (m *createMemory) remember(in createInputs) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if prev, ok := m.m[in.order.OutTradeNo]; ok && in.at.Sub(prev.at) < recallTTL {
		return
	}
	if len(m.m) >= maxRecalled {
		m.evict(in.at)
	}
	in.order.Metadata = maps.Clone(in.order.Metadata)
	m.m[in.order.OutTradeNo] = in
}

// recall returns the inputs of a create sent for outTradeNo within Stripe's 24 hours.
func (m *createMemory) recall(outTradeNo string, now time.Time) (createInputs, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	in, ok := m.m[outTradeNo]
	if !ok || now.Sub(in.at) >= recallTTL {
		return createInputs{}, false
	}
	return in, true
}

func (m *createMemory) evict(now time.Time) {
	oldest, oldestAt := "", now
	for k, v := range m.m {
		if now.Sub(v.at) >= recallTTL {
			delete(m.m, k)
			continue
		}
		if v.at.Before(oldestAt) || oldest == "" {
			oldest, oldestAt = k, v.at
		}
	}
	if len(m.m) >= maxRecalled && oldest != "" {
		delete(m.m, oldest)
	}
}
