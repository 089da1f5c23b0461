package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/metrics"
)

// writeStatus writes the status once, only when it changed, with the read resourceVersion as an
// optimistic lock; Events and metrics follow the committed write only.
func (s *orderSync) writeStatus(ctx context.Context) error {
	s.status.ObservedGeneration = s.order.Generation
	if equality.Semantic.DeepEqual(s.status, s.order.Status) {
		s.emit()
		return nil
	}
	before := s.order.Status
	s.order.Status = s.status
	if err := s.r.Client.Status().Update(ctx, s.order); err != nil {
		s.order.Status = before
		return err
	}
	s.emit()
	return nil
}

// emit records the committed transitions: one metric sample each, and one Event for the
// reconcile naming the whole path ("(new) -> Pending -> AwaitingPayment"). Events are API writes
// like the status itself; one per transition doubled the create path's writes for no reader's
// benefit, since history keeps every step.
func (s *orderSync) emit() {
	if n := len(s.applied); n > 0 {
		path := phaseOrNone(s.applied[0].From)
		for _, t := range s.applied {
			metrics.OrderTransitions.WithLabelValues(string(t.From), string(t.To)).Inc()
			path += " -> " + string(t.To)
		}
		last := s.applied[n-1]
		typ := corev1.EventTypeNormal
		if last.To == v1.PhaseFailed {
			typ = corev1.EventTypeWarning
		}
		s.r.Recorder.Eventf(s.order, nil, typ, last.Reason, "Transition", "%s (source %s, outTradeNo %s)", path, last.Source, s.status.OutTradeNo)
	}
	for _, w := range s.warnings {
		s.r.Recorder.Eventf(s.order, nil, corev1.EventTypeWarning, w.reason, "Reconcile", "%s", w.message)
	}
	s.applied, s.warnings = nil, nil
}
