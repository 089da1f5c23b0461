package gateway

import (
	"math/rand/v2"
	"sync"
	"time"
)

// chaos makes the gateway's deliberate misbehaviour repeatable: every random choice comes from
// one RNG seeded with Options.Seed.
type chaos struct {
	dropFirst int
	dropRatio float64
	delayBase time.Duration

	mu  sync.Mutex
	rng *rand.Rand
}

func newChaos(o Options) *chaos {
	return &chaos{
		dropFirst: o.DropFirst,
		dropRatio: o.DropRatio,
		delayBase: o.Delay,
		// The second PCG word is a fixed constant so that one Seed names one sequence.
		rng: rand.New(rand.NewPCG(uint64(o.Seed), 0x6b75626570617921)),
	}
}

// chooseDrop decides, once per delivery, whether its first attempts are dropped.
func (c *chaos) chooseDrop() bool {
	if c.dropFirst == 0 {
		return false
	}
	if c.dropRatio >= 1 {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rng.Float64() < c.dropRatio
}

// delay is the extra wait before an attempt: Delay plus a jitter in [0, Delay].
func (c *chaos) delay() time.Duration {
	if c.delayBase <= 0 {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.delayBase + time.Duration(c.rng.Int64N(int64(c.delayBase)+1))
}

// shuffle puts due deliveries in random order (Options.Reorder).
func (c *chaos) shuffle(ids []dueItem) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
}
