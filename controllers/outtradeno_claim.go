package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
)

// An out_trade_no is claimed before any provider call with a Lease whose name is derived from the
// provider and the out_trade_no and whose holderIdentity is the order's UID. The API server makes
// names unique, so of two orders with the same orderID exactly one creates the Lease and a
// payment; the other fails with DuplicateOrderID before it can touch the first one's payment.
// The Lease is owned by the order and goes with it.

// ClaimName is the Lease that claims otn at the named PaymentProvider.
func ClaimName(provider, otn string) string {
	sum := sha256.Sum256([]byte(provider + "\x00" + otn))
	return "kubepay-otn-" + hex.EncodeToString(sum[:20])
}

// claimHolder is the order holding a claim: its name and UID.
type claimHolder struct {
	name string
	uid  string
}

// claim makes order the holder of otn at its provider. It returns the holder: order itself when
// the claim is (or already was) its own, another order when the out_trade_no is taken.
func (r *PaymentOrderReconciler) claim(ctx context.Context, order *v1.PaymentOrder, otn string) (claimHolder, error) {
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: order.Namespace, Name: ClaimName(order.Spec.ProviderRef.Name, otn),
			Annotations: map[string]string{v1.AnnotationClaimOrder: order.Name, v1.AnnotationOutTradeNo: otn},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: v1.GroupVersion.String(), Kind: "PaymentOrder", Name: order.Name, UID: order.UID,
			}},
		},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(string(order.UID))},
	}
	err := r.Client.Create(ctx, lease)
	if err == nil {
		return claimHolder{name: order.Name, uid: string(order.UID)}, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return claimHolder{}, fmt.Errorf("claiming out_trade_no %s for PaymentOrder %s/%s: %w", otn, order.Namespace, order.Name, err)
	}
	return r.claimHolder(ctx, order, otn)
}

// claimHolder reads who holds otn at order's provider; the zero holder when nobody does. It reads
// the API server, not the cache: Leases are not cached (it would cache every Lease in the cluster).
func (r *PaymentOrderReconciler) claimHolder(ctx context.Context, order *v1.PaymentOrder, otn string) (claimHolder, error) {
	lease := &coordinationv1.Lease{}
	key := client.ObjectKey{Namespace: order.Namespace, Name: ClaimName(order.Spec.ProviderRef.Name, otn)}
	if err := r.APIReader.Get(ctx, key, lease); err != nil {
		if apierrors.IsNotFound(err) {
			return claimHolder{}, nil
		}
		return claimHolder{}, fmt.Errorf("reading the claim of out_trade_no %s (Lease %s): %w", otn, key, err)
	}
	return claimHolder{name: lease.Annotations[v1.AnnotationClaimOrder], uid: ptr.Deref(lease.Spec.HolderIdentity, "")}, nil
}
