package webhook

import (
	"context"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// DefaultRefusalLogInterval is how often aggregated refusals are logged: at most one line per
// reason per interval, however many requests were refused.
const DefaultRefusalLogInterval = 10 * time.Second

// maxRefusalSources bounds the sources remembered per reason within an interval; the rest are
// counted, not named.
const maxRefusalSources = 64

// refusalLog logs refusals that must not be logged one by one: anything a sender can repeat at
// will (a saturated server, a spent failure budget). One line per interval per reason and answer
// carries the count, how many sources sent them and the busiest source, so an operator still
// sees who floods and how much, while a flood of any size costs a few lines.
type refusalLog struct {
	log      logr.Logger
	interval time.Duration
	now      func() time.Time

	mu     sync.Mutex
	since  time.Time
	counts map[refusalKey]*refusalCount
}

type refusalKey struct {
	reason string
	status int
}

type refusalCount struct {
	n       int
	sources map[string]int
	// unnamed counts refusals from sources beyond maxRefusalSources.
	unnamed int
}

func newRefusalLog(log logr.Logger, interval time.Duration, now func() time.Time) *refusalLog {
	if interval <= 0 {
		interval = DefaultRefusalLogInterval
	}
	if now == nil {
		now = time.Now
	}
	return &refusalLog{log: log, interval: interval, now: now, since: now(), counts: map[refusalKey]*refusalCount{}}
}

// note counts one refusal. It writes the previous interval's lines first when the interval is
// over, so a steady flood is reported on time even without run.
func (l *refusalLog) note(reason string, status int, source string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.since) >= l.interval {
		l.flushLocked(now)
	}
	k := refusalKey{reason, status}
	c := l.counts[k]
	if c == nil {
		c = &refusalCount{sources: map[string]int{}}
		l.counts[k] = c
	}
	c.n++
	if _, known := c.sources[source]; known || len(c.sources) < maxRefusalSources {
		c.sources[source]++
	} else {
		c.unnamed++
	}
}

// run writes the last interval's lines every interval until ctx ends, and once more then, so the
// tail of a flood that stopped is reported too.
func (l *refusalLog) run(ctx context.Context) {
	t := time.NewTicker(l.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			l.flush()
			return
		case <-t.C:
			l.mu.Lock()
			if now := l.now(); now.Sub(l.since) >= l.interval {
				l.flushLocked(now)
			}
			l.mu.Unlock()
		}
	}
}

// flush writes what was counted since the last lines, whatever the time.
func (l *refusalLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked(l.now())
}

func (l *refusalLog) flushLocked(now time.Time) {
	keys := make([]refusalKey, 0, len(l.counts))
	for k := range l.counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].reason != keys[j].reason {
			return keys[i].reason < keys[j].reason
		}
		return keys[i].status < keys[j].status
	})
	for _, k := range keys {
		c := l.counts[k]
		top, topN := "", 0
		for src, n := range c.sources {
			if n > topN || (n == topN && src < top) {
				top, topN = src, n
			}
		}
		sources := any(len(c.sources))
		if c.unnamed > 0 {
			sources = "more than " + strconv.Itoa(maxRefusalSources)
		}
		l.log.Info("notifications refused (aggregated)", "reason", k.reason, "answer", k.status, "count", c.n,
			"sources", sources, "busiestSource", top, "busiestSourceCount", topN, "over", now.Sub(l.since).Round(time.Millisecond).String())
	}
	clear(l.counts)
	l.since = now
}
