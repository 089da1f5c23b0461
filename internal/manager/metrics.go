package manager

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/kubepay/kubepay/internal/metrics"
)

// stateMetrics serves kubepay's state gauges (metrics.State) from the manager's cache while this
// replica is the leader.
//
// Leader only, for two reasons. The leader's controllers already watch PaymentOrders,
// PaymentRefunds and PaymentProviders, so its cache holds them and a scrape costs no API call; a
// follower's cache may lack some of them, and listing there would start new informers. And two
// replicas reporting the same orders would double every sum an alert takes.
type stateMetrics struct {
	state *metrics.State
}

// addStateMetrics adds the state gauges to mgr; now is their clock (nil: time.Now).
func addStateMetrics(mgr ctrl.Manager, now func() time.Time) error {
	if err := mgr.Add(&stateMetrics{state: metrics.NewState(mgr.GetCache(), now)}); err != nil {
		return fmt.Errorf("adding the state metrics: %w", err)
	}
	return nil
}

// NeedLeaderElection makes it run on the leader only.
func (*stateMetrics) NeedLeaderElection() bool { return true }

// Start registers the gauges on controller-runtime's registry, which the metrics server serves,
// and unregisters them when the manager stops.
func (s *stateMetrics) Start(ctx context.Context) error {
	if err := ctrlmetrics.Registry.Register(s.state); err != nil {
		if are := (prometheus.AlreadyRegisteredError{}); errors.As(err, &are) {
			// Another manager in this process (tests start several) already serves them from
			// its cache; the registry is per process, so one set of gauges is all it can hold.
			ctrl.Log.WithName("metrics").V(1).Info("state gauges already registered by another manager in this process")
			return nil
		}
		return fmt.Errorf("registering the state metrics: %w", err)
	}
	<-ctx.Done()
	ctrlmetrics.Registry.Unregister(s.state)
	return nil
}
