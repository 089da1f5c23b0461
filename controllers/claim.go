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

// A merchant number (an out_trade_no, an out_refund_no) is claimed before any provider call with a
// Lease whose name is derived from the provider and the number and whose holderIdentity is the
// claiming object's UID. The API server makes names unique, so of two objects asking for the same
// number exactly one gets it and reaches the provider; the other fails before it can touch the
// first one's payment or refund. The Lease is owned by its object and goes with it.

// claimKind says what a claimed number is, and prefixes the Lease's name.
type claimKind string

const (
	claimOutTradeNo  claimKind = "kubepay-otn-"
	claimOutRefundNo claimKind = "kubepay-orn-"
)

// ClaimName is the Lease that claims number at the named PaymentProvider as an out_trade_no.
func ClaimName(provider, number string) string { return claimOutTradeNo.name(provider, number) }

func (k claimKind) name(provider, number string) string {
	sum := sha256.Sum256([]byte(provider + "\x00" + number))
	return string(k) + hex.EncodeToString(sum[:20])
}

// claimHolder is the object holding a claim: its name and UID.
type claimHolder struct {
	name string
	uid  string
}

// claimer creates and reads claims. Claims are read around the cache: caching Leases would cache
// every Lease in the cluster.
type claimer struct {
	client    client.Client
	apiReader client.Reader
}

// claim makes owner (of kind) the holder of number at provider. It returns the holder: owner
// itself when the claim is (or already was) its own, another object when the number is taken.
func (c claimer) claim(ctx context.Context, k claimKind, provider, number string, owner client.Object, ownerKind string) (claimHolder, error) {
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: owner.GetNamespace(), Name: k.name(provider, number),
			Annotations: map[string]string{v1.AnnotationClaimOrder: owner.GetName(), v1.AnnotationOutTradeNo: number},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: v1.GroupVersion.String(), Kind: ownerKind, Name: owner.GetName(), UID: owner.GetUID(),
			}},
		},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(string(owner.GetUID()))},
	}
	err := c.client.Create(ctx, lease)
	if err == nil {
		return claimHolder{name: owner.GetName(), uid: string(owner.GetUID())}, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return claimHolder{}, fmt.Errorf("claiming %s %s for %s %s/%s: %w", k.what(), number, ownerKind, owner.GetNamespace(), owner.GetName(), err)
	}
	return c.holder(ctx, k, provider, number, owner.GetNamespace())
}

// holder reads who holds number at provider in namespace; the zero holder when nobody does.
func (c claimer) holder(ctx context.Context, k claimKind, provider, number, namespace string) (claimHolder, error) {
	lease := &coordinationv1.Lease{}
	key := client.ObjectKey{Namespace: namespace, Name: k.name(provider, number)}
	if err := c.apiReader.Get(ctx, key, lease); err != nil {
		if apierrors.IsNotFound(err) {
			return claimHolder{}, nil
		}
		return claimHolder{}, fmt.Errorf("reading the claim of %s %s (Lease %s): %w", k.what(), number, key, err)
	}
	return claimHolder{name: lease.Annotations[v1.AnnotationClaimOrder], uid: ptr.Deref(lease.Spec.HolderIdentity, "")}, nil
}

func (k claimKind) what() string {
	if k == claimOutRefundNo {
		return "out_refund_no"
	}
	return "out_trade_no"
}
