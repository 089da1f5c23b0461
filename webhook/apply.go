package webhook

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/resolver"
	"github.com/kubepay/kubepay/internal/settle"
	"github.com/kubepay/kubepay/internal/statemachine"
	"github.com/kubepay/kubepay/providers"
)

// maxConflictRetries bounds re-decisions after optimistic-lock conflicts within one delivery;
// past it the provider's retry takes over.
const maxConflictRetries = 5

// apply records a verified notification on its order exactly once and returns the metric result.
// The write carries the read resourceVersion; on a conflict the order is re-read from the API
// server (the cache may be behind) and the state machine decides again, so of N concurrent
// deliveries on any number of replicas exactly one writes and the others find a duplicate. The
// re-read must be the same object (see sameOrder), or nothing is written.
func (s *Server) apply(ctx context.Context, rp *resolver.Resolved, n providers.Notification) (string, error) {
	// One notification of an order at a time on this replica; a copy of one this replica just
	// recorded is answered without touching the API server (see inflight).
	key := rp.Spec.Namespace + "/" + n.OutTradeNo
	release := s.inflight().lock(key)
	defer release()
	recordedKey := key + "/" + n.ID
	if s.inflight().recent.has(recordedKey) {
		return ResultDuplicate, nil
	}
	result, err := s.applyLocked(ctx, rp, n)
	if err == nil && (result == ResultApplied || result == ResultDuplicate || result == ResultLatePayment) {
		s.inflight().recent.add(recordedKey)
	}
	return result, err
}

func (s *Server) applyLocked(ctx context.Context, rp *resolver.Resolved, n providers.Notification) (string, error) {
	order, err := s.findOrder(ctx, rp.Spec, n)
	if err != nil {
		if errors.Is(err, errUnknownOrder) {
			return ResultUnknownOrder, err
		}
		if errors.Is(err, errMismatch) {
			return ResultRejectedMismatch, err
		}
		return ResultError, err
	}
	found := order
	for attempt := 0; ; attempt++ {
		result, err := s.decideAndWrite(ctx, rp, order, n)
		if !apierrors.IsConflict(err) {
			return result, err
		}
		if attempt >= maxConflictRetries {
			return ResultError, fmt.Errorf("PaymentOrder %s/%s: still conflicting after %d re-reads: %w", order.Namespace, order.Name, attempt, err)
		}
		fresh := &v1.PaymentOrder{}
		if err := s.APIReader.Get(ctx, client.ObjectKeyFromObject(order), fresh); err != nil {
			if apierrors.IsNotFound(err) {
				return ResultUnknownOrder, fmt.Errorf("%w: PaymentOrder %s/%s (uid %s, outTradeNo %s) was deleted while notification %s was being recorded",
					errUnknownOrder, found.Namespace, found.Name, found.UID, n.OutTradeNo, n.ID)
			}
			return ResultError, fmt.Errorf("re-reading PaymentOrder %s/%s after a conflict: %w", order.Namespace, order.Name, err)
		}
		if err := sameOrder(found, fresh, n); err != nil {
			return ResultUnknownOrder, err
		}
		order = fresh
	}
}

// sameOrder checks that fresh, re-read by name after a conflict, is still the order the
// notification was matched to. A name is not an identity: the order may have been deleted and
// re-created under the same name meanwhile, with another spec.orderID, hence another out_trade_no
// and another payment. Applying the notification to that object would mark an order paid whose
// customer never paid, so only the same object (UID) still carrying the notification's
// out_trade_no qualifies. Otherwise the delivery is refused as for an unknown order: the provider
// retries, and its next lookup by out_trade_no finds the right order, or none.
func sameOrder(found, fresh *v1.PaymentOrder, n providers.Notification) error {
	if fresh.UID == found.UID && fresh.Status.OutTradeNo == n.OutTradeNo {
		return nil
	}
	return fmt.Errorf("%w: PaymentOrder %s/%s was replaced while notification %s was being recorded (uid %s, outTradeNo %s; now uid %s, outTradeNo %q); not applied to the new object",
		errUnknownOrder, found.Namespace, found.Name, n.ID, found.UID, n.OutTradeNo, fresh.UID, fresh.Status.OutTradeNo)
}

