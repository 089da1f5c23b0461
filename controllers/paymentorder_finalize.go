package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/resolver"
	"github.com/kubepay/kubepay/internal/settle"
	"github.com/kubepay/kubepay/internal/statemachine"
	"github.com/kubepay/kubepay/providers"
)

// finalize lets a deleted order go only when no money can move unseen: its open payment is closed
// at the provider, or the payment's own expiry has passed. An order whose payment turned out paid,
// or that records a late payment, is kept (Paid, with a condition saying why) until the money is
// refunded or someone releases it by removing the finalizer.
func (r *PaymentOrderReconciler) finalize(ctx context.Context, order *v1.PaymentOrder) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(order, v1.Finalizer) {
		return ctrl.Result{}, nil
	}
	f := &finalizeSync{r: r, order: order, status: *order.Status.DeepCopy(), now: r.now()}
	release, result, err := f.run(ctx)
	if err == nil && release {
		// The object goes: its status is not worth a write (which would also bring it back for
		// a second, needless close before the finalizer is removed). The Events tell.
		f.status = f.order.Status
	}
	if werr := f.writeStatus(ctx); werr != nil {
		if apierrors.IsConflict(werr) {
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		return ctrl.Result{}, fmt.Errorf("writing status of deleted PaymentOrder %s/%s: %w", order.Namespace, order.Name, werr)
	}
	if err != nil || !release {
		return result, err
	}
	if err := (claimer{r.Client, r.APIReader}).release(ctx, claimOutTradeNo, scopeOf(order, r.ClusterNamespace), order.Status.OutTradeNo, string(order.UID)); err != nil {
		return ctrl.Result{}, err
	}
	patch := client.MergeFromWithOptions(order.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(order, v1.Finalizer)
	if err := r.Client.Patch(ctx, order, patch); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("removing finalizer of PaymentOrder %s/%s: %w", order.Namespace, order.Name, err)
	}
	r.queries.forget(order.UID)
	return ctrl.Result{}, nil
}

// finalizeSync is one reconcile's work on a deleted order; like orderSync it changes status in
// memory and writes it once.
type finalizeSync struct {
	r      *PaymentOrderReconciler
	order  *v1.PaymentOrder
	status v1.PaymentOrderStatus
	now    time.Time
	events []warning
	normal []warning
	// applied are the state machine's transitions, emitted after the write.
	applied []v1.Transition
}

// run decides whether the order may go now; when it may not, result says when to look again.
func (f *finalizeSync) run(ctx context.Context) (release bool, result ctrl.Result, err error) {
	if held, err := f.refundsInFlight(ctx); held || err != nil {
		return false, ctrl.Result{}, err
	}
	paidWhileDeleting := meta.IsStatusConditionTrue(f.status.Conditions, v1.ConditionPaidWhileDeleting)
	switch {
	case paidWhileDeleting && f.status.Phase != v1.PhaseRefunded:
		// Paid while being deleted (found by the close below, or by a notification that won the
		// race with it): the money is here and nobody wants it. It goes back, then the order goes.
		if _, err := f.r.refundUnwanted(ctx, f.order, &f.status); err != nil {
			return false, ctrl.Result{}, err
		}
		return false, ctrl.Result{}, nil
	case meta.IsStatusConditionTrue(f.status.Conditions, v1.ConditionLatePayment):
		// The order is the only durable record of money nobody wants: it stays until refunded.
		if _, err := f.r.refundUnwanted(ctx, f.order, &f.status); err != nil {
			return false, ctrl.Result{}, err
		}
		f.warnOnce(v1.ReasonLatePayment, "the order records a late payment that is not refunded; it is kept until the money is refunded (or remove the finalizer to release it)")
		return false, ctrl.Result{}, nil
	case f.status.Phase.Terminal():
		return true, ctrl.Result{}, nil
	}
	return f.closeOpen(ctx)
}

// refundsInFlight holds the order while a refund reserved on it may still move money: the
// refund counts its result on the order. A reservation whose PaymentRefund is gone (its finalizer
// removed by hand) is released, since nothing else ever will.
func (f *finalizeSync) refundsInFlight(ctx context.Context) (bool, error) {
	held := false
	for _, res := range f.status.Refunds {
		if res.State != v1.RefundReserved {
			continue
		}
		ref := &v1.PaymentRefund{}
		err := f.r.Client.Get(ctx, client.ObjectKey{Namespace: f.order.Namespace, Name: res.Name}, ref)
		switch {
		case apierrors.IsNotFound(err):
			f.status = statemachine.Release(f.status, res.Name)
			f.events = append(f.events, warning{v1.ReasonRefundInFlight, fmt.Sprintf("released the reservation of PaymentRefund %s, which is gone", res.Name)})
		case err != nil:
			return false, fmt.Errorf("reading PaymentRefund %s/%s of deleted PaymentOrder %s: %w", f.order.Namespace, res.Name, f.order.Name, err)
		default:
			held = true
		}
	}
	if held {
		f.warnOnce(v1.ReasonRefundInFlight, "a refund of this order is in flight; the order goes once it has settled")
	}
	return held, nil
}

