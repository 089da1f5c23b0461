package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
)

// ClaimHolderForTest exposes the claim lookup to the external tests.
func (r *PaymentOrderReconciler) ClaimHolderForTest(ctx context.Context, o *v1.PaymentOrder, otn string) (string, error) {
	h, err := r.claimHolder(ctx, o, otn)
	return h.uid, err
}

// HasScheduledQueryForTest reports whether the reconciler keeps a query schedule for the order.
func (r *PaymentOrderReconciler) HasScheduledQueryForTest(uid types.UID) bool {
	r.queries.mu.Lock()
	defer r.queries.mu.Unlock()
	_, ok := r.queries.state[uid]
	return ok
}