// decideAndWrite runs the checks and the state machine on one version of the order and writes the
// result with that version's resourceVersion.
func (s *Server) decideAndWrite(ctx context.Context, rp *resolver.Resolved, order *v1.PaymentOrder, n providers.Notification) (string, error) {
	now := s.now()
	emit := settle.Emitter{Recorder: s.Recorder}
	ev, act, err := settle.Decide(order, rp.Spec, settle.FromNotification(n), now)
	var mismatch *settle.MismatchError
	if errors.As(err, &mismatch) {
		if err := s.recordRejection(ctx, order, n, mismatch.Why); err != nil {
			return ResultError, err
		}
		return ResultRejectedMismatch, err
	}
	if !act {
		return ResultIgnored, nil
	}
	next, changed, err := statemachine.Next(order.Status, ev)
	if errors.Is(err, statemachine.ErrTooManyLatePayments) {
		// Redelivery cannot make room, so acknowledge; the Event and the metric keep the trace.
		emit.Warning(order, v1.ReasonLatePayment, v1.ActionNotification,
			fmt.Sprintf("notification %s: %v; refund payment %s manually", n.ID, err, n.ProviderPaymentID))
		return ResultLatePayment, nil
	}
	if err != nil {
		return ResultError, fmt.Errorf("PaymentOrder %s/%s: %w", order.Namespace, order.Name, err)
	}
	if !changed {
		// A redelivery also repairs an order whose reopen failed after its status write.
		return ResultDuplicate, settle.Reopen(ctx, s.Client, s.APIReader, order)
	}
	next.ObservedGeneration = order.Status.ObservedGeneration
	settle.NotePaidWhileDeleting(order, &next, now)
	// A notification that matches the order answers any earlier rejection.
	meta.RemoveStatusCondition(&next.Conditions, v1.ConditionNotificationRejected)
	settle.OrderHealth(order, &next, now)
	updated := order.DeepCopy()
	updated.Status = next
	if err := s.Client.Status().Update(ctx, updated); err != nil {
		return ResultError, err
	}
	last := next.History[len(next.History)-1]
	emit.Transitions(updated, []v1.Transition{last})
	// A late payment on a settled order (read from the API server) reopened it in that write
	// (status.settled); an order settled before status.settled existed also needs its finalizer.
	if err := settle.Reopen(ctx, s.Client, s.APIReader, updated); err != nil {
		return ResultError, err
	}
	if last.Reason == v1.ReasonLatePayment {
		return ResultLatePayment, nil
	}
	return ResultApplied, nil
}

// recordRejection sets the NotificationRejected condition and emits an Event, writing only when
// the condition changes so a provider retrying the same bad notification does not cause writes.
func (s *Server) recordRejection(ctx context.Context, order *v1.PaymentOrder, n providers.Notification, why string) error {
	updated := order.DeepCopy()
	changed := meta.SetStatusCondition(&updated.Status.Conditions, metav1.Condition{
		Type: v1.ConditionNotificationRejected, Status: metav1.ConditionTrue, Reason: v1.ReasonNotificationRejected,
		Message: "notification " + n.ID + " rejected: " + why, LastTransitionTime: metav1.NewTime(s.now()),
	})
	if !changed {
		return nil
	}
	settle.OrderHealth(order, &updated.Status, s.now())
	if err := s.Client.Status().Update(ctx, updated); err != nil {
		return err
	}
	settle.Emitter{Recorder: s.Recorder}.Warning(updated, v1.ReasonNotificationRejected, v1.ActionNotification,
		fmt.Sprintf("notification %s rejected: %s", n.ID, why))
	return nil
}
