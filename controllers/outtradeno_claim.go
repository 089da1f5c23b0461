package controllers

import (
	"context"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
)

// claim makes order the holder of otn at its provider (see claim.go).
func (r *PaymentOrderReconciler) claim(ctx context.Context, order *v1.PaymentOrder, otn string) (claimHolder, error) {
	return claimer{r.Client, r.APIReader}.claim(ctx, claimOutTradeNo, scopeOf(order, r.ClusterNamespace), otn, order, "PaymentOrder")
}

// claimHolder reads who holds otn at order's provider; the zero holder when nobody does.
func (r *PaymentOrderReconciler) claimHolder(ctx context.Context, order *v1.PaymentOrder, otn string) (claimHolder, error) {
	return claimer{r.Client, r.APIReader}.holder(ctx, claimOutTradeNo, scopeOf(order, r.ClusterNamespace), otn)
}
