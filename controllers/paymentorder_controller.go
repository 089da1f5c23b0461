package controllers

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/index"
	"github.com/kubepay/kubepay/internal/resolver"
)

// Query defaults (30s doubling to 10m; docs/design.md) and error backoff bounds.
const (
	DefaultQueryInitial = 30 * time.Second
	DefaultQueryMax     = 10 * time.Minute
	errorBackoffBase    = time.Second
	errorBackoffMax     = 5 * time.Minute
)

// ProviderResolver turns an order's providerRef into a ready provider; *resolver.Resolver is the
// real one, unit tests give a double.
type ProviderResolver interface {
	Resolve(ctx context.Context, namespace, name string) (*resolver.Resolved, error)
	// ResolveForClose may answer with a client remembered from a Secret that is gone, to close
	// and query payments that exist, never to create one.
	ResolveForClose(ctx context.Context, namespace, name string) (*resolver.Resolved, error)
}

// PaymentOrderReconciler creates payments at providers, queries them as a fallback for lost
// notifications, closes them at expiry and on delete. The logic is in paymentorder_sync.go.
type PaymentOrderReconciler struct {
	Client client.Client
	// APIReader reads around the cache: the out_trade_no claims (Leases are not cached).
	APIReader client.Reader
	// ClusterNamespace is the manager's namespace, where ClusterPaymentProviders' claims live.
	ClusterNamespace string
	Resolver         ProviderResolver
	Recorder         events.EventRecorder
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxConcurrentReconciles bounds parallel reconciles (and so parallel provider calls).
	MaxConcurrentReconciles int

	queries querySchedule
}

func (r *PaymentOrderReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// forgetQuery drops the query schedule of an order that left the cache (settled or deleted).
func (r *PaymentOrderReconciler) forgetQuery(obj any) {
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if o, ok := obj.(client.Object); ok {
		r.queries.forget(o.GetUID())
	}
}

// SetupWithManager wires the controller: orders, plus the providers and Secrets they depend on.
// The field indexes must be registered first (index.Setup).
func (r *PaymentOrderReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.MaxConcurrentReconciles <= 0 {
		r.MaxConcurrentReconciles = 8
	}
	// Per order: 1s doubling to 5m after each retryable failure; overall: 50 retries/s, so a
	// provider outage never turns into a hot loop against it.
	// An order leaves the cache when it settles, usually in a write the controller did not make
	// (the callback server's Paid), so the controller never reconciles it terminal: its query
	// schedule goes when the cache lets it go, or the schedule would keep every payment ever made.
	inf, err := mgr.GetCache().GetInformer(context.Background(), &v1.PaymentOrder{})
	if err != nil {
		return fmt.Errorf("getting the PaymentOrder informer: %w", err)
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{DeleteFunc: r.forgetQuery}); err != nil {
		return fmt.Errorf("watching PaymentOrders leave the cache: %w", err)
	}
	limiter := workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](errorBackoffBase, errorBackoffMax),
		&workqueue.TypedBucketRateLimiter[reconcile.Request]{Limiter: rate.NewLimiter(rate.Limit(50), 200)},
	)
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1.PaymentOrder{}).
		Watches(&v1.PaymentProvider{}, handler.EnqueueRequestsFromMapFunc(r.ordersForProvider),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&v1.ClusterPaymentProvider{}, handler.EnqueueRequestsFromMapFunc(r.ordersForProvider),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.ordersForSecret),
			builder.WithPredicates(predicate.ResourceVersionChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles, RateLimiter: limiter}).
		Named("paymentorder").
		Complete(r)
}

// ordersForProvider requeues the open orders that use a PaymentProvider (in its namespace) or a
// ClusterPaymentProvider (in every namespace), e.g. when it appears after them or its endpoint
// changes.
func (r *PaymentOrderReconciler) ordersForProvider(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &v1.PaymentOrderList{}
	key := v1.ProviderIndexKey(obj.GetNamespace(), obj.GetName())
	if err := r.Client.List(ctx, list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{index.OrderProvider: key}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing orders of PaymentProvider", "paymentProvider", client.ObjectKeyFromObject(obj))
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		o := &list.Items[i]
		if o.Status.Phase.Terminal() && o.DeletionTimestamp.IsZero() {
			continue
		}
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o)})
	}
	return reqs
}

// ordersForSecret requeues the orders of every provider that uses a credentials Secret.
func (r *PaymentOrderReconciler) ordersForSecret(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &v1.PaymentProviderList{}
	if err := r.Client.List(ctx, list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{index.ProviderSecret: obj.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing providers of Secret", "secret", client.ObjectKeyFromObject(obj))
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		reqs = append(reqs, r.ordersForProvider(ctx, &list.Items[i])...)
	}
	if obj.GetNamespace() == r.ClusterNamespace {
		cluster := &v1.ClusterPaymentProviderList{}
		if err := r.Client.List(ctx, cluster, client.MatchingFields{index.ProviderSecret: obj.GetName()}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "listing cluster providers of Secret", "secret", client.ObjectKeyFromObject(obj))
			return reqs
		}
		for i := range cluster.Items {
			reqs = append(reqs, r.ordersForProvider(ctx, &cluster.Items[i])...)
		}
	}
	return reqs
}
