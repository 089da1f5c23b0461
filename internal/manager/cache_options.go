package manager

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
)

// cacheOptions is what the manager holds in memory: labelled credential Secrets, orders that are
// not settled (status.settled!=true: memory follows the orders that can still move money;
// internal/settle/settled.go), and, for an install with a share of the cluster, only its
// namespaces and objects. The manager's own namespace is always watched: ClusterPaymentProviders'
// Secrets live there.
func cacheOptions(opts Options, credentials labels.Selector) cache.Options {
	orders := cache.ByObject{Field: fields.OneTermNotEqualSelector(v1.FieldSettled, "true")}
	kubepay := cache.ByObject{}
	if sel := opts.Share.Selector; sel != nil && !sel.Empty() {
		orders.Label = sel
		kubepay = cache.ByObject{Label: sel}
	}
	co := cache.Options{
		DefaultTransform: trimForCache,
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}:      {Label: credentials},
			&v1.PaymentOrder{}:    orders,
			&v1.PaymentRefund{}:   kubepay,
			&v1.PaymentProvider{}: kubepay,
		},
	}
	if len(opts.Share.Namespaces) > 0 {
		co.DefaultNamespaces = map[string]cache.Config{opts.ClusterNamespace: {}}
		for _, ns := range opts.Share.Namespaces {
			co.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return co
}
