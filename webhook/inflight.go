package webhook

import (
	"container/list"
	"sync"
)

// inflight serialises the handling of one order's notifications within a replica and remembers
// the notifications this replica recorded recently.
//
// Providers deliver the same notification several times, often at once. Without this, every
// copy would read the (same) cached order, decide the same transition and race to write it: one
// write wins and the others cost a failed write plus an uncached re-read each. With it, copies on
// one replica wait for the first, then find its id in the recent set and answer success with no
// API call. Exactly-once still rests on the resourceVersion lock (other replicas, restarts); this
// only removes the self-inflicted conflicts.
type inflight struct {
	mu     sync.Mutex
	locks  map[string]*keyLock
	recent *recentSet
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

func newInflight(recentSize int) *inflight {
	return &inflight{locks: map[string]*keyLock{}, recent: newRecentSet(recentSize)}
}

// lock acquires key's lock and returns its release.
func (f *inflight) lock(key string) func() {
	f.mu.Lock()
	l := f.locks[key]
	if l == nil {
		l = &keyLock{}
		f.locks[key] = l
	}
	l.refs++
	f.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		f.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(f.locks, key)
		}
		f.mu.Unlock()
	}
}

// recentSet is a bounded set of keys, oldest evicted first.
type recentSet struct {
	mu    sync.Mutex
	max   int
	order *list.List
	items map[string]*list.Element
}

func newRecentSet(size int) *recentSet {
	return &recentSet{max: size, order: list.New(), items: map[string]*list.Element{}}
}

func (r *recentSet) add(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.items[key]; ok {
		return
	}
	r.items[key] = r.order.PushBack(key)
	if r.order.Len() > r.max {
		oldest := r.order.Front()
		r.order.Remove(oldest)
		delete(r.items, oldest.Value.(string))
	}
}

func (r *recentSet) has(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.items[key]
	return ok
}
