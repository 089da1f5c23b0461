package gateway

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// scheduler holds the deliveries waiting for their next attempt, earliest first.
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
	s.mu.Lock()
	heap.Push(&s.queue, dueItem{at: at, eventID: eventID})
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// popDue removes the items due at now and returns them with the next due time (zero if none).
func (s *scheduler) popDue(now time.Time) (due []string, next time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.queue.Len() > 0 && !s.queue[0].at.After(now) {
		due = append(due, heap.Pop(&s.queue).(dueItem).eventID)
	}
	if s.queue.Len() > 0 {
		next = s.queue[0].at
	}
	return due, next
}

// startDelivery schedules the pending deliveries (restored from the state file, if any) and
// starts the scheduling loop and the bounded pool of workers. Close stops all of them.
func (g *Gateway) startDelivery() {
	g.mu.Lock()
	for _, d := range g.deliveries {
		if d.pending() {
			g.sched.add(d.EventID, d.NextAttemptAt)
		}
	}
	g.mu.Unlock()
	work := make(chan string)
	g.workers.Go(func() { g.runScheduler(g.ctx, work) })
	for range g.opts.Workers {
		g.workers.Go(func() {
			for {
				select {
				case <-g.ctx.Done():
					return
				case id := <-work:
					g.attempt(g.ctx, id)
				}
			}
		})
	}
}

// runScheduler hands due deliveries to the workers, through the reorder buffer when
// Options.Reorder is set. Handing over blocks while every worker is busy: that is the pool's
// bound, and due items simply wait in the queue meanwhile.
func (g *Gateway) runScheduler(ctx context.Context, work chan<- string) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var (
		buffer []string
		flush  <-chan time.Time
	)
	dispatch := func(ids []string) bool {
		for _, id := range ids {
			select {
			case work <- id:
			case <-ctx.Done():
				return false
			}
		}
		return true
	}
	for {
		due, next := g.sched.popDue(time.Now())
		if g.opts.Reorder {
			if len(buffer) == 0 && len(due) > 0 {
				flush = time.After(g.opts.ReorderWindow)
			}
			buffer = append(buffer, due...)
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

type dueItem struct {
	at      time.Time
	eventID string
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
