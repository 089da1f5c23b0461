package webhook

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

func TestRecentSetEvictsOldestFirst(t *testing.T) {
	r := newRecentSet(3)
	for i := range 4 {
		r.add(fmt.Sprint(i))
	}
	r.add("3") // re-adding an existing key must not evict anything
	for key, want := range map[string]bool{"0": false, "1": true, "2": true, "3": true} {
		if r.has(key) != want {
			t.Errorf("has(%q) = %v, want %v (bound 3, oldest evicted first)", key, !want, want)
		}
	}
}

// TestInflightSerialisesOneKey: copies of one order's notification never run together, while
// other orders are not held up, and no lock is left behind.
func TestInflightSerialisesOneKey(t *testing.T) {
	f := newInflight(10)
	var inside, maxInside atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			release := f.lock("ns/ORDER-1")
			n := inside.Add(1)
			for {
				m := maxInside.Load()
				if n <= m || maxInside.CompareAndSwap(m, n) {
					break
				}
			}
			inside.Add(-1)
			release()
		})
	}
	wg.Wait()
	if maxInside.Load() != 1 {
		t.Fatalf("%d handlers of one order ran at once, want 1", maxInside.Load())
	}
	other := f.lock("ns/ORDER-2")
	other()
	if len(f.locks) != 0 {
		t.Fatalf("%d locks left behind", len(f.locks))
	}
}
