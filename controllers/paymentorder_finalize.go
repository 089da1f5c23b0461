package controllers

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/resolver"
	"github.com/kubepay/kubepay/internal/settle"
	"github.com/kubepay/kubepay/providers"
)

// finalize closes an open payment before the object goes, so a deleted order cannot be paid.
func (r *PaymentOrderReconciler) finalize(ctx context.Context, order *v1.PaymentOrder) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(order, v1.Finalizer) {
		return ctrl.Result{}, nil
	}
	log := ctrl.LoggerFrom(ctx)
	emit := settle.Emitter{Recorder: r.Recorder}
	switch order.Status.Phase {
	case "", v1.PhasePending, v1.PhaseAwaitingPayment:
		// Even with no status a payment may exist (created, then the status write was lost); the
		// out_trade_no is derived from the object, so it can still be closed.
		otn := order.Status.OutTradeNo
		if otn == "" {
			otn = OutTradeNo(order)
		}
		rp, err := r.Resolver.Resolve(ctx, order.Namespace, order.Spec.ProviderRef.Name)
		switch {
		case errors.Is(err, resolver.ErrProviderNotFound):
			emit.Warning(order, v1.ReasonCloseSkipped, v1.ActionDelete, fmt.Sprintf("PaymentProvider %q is gone; payment %s could not be closed at the provider", order.Spec.ProviderRef.Name, otn))
		case err != nil:
			return ctrl.Result{}, fmt.Errorf("closing payment of deleted PaymentOrder %s/%s: %w", order.Namespace, order.Name, err)
		default:
			err := rp.Provider.Close(ctx, otn, order.Status.ProviderPaymentID)
			switch {
			case err == nil, errors.Is(err, providers.ErrNotFound):
				emit.Normal(order, v1.ReasonCancelled, v1.ActionDelete, fmt.Sprintf("order deleted unpaid; payment %s closed at the provider", otn))
			case errors.Is(err, providers.ErrAlreadyPaid):
				// Money moved just before the delete. The order is going, so say so loudly.
				emit.Warning(order, v1.ReasonPaidBeforeDeletion, v1.ActionDelete, fmt.Sprintf("payment %s was paid at the provider before the order was deleted; reconcile it manually", otn))
				log.Info("deleted order was paid at the provider", "outTradeNo", otn)
			default:
				return ctrl.Result{}, fmt.Errorf("closing payment %s of deleted PaymentOrder %s/%s: %w", otn, order.Namespace, order.Name, err)
			}
		}
	}
	patch := client.MergeFromWithOptions(order.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(order, v1.Finalizer)
	if err := r.Client.Patch(ctx, order, patch); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("removing finalizer of PaymentOrder %s/%s: %w", order.Namespace, order.Name, err)
	}
	r.queries.forget(order.UID)
	return ctrl.Result{}, nil
}
