package controllers

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/settle"
	"github.com/kubepay/kubepay/internal/statemachine"
)

// The order's status is the ledger of its refunds: a reservation is written there, with the
// order's resourceVersion, before the provider is asked, and a settled refund is counted there
// (committed) or its reservation released. Every write re-decides on a fresh read after a
// conflict, so refunds created at the same moment anywhere can never together exceed the paid
// amount, and each is counted once.

// maxBookingConflicts bounds re-reads within one reconcile; past it the rate limiter takes over.
const maxBookingConflicts = 5

// reserve sets the refund's amount aside on the order and returns the order as written.
func (r *PaymentRefundReconciler) reserve(ctx context.Context, order *v1.PaymentOrder, ref *v1.PaymentRefund, st v1.PaymentRefundStatus) (*v1.PaymentOrder, error) {
	res := v1.RefundReservation{Name: ref.Name, OutRefundNo: st.OutRefundNo, AmountMinor: st.AmountMinor, LatePaymentID: ref.Spec.LatePaymentID}
	var written *v1.PaymentOrder
	reserve := func(o *v1.PaymentOrder) (v1.PaymentOrderStatus, bool, error) {
		next, err := statemachine.Reserve(o.Status, res, o.Spec.Currency)
		return next, err == nil && !equality.Semantic.DeepEqual(next, o.Status), err
	}
	err := r.updateOrder(ctx, order, reserve, func(o *v1.PaymentOrder) { written = o })
	if errors.Is(err, statemachine.ErrOrderNotPaid) {
		// A refusal for good must not rest on a cache that may not have seen the payment yet:
		// decide again on the API server's version.
		fresh := &v1.PaymentOrder{}
		if gerr := r.APIReader.Get(ctx, client.ObjectKeyFromObject(order), fresh); gerr != nil {
			return nil, fmt.Errorf("re-reading PaymentOrder %s/%s before refusing its refund: %w", order.Namespace, order.Name, gerr)
		}
		err = r.updateOrder(ctx, fresh, reserve, func(o *v1.PaymentOrder) { written = o })
	}
	if err != nil {
		return nil, err
	}
	// A reserved order is not settled any more: the reservation's write cleared status.settled,
	// bringing it back into the cache; its finalizer (missing on orders settled by an older
	// kubepay) makes its deletion wait for the refund.
	return written, settle.Reopen(ctx, r.Client, r.APIReader, written)
}

// book counts a settled refund on its order: a success is committed (refundedAmount, phase, the
// late payment it gave back), a failure's reservation released. Idempotent.
func (r *PaymentRefundReconciler) book(ctx context.Context, ref *v1.PaymentRefund) error {
	order := &v1.PaymentOrder{}
	if err := settle.GetOrder(ctx, r.Client, r.APIReader, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Spec.OrderRef.Name}, order); err != nil {
		return client.IgnoreNotFound(err)
	}
	now := r.now()
	return r.updateOrder(ctx, order, func(o *v1.PaymentOrder) (v1.PaymentOrderStatus, bool, error) {
		if ref.Status.Phase == v1.RefundFailed {
			next := statemachine.Release(o.Status, ref.Name)
			return next, !equality.Semantic.DeepEqual(next, o.Status), nil
		}
		next, changed, err := statemachine.CommitRefund(o.Status, ref.Name, o.Spec.Currency, now, v1.SourceController)
		if errors.Is(err, statemachine.ErrInvalidEvent) {
			// Succeeded without a reservation cannot happen through this controller; say so
			// rather than count money the ledger never set aside.
			settle.Emitter{Recorder: r.Recorder}.Warning(ref, v1.ReasonIrreconcilable, v1.ActionReconcile, err.Error())
			return o.Status, false, nil
		}
		return next, changed, err
	}, nil)
}

