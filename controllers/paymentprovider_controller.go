package controllers

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/index"
)

// DefaultVerifyInterval is how often a Ready provider's credentials are checked again with an
// authenticated call: a key revoked at the provider shows as not Ready within this time.
const DefaultVerifyInterval = 10 * time.Minute

// PaymentProviderReconciler keeps a PaymentProvider while unsettled orders use it, and reports
// whether the provider accepts its credentials (Ready) and the exact notify URL kubepay gives it.
// The logic is in paymentprovider_sync.go.
type PaymentProviderReconciler struct {
	Client   client.Client
	Resolver ProviderResolver
	Recorder events.EventRecorder
	// VerifyInterval overrides DefaultVerifyInterval.
	VerifyInterval time.Duration
	// Cluster makes this reconciler serve ClusterPaymentProviders instead of PaymentProviders.
	Cluster bool
	// ClusterNamespace is the manager's namespace, where ClusterPaymentProviders' Secrets live.
	ClusterNamespace string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// SetupWithManager watches providers, the labelled Secrets they use, and, for providers being
// deleted, the orders that keep them.
func (r *PaymentProviderReconciler) SetupWithManager(mgr ctrl.Manager) error {
	var obj client.Object = &v1.PaymentProvider{}
	name := "paymentprovider"
	if r.Cluster {
		obj, name = &v1.ClusterPaymentProvider{}, "clusterpaymentprovider"
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(obj, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, deletionPredicate()))).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.providersForSecret)).
		Watches(&v1.PaymentOrder{}, handler.EnqueueRequestsFromMapFunc(r.providerOfOrder)).
		Named(name).
		Complete(r)
}

// providersForSecret requeues the providers this reconciler serves that use a Secret.
func (r *PaymentProviderReconciler) providersForSecret(ctx context.Context, obj client.Object) []reconcile.Request {
	var keys []client.ObjectKey
	if r.Cluster {
		if obj.GetNamespace() != r.ClusterNamespace {
			return nil
		}
		list := &v1.ClusterPaymentProviderList{}
		if err := r.Client.List(ctx, list, client.MatchingFields{index.ProviderSecret: obj.GetName()}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "listing cluster providers of Secret", "secret", client.ObjectKeyFromObject(obj))
			return nil
		}
		for i := range list.Items {
			keys = append(keys, client.ObjectKeyFromObject(&list.Items[i]))
		}
	} else {
		list := &v1.PaymentProviderList{}
		if err := r.Client.List(ctx, list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{index.ProviderSecret: obj.GetName()}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "listing providers of Secret", "secret", client.ObjectKeyFromObject(obj))
			return nil
		}
		for i := range list.Items {
			keys = append(keys, client.ObjectKeyFromObject(&list.Items[i]))
		}
	}
	reqs := make([]reconcile.Request, 0, len(keys))
	for _, k := range keys {
		reqs = append(reqs, reconcile.Request{NamespacedName: k})
	}
	return reqs
}

// providerOfOrder wakes a provider that is being deleted when one of its orders changes: the
// last one to settle lets it go. Providers not being deleted do not care.
func (r *PaymentProviderReconciler) providerOfOrder(ctx context.Context, obj client.Object) []reconcile.Request {
	o, ok := obj.(*v1.PaymentOrder)
	if !ok || o.Spec.ProviderRef.IsCluster() != r.Cluster {
		return nil
	}
	key := client.ObjectKey{Namespace: o.ProviderNamespace(), Name: o.Spec.ProviderRef.Name}
	if _, pp, err := r.get(ctx, key); err != nil || pp == nil || pp.DeletionTimestamp.IsZero() {
		return nil
	}
	return []reconcile.Request{{NamespacedName: key}}
}

// deletionPredicate lets through the update that marks an object for deletion.
func deletionPredicate() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetDeletionTimestamp().IsZero() != e.ObjectNew.GetDeletionTimestamp().IsZero()
	}}
}

func (r *PaymentProviderReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