// closeOpen closes the payment of an order deleted before it settled.
func (f *finalizeSync) closeOpen(ctx context.Context) (bool, ctrl.Result, error) {
	o := f.order
	rp, err := f.r.Resolver.ResolveForClose(ctx, o.ProviderNamespace(), o.Spec.ProviderRef.Name)
	if err != nil {
		return f.blocked(ctx, nil, "", reasonFor(err), fmt.Sprintf("the payment cannot be closed: %v", err))
	}
	otn := f.status.OutTradeNo
	if otn == "" {
		// Created, then the status write was lost: the payment may exist. Only an order that holds
		// the claim can have created one; closing anything else could close another order's.
		otn = OutTradeNo(o, rp.Spec.Spec.OutTradeNoPrefix)
		holder, err := f.r.claimHolder(ctx, o, otn)
		if err != nil {
			return false, ctrl.Result{}, err
		}
		if holder.uid != string(o.UID) {
			return true, ctrl.Result{}, nil
		}
	}
	err = rp.Provider.Close(ctx, otn, f.status.ProviderPaymentID)
	switch {
	case err == nil, errors.Is(err, providers.ErrNotFound):
		f.normal = append(f.normal, warning{v1.ReasonCancelled, fmt.Sprintf("order deleted unpaid; payment %s closed at the provider", otn)})
		return true, ctrl.Result{}, nil
	case errors.Is(err, providers.ErrAlreadyPaid):
		return false, ctrl.Result{}, f.recordPaid(ctx, rp, otn)
	case errors.Is(err, providers.ErrPayableUntilExpiry):
		return f.blocked(ctx, rp, otn, v1.ReasonPayableUntilExpiry,
			fmt.Sprintf("the provider has no payment %s to close yet, but its link stays payable until it expires", otn))
	case errors.Is(err, providers.ErrCredentials):
		return f.blocked(ctx, rp, otn, v1.ReasonCredentialsInvalid, fmt.Sprintf("the provider refused the credentials to close payment %s: %v", otn, err))
	}
	return false, ctrl.Result{}, fmt.Errorf("closing payment %s of deleted PaymentOrder %s/%s: %w", otn, o.Namespace, o.Name, err)
}

// blocked keeps an order whose payment cannot be closed until the payment's own expiry (the one
// kubepay gave the provider) has passed; then a final query, where the provider can still be
// asked, decides: paid is kept as Paid, anything else is released.
func (f *finalizeSync) blocked(ctx context.Context, rp *resolver.Resolved, otn, reason, message string) (bool, ctrl.Result, error) {
	deadline := f.paymentExpiry()
	if f.now.Before(deadline) {
		if f.setCondition(v1.ConditionCloseBlocked, metav1.ConditionTrue, reason,
			fmt.Sprintf("%s; the order is kept until %s, when the payment expires at the provider", message, deadline.UTC().Format(time.RFC3339))) {
			f.warnOnce(v1.ConditionCloseBlocked, message)
		}
		return false, ctrl.Result{RequeueAfter: deadline.Sub(f.now) + time.Second}, nil
	}
	if rp != nil {
		p, err := rp.Provider.Query(ctx, otn, f.status.ProviderPaymentID)
		switch {
		case err == nil && p.Status == providers.StatusSucceeded:
			return false, ctrl.Result{}, f.applyPaid(p)
		case err == nil, errors.Is(err, providers.ErrNotFound):
			f.normal = append(f.normal, warning{v1.ReasonReleasedAfterExpiry, "the payment expired at the provider unpaid; the order is released"})
			return true, ctrl.Result{}, nil
		case !errors.Is(err, providers.ErrCredentials):
			return false, ctrl.Result{}, fmt.Errorf("final query of deleted PaymentOrder %s/%s: %w", f.order.Namespace, f.order.Name, err)
		}
		message = fmt.Sprintf("%s; the final query was refused too: %v", message, err)
	}
	f.events = append(f.events, warning{v1.ReasonReleasedAfterExpiry, fmt.Sprintf(
		"the payment expired at the provider at %s and could not be queried (%s): if it was paid before that, it is only in the provider's records",
		deadline.UTC().Format(time.RFC3339), message)})
	return true, ctrl.Result{}, nil
}

