package webhook

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
)

// capture collects a logger's lines.
type capture struct {
	mu    sync.Mutex
	lines []string
}

func (c *capture) write(_, args string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, args)
}

func (c *capture) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.lines
	c.lines = nil
	return out
}

var countRE = regexp.MustCompile(`"count"=(\d+)`)

// TestRefusalLogBounded: 30,000 refusals from 1,000 sources within one interval make no line
// until the interval ends, then one line per reason and answer, whose counts add up to every
// refusal and which name the busiest source; an interval without refusals writes nothing.
func TestRefusalLogBounded(t *testing.T) {
	c := &capture{}
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	l := newRefusalLog(funcr.New(c.write, funcr.Options{}), 10*time.Second, clock)

	reasons := []struct {
		reason string
		status int
	}{{"verification failed", 429}, {"provider unavailable", 429}, {"verification saturated", 503}}
	var wg sync.WaitGroup
	for i := range 30000 {
		r := reasons[i%len(reasons)]
		source := fmt.Sprintf("198.51.100.%d/32", i%1000/4) // 250 sources...
		if i%2 == 0 {
			source = "192.0.2.66/32" // ...and one that sends half of everything
		}
		wg.Go(func() { l.note(r.reason, r.status, source) })
	}
	wg.Wait()
	if lines := c.take(); len(lines) != 0 {
		t.Fatalf("%d lines logged within the interval, want none until it ends: %q", len(lines), lines[0])
	}

	advance(10 * time.Second)
	l.note("verification failed", 429, "203.0.113.1/32") // the first refusal of the next interval
	lines := c.take()
	if len(lines) != len(reasons) {
		t.Fatalf("%d lines for 30,000 refusals of %d reasons, want one per reason:\n%s", len(lines), len(reasons), strings.Join(lines, "\n"))
	}
	total := 0
	for _, line := range lines {
		m := countRE.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("line without a count: %s", line)
		}
		n, _ := strconv.Atoi(m[1])
		total += n
		if !strings.Contains(line, `"busiestSource"="192.0.2.66/32"`) || !strings.Contains(line, `"sources"="more than 64"`) {
			t.Errorf("line does not name the busiest source, or claims to know every source of 251: %s", line)
		}
	}
	if total != 30000 {
		t.Errorf("aggregated counts add up to %d, want every one of the 30000 refusals", total)
	}

	// The next interval's single refusal is reported when it ends (run's tick, or shutdown)...
	advance(10 * time.Second)
	l.flush()
	if lines := c.take(); len(lines) != 1 || !strings.Contains(lines[0], `"count"=1`) || !strings.Contains(lines[0], `"busiestSource"="203.0.113.1/32"`) {
		t.Errorf("second interval logged %q, want one line counting 1 from 203.0.113.1/32", lines)
	}
	// ...and a quiet interval writes nothing.
	advance(time.Minute)
	l.flush()
	if lines := c.take(); len(lines) != 0 {
		t.Errorf("a quiet interval logged %q, want nothing", lines)
	}
}

// TestRefusalLogRunFlushesOnStop: the tail of a flood is logged when the server stops.
func TestRefusalLogRunFlushesOnStop(t *testing.T) {
	c := &capture{}
	l := newRefusalLog(funcr.New(c.write, funcr.Options{}), time.Hour, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.run(ctx); close(done) }()
	l.note("verification failed", 429, "192.0.2.1/32")
	cancel()
	<-done
	if lines := c.take(); len(lines) != 1 {
		t.Errorf("stopping logged %q, want the pending aggregate line", lines)
	}
}
