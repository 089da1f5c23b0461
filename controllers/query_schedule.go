package controllers

import (
	"math/rand/v2"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// querySchedule remembers, per order, when the provider should next be queried while the order
// awaits payment. It lives in memory on purpose: persisting it would cost one status write per
// query; losing it on restart only delays the next query by one initial interval.
type querySchedule struct {
	mu    sync.Mutex
	state map[types.UID]queryState
}

type queryState struct {
	next     time.Time
	interval time.Duration
}

// due reports whether the order's query is due at now, and when it is due otherwise. An order
// never seen before is scheduled one initial interval ahead, so a restarted manager does not query
// every open order at once.
func (s *querySchedule) due(uid types.UID, now time.Time, initial time.Duration) (bool, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == nil {
		s.state = map[types.UID]queryState{}
	}
	st, ok := s.state[uid]
	if !ok {
		st = queryState{next: now.Add(jitter(initial)), interval: initial}
		s.state[uid] = st
	}
	return !now.Before(st.next), st.next
}

// queried records a query at now and schedules the next one, doubling the interval up to maxInterval.
func (s *querySchedule) queried(uid types.UID, now time.Time, initial, maxInterval time.Duration) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == nil {
		s.state = map[types.UID]queryState{}
	}
	st, ok := s.state[uid]
	if !ok || st.interval < initial {
		st.interval = initial
	} else {
		st.interval = min(st.interval*2, maxInterval)
	}
	st.next = now.Add(jitter(st.interval))
	s.state[uid] = st
	return st.next
}

// start schedules the first query of a freshly created payment.
func (s *querySchedule) start(uid types.UID, now time.Time, initial time.Duration) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == nil {
		s.state = map[types.UID]queryState{}
	}
	st := queryState{next: now.Add(jitter(initial)), interval: initial}
	s.state[uid] = st
	return st.next
}

func (s *querySchedule) forget(uid types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.state, uid)
}

// jitter spreads d by ±20% so orders created together do not query the provider together.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