// recordPaid learns the payment a close found paid and keeps the order as Paid.
func (f *finalizeSync) recordPaid(ctx context.Context, rp *resolver.Resolved, otn string) error {
	p, err := rp.Provider.Query(ctx, otn, f.status.ProviderPaymentID)
	if err != nil {
		return fmt.Errorf("querying the payment of deleted PaymentOrder %s/%s, which the provider says is paid: %w", f.order.Namespace, f.order.Name, err)
	}
	if p.Status != providers.StatusSucceeded {
		return fmt.Errorf("deleted PaymentOrder %s/%s: close said paid, query says %s; asking again", f.order.Namespace, f.order.Name, p.Status)
	}
	return f.applyPaid(p)
}

// applyPaid writes the provider's paid payment onto the deleted order and holds it.
func (f *finalizeSync) applyPaid(p providers.Payment) error {
	probe := f.order.DeepCopy()
	probe.Status = f.status
	ev, ok, err := settle.Decide(probe, nil, settle.FromPayment(p, v1.SourceController), f.now)
	if err != nil {
		// Paid, but not as this order: never settle it on that; a person must look.
		f.events = append(f.events, warning{v1.ReasonNotificationRejected, err.Error()})
		f.holdPaid("the provider reports a payment that does not match the order")
		return nil
	}
	if ok {
		next, changed, err := statemachine.Next(f.status, ev)
		if err == nil && changed {
			f.applied = append(f.applied, next.History[len(next.History)-1])
			f.status = next
		}
	}
	f.holdPaid("the payment was paid at the provider when the order was deleted")
	return nil
}

// holdPaid keeps a paid order being deleted, saying why, once.
func (f *finalizeSync) holdPaid(why string) {
	if f.setCondition(v1.ConditionPaidWhileDeleting, metav1.ConditionTrue, v1.ReasonPaidBeforeDeletion,
		why+"; the order is kept as the record of the money until it is refunded (or remove the finalizer to release it)") {
		f.events = append(f.events, warning{v1.ReasonPaidBeforeDeletion, why + "; the order is kept until the money is refunded"})
	}
}

// paymentExpiry is when the provider stops accepting the payment: what it said at create, else
// the order's expiry, else (no status at all) the expiry the spec implies.
func (f *finalizeSync) paymentExpiry() time.Time {
	switch {
	case f.status.PaymentExpiresAt != nil:
		return f.status.PaymentExpiresAt.Time
	case f.status.ExpiresAt != nil:
		return f.status.ExpiresAt.Time
	}
	after := 30 * time.Minute
	if f.order.Spec.ExpiresAfter != nil {
		after = f.order.Spec.ExpiresAfter.Duration
	}
	return f.order.CreationTimestamp.Add(after)
}

func (f *finalizeSync) setCondition(typ string, status metav1.ConditionStatus, reason, message string) bool {
	return meta.SetStatusCondition(&f.status.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: message,
		LastTransitionTime: metav1.NewTime(f.now), ObservedGeneration: f.order.Generation,
	})
}

// warnOnce queues a Warning Event unless this reconcile already has one with the reason.
func (f *finalizeSync) warnOnce(reason, message string) {
	for _, e := range f.events {
		if e.reason == reason {
			return
		}
	}
	f.events = append(f.events, warning{reason, message})
}

// writeStatus writes the status once, when it changed, then tells of it.
func (f *finalizeSync) writeStatus(ctx context.Context) error {
	if !equality.Semantic.DeepEqual(f.status, f.order.Status) {
		settle.OrderHealth(f.order, &f.status, f.now)
	}
	if !equality.Semantic.DeepEqual(f.status, f.order.Status) {
		updated := f.order.DeepCopy()
		updated.Status = f.status
		if err := f.r.Client.Status().Update(ctx, updated); err != nil {
			return err
		}
		f.order.Status, f.order.ResourceVersion = updated.Status, updated.ResourceVersion
	}
	e := settle.Emitter{Recorder: f.r.Recorder}
	e.Transitions(f.order, f.applied)
	for _, w := range f.events {
		e.Warning(f.order, w.reason, v1.ActionDelete, w.message)
	}
	for _, n := range f.normal {
		e.Normal(f.order, n.reason, v1.ActionDelete, n.message)
	}
	f.applied, f.events, f.normal = nil, nil, nil
	return nil
}

// reasonFor names why a provider cannot be resolved.
func reasonFor(err error) string {
	switch {
	case errors.Is(err, resolver.ErrProviderNotFound):
		return v1.ReasonProviderNotFound
	case errors.Is(err, resolver.ErrSecretNotFound), errors.Is(err, providers.ErrCredentials):
		return v1.ReasonCredentialsInvalid
	}
	return v1.ReasonProviderNotReady
}