// updateOrder applies change to the order's status and writes it with the order's
// resourceVersion, re-reading from the API server and deciding again after a conflict. Phase
// transitions it makes are told as Events on the order; written, when set, gets the result.
func (r *PaymentRefundReconciler) updateOrder(ctx context.Context, order *v1.PaymentOrder,
	change func(*v1.PaymentOrder) (v1.PaymentOrderStatus, bool, error), written func(*v1.PaymentOrder)) error {
	for attempt := 0; ; attempt++ {
		next, changed, err := change(order)
		if err != nil {
			return err
		}
		if !changed {
			if written != nil {
				written(order)
			}
			return nil
		}
		settle.OrderHealth(order, &next, r.now())
		updated := order.DeepCopy()
		updated.Status = next
		err = r.Client.Status().Update(ctx, updated)
		if err == nil {
			if n := len(next.History); n > len(order.Status.History) {
				settle.Emitter{Recorder: r.Recorder}.Transitions(updated, next.History[n-1:])
			}
			if written != nil {
				written(updated)
			}
			return nil
		}
		if !apierrors.IsConflict(err) || attempt >= maxBookingConflicts {
			return fmt.Errorf("writing the refund ledger of PaymentOrder %s/%s: %w", order.Namespace, order.Name, err)
		}
		fresh := &v1.PaymentOrder{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(order), fresh); err != nil {
			return fmt.Errorf("re-reading PaymentOrder %s/%s after a conflict: %w", order.Namespace, order.Name, err)
		}
		if fresh.UID != order.UID {
			return fmt.Errorf("PaymentOrder %s/%s was re-created while its refund was booked", order.Namespace, order.Name)
		}
		order = fresh
	}
}

// finalizeRefund lets a deleted refund go only when nothing of it is in flight: a refund the
// provider may have received is followed to its result and counted on the order first.
func (r *PaymentRefundReconciler) finalizeRefund(ctx context.Context, ref *v1.PaymentRefund) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(ref, v1.Finalizer) {
		return ctrl.Result{}, nil
	}
	inFlight := !ref.Status.Phase.Terminal()
	if ref.Status.Phase == "" {
		// Never accepted, unless the status write after reserving and asking was lost: the
		// order's ledger says.
		inFlight = r.reservedOnOrder(ctx, ref)
	}
	if inFlight {
		return r.sync(ctx, ref)
	}
	if ref.Status.Phase.Terminal() {
		if err := r.book(ctx, ref); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := r.releaseClaim(ctx, ref); err != nil {
		return ctrl.Result{}, err
	}
	patch := client.MergeFromWithOptions(ref.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(ref, v1.Finalizer)
	if err := r.Client.Patch(ctx, ref, patch); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("removing finalizer of PaymentRefund %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	r.queries.forget(ref.UID)
	return ctrl.Result{}, nil
}

// releaseClaim deletes the refund number's claim when it lives apart from the refund (a
// ClusterPaymentProvider's): owned claims go with their owner.
func (r *PaymentRefundReconciler) releaseClaim(ctx context.Context, ref *v1.PaymentRefund) error {
	order := &v1.PaymentOrder{}
	if err := settle.GetOrder(ctx, r.Client, r.APIReader, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Spec.OrderRef.Name}, order); err != nil {
		return client.IgnoreNotFound(err)
	}
	return claimer{r.Client, r.APIReader}.release(ctx, claimOutRefundNo, scopeOf(order, r.ClusterNamespace), ref.Status.OutRefundNo, string(ref.UID))
}

func (r *PaymentRefundReconciler) reservedOnOrder(ctx context.Context, ref *v1.PaymentRefund) bool {
	order := &v1.PaymentOrder{}
	if err := settle.GetOrder(ctx, r.Client, r.APIReader, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Spec.OrderRef.Name}, order); err != nil {
		return false
	}
	for _, res := range order.Status.Refunds {
		if res.Name == ref.Name && res.State == v1.RefundReserved {
			return true
		}
	}
	return false
}
