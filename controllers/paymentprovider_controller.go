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
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// SetupWithManager watches providers, the labelled Secrets they use, and, for providers being
// deleted, the orders that keep them.
func (r *PaymentProviderReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1.PaymentProvider{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, deletionPredicate()))).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.providersForSecret)).
		Watches(&v1.PaymentOrder{}, handler.EnqueueRequestsFromMapFunc(r.providerOfOrder)).
		Named("paymentprovider").
		Complete(r)
}

func (r *PaymentProviderReconciler) providersForSecret(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &v1.PaymentProviderList{}
	if err := r.Client.List(ctx, list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{index.ProviderSecret: obj.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing providers of Secret", "secret", client.ObjectKeyFromObject(obj))
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
}

// providerOfOrder wakes a provider that is being deleted when one of its orders changes: the
// last one to settle lets it go. Providers not being deleted do not care.
func (r *PaymentProviderReconciler) providerOfOrder(ctx context.Context, obj client.Object) []reconcile.Request {
	o, ok := obj.(*v1.PaymentOrder)
	if !ok {
		return nil
	}
	key := client.ObjectKey{Namespace: o.Namespace, Name: o.Spec.ProviderRef.Name}
	pp := &v1.PaymentProvider{}
	if err := r.Client.Get(ctx, key, pp); err != nil || pp.DeletionTimestamp.IsZero() {
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
