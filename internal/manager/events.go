package manager

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
)

// withoutNormalTransitions drops the Normal Events that only repeat a transition status.history
// already records (Created, AwaitingPayment, Paid...): one API write fewer per create and per
// notification. Warnings, and every other Event, pass.
type withoutNormalTransitions struct{ events.EventRecorder }

func (r withoutNormalTransitions) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	if eventtype == corev1.EventTypeNormal && action == v1.ActionTransition {
		return
	}
	r.EventRecorder.Eventf(regarding, related, eventtype, reason, action, note, args...)
}

// eventRecorders builds the manager's recorders: the library's, with Normal transition Events
// dropped when opts.NoTransitionEvents is set, else written by one transitionSink
// (transition_events.go), which the manager runs.
type eventRecorders struct {
	mgr  ctrl.Manager
	sink *transitionSink // nil: transition Events off
}

func newEventRecorders(opts Options, mgr ctrl.Manager) (*eventRecorders, error) {
	r := &eventRecorders{mgr: mgr}
	if !opts.NoTransitionEvents {
		// A client of its own, as client-go's events library has: Events must not take the
		// payments' share of the client-side rate limit.
		c, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
		if err != nil {
			return nil, fmt.Errorf("building the transition Event client: %w", err)
		}
		r.sink = newTransitionSink(c, ctrl.Log.WithName("events"))
		if err := mgr.Add(r.sink); err != nil {
			return nil, fmt.Errorf("adding the transition Event writer: %w", err)
		}
	}
	return r, nil
}

// For returns the recorder of one reporting controller.
func (r *eventRecorders) For(controller string) events.EventRecorder {
	rec := r.mgr.GetEventRecorder(controller)
	if r.sink == nil {
		return withoutNormalTransitions{rec}
	}
	return newTransitionRecorder(rec, r.sink, r.mgr.GetScheme(), controller)
}
