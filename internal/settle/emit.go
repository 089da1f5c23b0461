package settle

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/metrics"
)

// Emitter tells the world about committed transitions: one metric sample per transition and one
// Kubernetes Event per status write. It is called only after the write that made them true.
type Emitter struct {
	Recorder events.EventRecorder
}

// Transitions records the transitions one status write committed on order. The single Event
// names the whole path ("(new) -> Pending -> AwaitingPayment"): Events are API writes like the
// status itself, and history keeps every step for whoever needs them one by one.
func (e Emitter) Transitions(order *v1.PaymentOrder, ts []v1.Transition) {
	if len(ts) == 0 {
		return
	}
	var path strings.Builder
	path.WriteString(phaseOrNew(ts[0].From))
	for _, t := range ts {
		if t.Reason == v1.ReasonLatePayment {
			metrics.LatePayments.WithLabelValues(string(t.From)).Inc()
		} else {
			metrics.OrderTransitions.WithLabelValues(string(t.From), string(t.To)).Inc()
		}
		path.WriteString(" -> ")
		path.WriteString(string(t.To))
	}
	last := ts[len(ts)-1]
	typ := corev1.EventTypeNormal
	if last.To == v1.PhaseFailed || last.Reason == v1.ReasonLatePayment {
		// A failed payment may need a word with the customer; a late one needs a refund.
		typ = corev1.EventTypeWarning
	}
	via := "source " + string(last.Source)
	if last.NotificationID != "" {
		via += ", notification " + last.NotificationID
	}
	what := path.String()
	if len(ts) == 1 && last.Reason == v1.ReasonLatePayment {
		what = "late payment recorded on this " + string(last.To) + " order; it must be given back"
	}
	e.Recorder.Eventf(order, nil, typ, last.Reason, v1.ActionTransition, "%s (%s, outTradeNo %s)", what, via, order.Status.OutTradeNo)
}

// Warning records something a person should look at. message must not carry secrets.
func (e Emitter) Warning(obj runtime.Object, reason, action, message string) {
	e.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, reason, action, "%s", message)
}

// Normal records something worth knowing that needs no action.
func (e Emitter) Normal(obj runtime.Object, reason, action, message string) {
	e.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, reason, action, "%s", message)
}

func phaseOrNew(p v1.Phase) string {
	if p == "" {
		return "(new)"
	}
	return string(p)
}
