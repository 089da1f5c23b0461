package controllers

import (
	"context"
	"fmt"
	"strings"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
)

// sweepClaims deletes the claims in the manager's namespace whose holder is gone: a deleted
// settled order is let go without the order controller (SettledRelease), so nothing releases its
// claim there.
func (h *Housekeeper) sweepClaims(ctx context.Context) error {
	if h.ClusterNamespace == "" {
		return nil
	}
	opts := []client.ListOption{client.InNamespace(h.ClusterNamespace), client.Limit(500)}
	for {
		leases := &coordinationv1.LeaseList{}
		if err := h.APIReader.List(ctx, leases, opts...); err != nil {
			return fmt.Errorf("listing claims in %s: %w", h.ClusterNamespace, err)
		}
		for i := range leases.Items {
			if err := h.sweepClaim(ctx, &leases.Items[i]); err != nil {
				return err
			}
		}
		if leases.Continue == "" {
			return nil
		}
		opts = append(opts[:2], client.Continue(leases.Continue))
	}
}

func (h *Housekeeper) sweepClaim(ctx context.Context, l *coordinationv1.Lease) error {
	if !strings.HasPrefix(l.Name, string(claimOutTradeNo)) && !strings.HasPrefix(l.Name, string(claimOutRefundNo)) {
		return nil
	}
	holder := strings.SplitN(l.Annotations[v1.AnnotationClaimOrder], "/", 2)
	if len(holder) != 2 || !h.Share.HasNamespace(holder[0]) {
		return nil // malformed, or another install's holder: not ours to judge
	}
	var obj client.Object = &v1.PaymentOrder{}
	if strings.HasPrefix(l.Name, string(claimOutRefundNo)) {
		obj = &v1.PaymentRefund{}
	}
	err := h.APIReader.Get(ctx, client.ObjectKey{Namespace: holder[0], Name: holder[1]}, obj)
	switch {
	case err == nil && string(obj.GetUID()) == ptr.Deref(l.Spec.HolderIdentity, ""):
		return nil
	case err != nil && !apierrors.IsNotFound(err):
		return fmt.Errorf("reading the holder %s of claim %s/%s: %w", l.Annotations[v1.AnnotationClaimOrder], l.Namespace, l.Name, err)
	}
	if err := h.Client.Delete(ctx, l, client.Preconditions{UID: &l.UID}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting claim %s/%s of a deleted holder: %w", l.Namespace, l.Name, err)
	}
	h.Log.V(1).Info("claim of a deleted holder released", "claim", l.Name, "number", l.Annotations[v1.AnnotationOutTradeNo])
	return nil
}
