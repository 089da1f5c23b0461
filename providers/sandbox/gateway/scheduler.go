package gateway

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// scheduler holds the deliveries waiting for their next attempt and the refunds waiting to be
// settled, earliest first.
type scheduler struct {
	mu    sync.Mutex
	queue dueQueue
	// wake tells the loop the earliest due time may have changed; one pending signal is enough.
	wake chan struct{}
}

func newScheduler() *scheduler { return &scheduler{wake: make(chan struct{}, 1)} }

// add schedules an attempt of eventID at time at. It never blocks, so it may be called with the
// store lock held and after Close.
func (s *scheduler) add(eventID string, at time.Time) {
	s.push(dueItem{at: at, id: eventID})
}

// addSettle schedules the automatic settlement of a pending refund at time at.
func (s *scheduler) addSettle(refundID string, at time.Time) {
	s.push(dueItem{at: at, id: refundID, settle: true})
}

func (s *scheduler) push(it dueItem) {
	s.mu.Lock()
	heap.Push(&s.queue, it)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// popDue removes the items due at now and returns them with the next due time (zero if none).
func (s *scheduler) popDue(now time.Time) (due []dueItem, next time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.queue.Len() > 0 && !s.queue[0].at.After(now) {
		due = append(due, heap.Pop(&s.queue).(dueItem))
	}
	if s.queue.Len() > 0 {
		next = s.queue[0].at
	}
	return due, next
}

// startDelivery schedules the pending deliveries and refund settlements (restored from the
// state file, if any) and starts the scheduling loop and the bounded pool of workers. Close
// stops all of them.
func (g *Gateway) startDelivery() {
	g.mu.Lock()
	for _, d := range g.deliveries {
		if d.pending() {
			g.sched.add(d.EventID, d.NextAttemptAt)
		}
	}
	for _, id := range g.refundOrder {
		if rf := g.refunds[id]; rf.Status == RefundPending && !rf.SettleAt.IsZero() {
			g.sched.addSettle(id, rf.SettleAt)
		}
	}
	g.mu.Unlock()
	work := make(chan dueItem)
	g.workers.Go(func() { g.runScheduler(g.ctx, work) })
	for range g.opts.Workers {
		g.workers.Go(func() {
			for {
				select {
				case <-g.ctx.Done():
					return
				case it := <-work:
					if it.settle {
						g.settleDue(it.id)
					} else {
						g.attempt(g.ctx, it.id)
					}
				}
			}
		})
	}
}

// runScheduler hands due deliveries and refund settlements to the workers, deliveries through
// the reorder buffer when Options.Reorder is set (settlements are not notifications: they are
// never held back). Handing over blocks while every worker is busy: that is the pool's bound,
// and due items simply wait in the queue meanwhile.
func (g *Gateway) runScheduler(ctx context.Context, work chan<- dueItem) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var (
		buffer []dueItem
		flush  <-chan time.Time
	)
	dispatch := func(items []dueItem) bool {
		for _, it := range items {
			select {
			case work <- it:
			case <-ctx.Done():
				return false
			}
		}
		return true
	}
	for {
		due, next := g.sched.popDue(time.Now())
		if g.opts.Reorder {
			var settle []dueItem
			for _, it := range due {
				if it.settle {
					settle = append(settle, it)
					continue
				}
				if len(buffer) == 0 {
					flush = time.After(g.opts.ReorderWindow)
				}
				buffer = append(buffer, it)
			}
			if !dispatch(settle) {
				return
			}
		} else if !dispatch(due) {
			return
		}
		if next.IsZero() {
			timer.Stop()
		} else {
			timer.Reset(time.Until(next))
		}
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-g.sched.wake:
		case <-timer.C:
		case <-flush:
			g.chaos.shuffle(buffer)
			if !dispatch(buffer) {
				return
			}
			buffer, flush = nil, nil
		}
	}
}

// dueItem is a delivery's next attempt (id is the event id) or, with settle, a refund's
// automatic settlement (id is the refund id).
type dueItem struct {
	at     time.Time
	id     string
	settle bool
}

// dueQueue is a min-heap of dueItem by time.
type dueQueue []dueItem

func (q dueQueue) Len() int           { return len(q) }
func (q dueQueue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q dueQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *dueQueue) Push(x any)        { *q = append(*q, x.(dueItem)) }
func (q *dueQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}
