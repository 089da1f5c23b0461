package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// TransitionEventsDropped counts Normal transition Events not written because more were waiting
// than the queue holds; status.history keeps every transition regardless.
var TransitionEventsDropped = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "kubepay_transition_events_dropped_total",
	Help: "Normal transition Events dropped because the write queue was full (status.history records every transition).",
})

func init() {
	ctrlmetrics.Registry.MustRegister(TransitionEventsDropped)
}
