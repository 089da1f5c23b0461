package controllers

import (
	"time"

	"golang.org/x/time/rate"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
)

// PaymentRefundReconciler gives money back: it reserves the refund's amount on the order, asks
// the provider once per refund number, follows the refund to its result (notifications arrive
// through the callback server; a query catches lost ones) and counts the result on the order.
// The logic is in paymentrefund_sync.go.
type PaymentRefundReconciler struct {
	Client client.Client
	// APIReader reads around the cache: claims, and the order after a conflicting write.
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

func (r *PaymentRefundReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// SetupWithManager wires the controller. The field indexes must be registered first.
func (r *PaymentRefundReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.MaxConcurrentReconciles <= 0 {
		r.MaxConcurrentReconciles = 8
	}
	limiter := workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](errorBackoffBase, errorBackoffMax),
		&workqueue.TypedBucketRateLimiter[reconcile.Request]{Limiter: rate.NewLimiter(rate.Limit(50), 200)},
	)
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1.PaymentRefund{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles, RateLimiter: limiter}).
		Named("paymentrefund").
		Complete(r)
}
