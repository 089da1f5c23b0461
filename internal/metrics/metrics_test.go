package metrics_test

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/kubepay/kubepay/internal/metrics"
)

// TestCollectorsAreRegistered checks that Collectors lists exactly what the manager serves from
// controller-runtime's registry: test/rules judges the alerts and dashboard by this list, so a
// metric left out of it, or listed but never registered, would make that check wrong.
func TestCollectorsAreRegistered(t *testing.T) {
	for _, c := range metrics.Collectors() {
		err := ctrlmetrics.Registry.Register(c)
		var are prometheus.AlreadyRegisteredError
		switch {
		case err == nil:
			ctrlmetrics.Registry.Unregister(c)
			t.Errorf("%T listed by Collectors was not registered on controller-runtime's registry: the manager would not serve it", c)
		case !errors.As(err, &are) || are.ExistingCollector != c:
			t.Errorf("registering %T listed by Collectors again: %v; want it already registered as itself", c, err)
		}
	}
}
