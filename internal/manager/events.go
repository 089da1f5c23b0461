package manager

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
)

// withoutNormalTransitions drops the Normal Events that only repeat a transition status.history
// already records (Created, AwaitingPayment, Paid...): each is an API write, as expensive as the
// status write itself. Warnings, and every other Event, pass.
type withoutNormalTransitions struct{ events.EventRecorder }

func (r withoutNormalTransitions) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	if eventtype == corev1.EventTypeNormal && action == v1.ActionTransition {
		return
	}
	r.EventRecorder.Eventf(regarding, related, eventtype, reason, action, note, args...)
}

// withEventPolicy is the manager's recorder, with Normal transition Events dropped when
// opts.NoTransitionEvents is set.
func withEventPolicy(opts Options, rec events.EventRecorder) events.EventRecorder {
	if opts.NoTransitionEvents {
		return withoutNormalTransitions{rec}
	}
	return rec
}
