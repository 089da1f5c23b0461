package controllers

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubepay/kubepay/internal/shard"
)

// DefaultHousekeepingInterval is how often the housekeeper runs: retention needs no precision
// finer than this, and a claim left by a deleted order blocks nothing but its own number.
const DefaultHousekeepingInterval = 5 * time.Minute

// Housekeeper is the leader's periodic work on what no watch brings back: settled orders (not
// cached) past their provider's retention, and the claims of ClusterPaymentProviders, which live
// in the manager's namespace where no owner reference can delete them with their orders. It reads
// around the cache, a page at a time.
type Housekeeper struct {
	Client client.Client
	// APIReader lists settled orders and claims, which the cache does not hold.
	APIReader        client.Reader
	Recorder         events.EventRecorder
	ClusterNamespace string
	// Share is this install's part of the cluster; what is read around the cache outside it is
	// another install's.
	Share shard.Share
	Log   logr.Logger
	// Interval overrides DefaultHousekeepingInterval.
	Interval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// NeedLeaderElection is true: one replica deletes, not all of them.
func (h *Housekeeper) NeedLeaderElection() bool { return true }

// Start runs the housekeeping until ctx ends, once at start and then every Interval.
func (h *Housekeeper) Start(ctx context.Context) error {
	interval := h.Interval
	if interval <= 0 {
		interval = DefaultHousekeepingInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		h.RunOnce(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// RunOnce does one round; errors are logged and retried next round.
func (h *Housekeeper) RunOnce(ctx context.Context) {
	if err := h.sweepClaims(ctx); err != nil {
		h.Log.Error(err, "sweeping cluster provider claims; next round retries")
	}
	if err := h.retain(ctx); err != nil {
		h.Log.Error(err, "deleting settled orders past retention; next round retries")
	}
}

func (h *Housekeeper) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}
