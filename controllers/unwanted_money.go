package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/money"
	"github.com/kubepay/kubepay/internal/settle"
)

// Money nobody wants (a late payment for a closed order, a payment made while its order was
// being deleted) is given back by a PaymentRefund that kubepay creates itself, once: its name is
// derived from the order and the payment, so a repeat finds it instead of making a second. A
// PaymentProvider with latePayments: Record keeps the record only.

// refundUnwanted creates the refunds the order's unwanted money needs and records their names in
// status; it reports whether status changed (the caller writes it).
func (r *PaymentOrderReconciler) refundUnwanted(ctx context.Context, order *v1.PaymentOrder, status *v1.PaymentOrderStatus) (bool, error) {
	if r.latePaymentPolicy(ctx, order) == v1.LatePaymentsRecord {
		return false, nil
	}
	before := status.DeepCopy()
	for i := range status.LatePayments {
		lp := &status.LatePayments[i]
		if lp.Refund != "" || lp.Refunded {
			continue
		}
		name := unwantedRefundName(order.Name, "late", lp.ID)
		reason := fmt.Sprintf("late payment: the order was already %s", lp.Phase)
		if err := r.createRefund(ctx, order, name, lp.Amount, reason, lp.ID); err != nil {
			return false, err
		}
		lp.Refund = name
	}
	if order.DeletionTimestamp != nil && meta.IsStatusConditionTrue(status.Conditions, v1.ConditionPaidWhileDeleting) &&
		(status.Phase == v1.PhasePaid || status.Phase == v1.PhasePartiallyRefunded) {
		left := status.AmountMinor - status.RefundedAmountMinor
		for _, res := range status.Refunds {
			if res.State == v1.RefundReserved && res.LatePaymentID == "" {
				left -= res.AmountMinor
			}
		}
		if left > 0 {
			amount, err := money.FromMinor(left, order.Spec.Currency)
			if err != nil {
				return false, fmt.Errorf("PaymentOrder %s/%s: %w", order.Namespace, order.Name, err)
			}
			name := unwantedRefundName(order.Name, "deleted", status.OutTradeNo)
			if err := r.createRefund(ctx, order, name, amount, "paid while the order was being deleted", ""); err != nil {
				return false, err
			}
		}
	}
	return !equality.Semantic.DeepEqual(before, status), nil
}

// createRefund creates the named refund of order, owned by it; one that exists already is it.
func (r *PaymentOrderReconciler) createRefund(ctx context.Context, order *v1.PaymentOrder, name, amount, reason, latePaymentID string) error {
	ref := &v1.PaymentRefund{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: order.Namespace, Name: name, Labels: map[string]string{v1.LabelOrder: order.Name},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: v1.GroupVersion.String(), Kind: "PaymentOrder",
				Name: order.Name, UID: order.UID, Controller: ptr.To(true)}},
		},
		Spec: v1.PaymentRefundSpec{OrderRef: v1.LocalObjectReference{Name: order.Name}, Amount: amount,
			Reason: reason, LatePaymentID: latePaymentID},
	}
	err := r.Client.Create(ctx, ref)
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating PaymentRefund %s/%s for unwanted money of PaymentOrder %s: %w", order.Namespace, name, order.Name, err)
	}
	settle.Emitter{Recorder: r.Recorder}.Normal(order, v1.ReasonLatePaymentRefund, v1.ActionReconcile,
		fmt.Sprintf("PaymentRefund %s created to give back %s %s (%s)", name, amount, order.Spec.Currency, reason))
	return nil
}

// latePaymentPolicy is the order's provider's spec.latePayments; Refund when the provider is gone,
// since a refund then waits for it rather than money being kept.
func (r *PaymentOrderReconciler) latePaymentPolicy(ctx context.Context, order *v1.PaymentOrder) v1.LatePaymentPolicy {
	var spec v1.PaymentProviderSpec
	var err error
	if order.Spec.ProviderRef.IsCluster() {
		cpp := &v1.ClusterPaymentProvider{}
		err = r.Client.Get(ctx, client.ObjectKey{Name: order.Spec.ProviderRef.Name}, cpp)
		spec = cpp.Spec
	} else {
		pp := &v1.PaymentProvider{}
		err = r.Client.Get(ctx, client.ObjectKey{Namespace: order.Namespace, Name: order.Spec.ProviderRef.Name}, pp)
		spec = pp.Spec
	}
	if err == nil && spec.LatePayments == v1.LatePaymentsRecord {
		return v1.LatePaymentsRecord
	}
	return v1.LatePaymentsRefund
}

// unwantedRefundName is the deterministic name of the refund of one unwanted payment.
func unwantedRefundName(order, kind, id string) string {
	sum := sha256.Sum256([]byte(id))
	if len(order) > 200 {
		order = order[:200]
	}
	return fmt.Sprintf("%s-%s-%s", order, kind, hex.EncodeToString(sum[:5]))
}
