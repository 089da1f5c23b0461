package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/settle"
)

// writeStatus writes the status once, only when it changed, with the read resourceVersion as an
// optimistic lock; Events and metrics follow the committed write only.
func (s *orderSync) writeStatus(ctx context.Context) error {
	s.status.ObservedGeneration = s.order.Generation
	settle.OrderHealth(s.order, &s.status, s.now)
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

// emit tells of what this reconcile committed: its transitions (one Event naming the path, one
// metric sample each) and its warnings.
func (s *orderSync) emit() {
	e := settle.Emitter{Recorder: s.r.Recorder}
	e.Transitions(s.order, s.applied)
	for _, w := range s.warnings {
		e.Warning(s.order, w.reason, v1.ActionReconcile, w.message)
	}
	s.applied, s.warnings = nil, nil
}
