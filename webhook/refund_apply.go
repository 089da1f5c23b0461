package webhook

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/resolver"
	"github.com/kubepay/kubepay/internal/settle"
	"github.com/kubepay/kubepay/internal/statemachine"
	"github.com/kubepay/kubepay/providers"
)

// applyRefund records a verified refund notification on its PaymentRefund exactly once, with the
// same rules as payments: one refund's notifications at a time on this replica, the write carries
// the read resourceVersion, and a conflict re-reads and decides again. The refund controller then
// counts the result on the order; the callback server only patches the refund.
func (s *Server) applyRefund(ctx context.Context, rp *resolver.Resolved, n providers.Notification) (string, error) {
	key := rp.Spec.Namespace + "/refund/" + n.Refund.OutRefundNo
	release := s.inflight().lock(key)
	defer release()
	recordedKey := key + "/" + n.ID
	if s.inflight().recent.has(recordedKey) {
		return ResultDuplicate, nil
	}
	ref, err := s.findRefund(ctx, rp, n.Refund.OutRefundNo)
	if err != nil {
		if errors.Is(err, errUnknownRefund) {
			return ResultUnknownOrder, err
		}
		if errors.Is(err, errMismatch) {
			return ResultRejectedMismatch, err
		}
		return ResultError, err
	}
	uid := ref.UID
	for attempt := 0; ; attempt++ {
		result, err := s.decideRefund(ctx, ref, n)
		if !apierrors.IsConflict(err) {
			if err == nil && (result == ResultApplied || result == ResultDuplicate) {
				s.inflight().recent.add(recordedKey)
			}
			return result, err
		}
		if attempt >= maxConflictRetries {
			return ResultError, fmt.Errorf("PaymentRefund %s/%s: still conflicting after %d re-reads: %w", ref.Namespace, ref.Name, attempt, err)
		}
		fresh := &v1.PaymentRefund{}
		if err := s.APIReader.Get(ctx, client.ObjectKeyFromObject(ref), fresh); err != nil {
			return ResultError, fmt.Errorf("re-reading PaymentRefund %s/%s after a conflict: %w", ref.Namespace, ref.Name, err)
		}
		if fresh.UID != uid || fresh.Status.OutRefundNo != n.Refund.OutRefundNo {
			// Deleted and re-created meanwhile: this notification is not about the new object.
			return ResultUnknownOrder, fmt.Errorf("%w: PaymentRefund %s/%s was re-created while notification %s was applied", errUnknownRefund, ref.Namespace, ref.Name, n.ID)
		}
		ref = fresh
	}
}

// decideRefund runs the checks and the refund state machine on one version of the refund and
// writes the result with that version's resourceVersion.
func (s *Server) decideRefund(ctx context.Context, ref *v1.PaymentRefund, n providers.Notification) (string, error) {
	emit := settle.Emitter{Recorder: s.Recorder}
	ev, act, err := settle.DecideRefund(ref, settle.FromRefundNotification(n), s.now())
	var mismatch *settle.MismatchError
	if errors.As(err, &mismatch) {
		emit.Warning(ref, v1.ReasonNotificationRejected, v1.ActionNotification, fmt.Sprintf("notification %s rejected: %s", n.ID, mismatch.Why))
		return ResultRejectedMismatch, err
	}
	if !act {
		return ResultIgnored, nil
	}
	next, changed, err := statemachine.NextRefund(ref.Status, ev)
	if err != nil {
		return ResultError, fmt.Errorf("PaymentRefund %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	fact := settle.FromRefundNotification(n)
	next = *next.DeepCopy() // NextRefund returns the status itself when nothing changed
	stuck := settle.NoteStuckRefund(&next, fact, ref.Generation, s.now())
	if !changed && !stuck {
		return ResultDuplicate, nil
	}
	next.ObservedGeneration = ref.Status.ObservedGeneration
	settle.RefundHealth(&next, ref.Generation, s.now())
	updated := ref.DeepCopy()
	updated.Status = next
	if err := s.Client.Status().Update(ctx, updated); err != nil {
		return ResultError, err
	}
	if changed {
		emit.EmitRefund(updated, next.History[len(next.History)-1:])
	}
	if stuck {
		emit.Warning(updated, v1.ReasonRefundAbnormal, v1.ActionNotification, fact.FailureReason)
	}
	return ResultApplied, nil
}
