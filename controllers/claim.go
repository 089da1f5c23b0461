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

// claimScope is where a provider's numbers are unique. A PaymentProvider's claims live in its
// namespace, owned by their objects (the garbage collector deletes them). A
// ClusterPaymentProvider's numbers are unique across namespaces, so its claims live in the
// manager's namespace, where an owner reference cannot point: they are deleted by the finalizers.
type claimScope struct {
	namespace string
	provider  string
	owned     bool
}

// scopeOf is the claim scope of the order's provider; clusterNamespace is the manager's.
func scopeOf(order *v1.PaymentOrder, clusterNamespace string) claimScope {
	if order.Spec.ProviderRef.IsCluster() {
		return claimScope{namespace: clusterNamespace, provider: order.ProviderIndexKey()}
	}
	return claimScope{namespace: order.Namespace, provider: order.Spec.ProviderRef.Name, owned: true}
}

// claim makes owner (of kind) the holder of number in scope. It returns the holder: owner itself
// when the claim is (or already was) its own, another object when the number is taken.
func (c claimer) claim(ctx context.Context, k claimKind, scope claimScope, number string, owner client.Object, ownerKind string) (claimHolder, error) {
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: scope.namespace, Name: k.name(scope.provider, number),
			Annotations: map[string]string{v1.AnnotationClaimOrder: owner.GetNamespace() + "/" + owner.GetName(), v1.AnnotationOutTradeNo: number},
		},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(string(owner.GetUID()))},
	}
	if scope.owned {
		lease.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: v1.GroupVersion.String(), Kind: ownerKind, Name: owner.GetName(), UID: owner.GetUID(),
		}}
	}
	err := c.client.Create(ctx, lease)
	if err == nil {
		return claimHolder{name: owner.GetName(), uid: string(owner.GetUID())}, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return claimHolder{}, fmt.Errorf("claiming %s %s for %s %s/%s: %w", k.what(), number, ownerKind, owner.GetNamespace(), owner.GetName(), err)
	}
	return c.holder(ctx, k, scope, number)
}

// release deletes a claim that is not owned (a cluster provider's) when uid holds it.
func (c claimer) release(ctx context.Context, k claimKind, scope claimScope, number, uid string) error {
	if scope.owned || number == "" {
		return nil
	}
	h, err := c.holder(ctx, k, scope, number)
	if err != nil || h.uid != uid {
		return err
	}
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: scope.namespace, Name: k.name(scope.provider, number)}}
	if err := c.client.Delete(ctx, lease); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("releasing the claim of %s %s: %w", k.what(), number, err)
	}
	return nil
}

// holder reads who holds number in scope; the zero holder when nobody does.
func (c claimer) holder(ctx context.Context, k claimKind, scope claimScope, number string) (claimHolder, error) {
	lease := &coordinationv1.Lease{}
	key := client.ObjectKey{Namespace: scope.namespace, Name: k.name(scope.provider, number)}
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
