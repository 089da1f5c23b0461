package controllers

import (
	"context"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
)

// ClaimHolderForTest exposes the claim lookup to the external tests.
func (r *PaymentOrderReconciler) ClaimHolderForTest(ctx context.Context, o *v1.PaymentOrder, otn string) (string, error) {
	h, err := r.claimHolder(ctx, o, otn)
	return h.uid, err
}
