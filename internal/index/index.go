// Package index names the cache field indexes kubepay registers, so the controller's watches and
// the callback server's order lookup use the same keys.
package index

import (
	"context"
	"fmt"

	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
)

const (
	// OrderOutTradeNo indexes PaymentOrders by status.outTradeNo: the callback server's lookup.
	OrderOutTradeNo = "status.outTradeNo"
	// OrderProvider indexes PaymentOrders by their provider (v1.PaymentOrder.ProviderIndexKey): a
	// provider change requeues its orders, and a provider being deleted waits for them.
	OrderProvider = "spec.providerRef.name"
	// ProviderSecret indexes PaymentProviders and ClusterPaymentProviders by their credentials
	// Secret: a Secret change requeues them.
	ProviderSecret = "spec.credentialsSecretRef.name"
	// RefundOutRefundNo indexes PaymentRefunds by status.outRefundNo: the callback server's lookup
	// of a refund notification.
	RefundOutRefundNo = "status.outRefundNo"
	// RefundOrder indexes PaymentRefunds by spec.orderRef.name: an order's deletion waits for them.
	RefundOrder = "spec.orderRef.name"
)

// Setup registers every index on the manager's cache; call it once before the cache starts.
func Setup(ctx context.Context, fi client.FieldIndexer) error {
	if err := byNumber(ctx, fi, &v1.PaymentOrder{}, OrderOutTradeNo, func(o client.Object) []string {
		if otn := o.(*v1.PaymentOrder).Status.OutTradeNo; otn != "" {
			return []string{otn}
		}
		return nil
	}); err != nil {
		return err
	}
	// A PaymentProvider's orders are listed in its namespace, a ClusterPaymentProvider's across
	// all of them: one key per order, the one its provider's lookup reads.
	if err := oneKey(ctx, fi, &v1.PaymentOrder{}, OrderProvider, func(o client.Object) []string {
		return []string{o.(*v1.PaymentOrder).ProviderIndexKey()}
	}, func(o client.Object) string {
		if o.(*v1.PaymentOrder).ProviderNamespace() == "" {
			return allNamespaces
		}
		return o.GetNamespace()
	}); err != nil {
		return err
	}
	if err := byNumber(ctx, fi, &v1.PaymentRefund{}, RefundOutRefundNo, func(o client.Object) []string {
		if orn := o.(*v1.PaymentRefund).Status.OutRefundNo; orn != "" {
			return []string{orn}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := fi.IndexField(ctx, &v1.PaymentRefund{}, RefundOrder, func(o client.Object) []string {
		return []string{o.(*v1.PaymentRefund).Spec.OrderRef.Name}
	}); err != nil {
		return err
	}
	if err := fi.IndexField(ctx, &v1.ClusterPaymentProvider{}, ProviderSecret, func(o client.Object) []string {
		return []string{o.(*v1.ClusterPaymentProvider).Spec.CredentialsSecretRef.Name}
	}); err != nil {
		return err
	}
	return fi.IndexField(ctx, &v1.PaymentProvider{}, ProviderSecret, func(o client.Object) []string {
		return []string{o.(*v1.PaymentProvider).Spec.CredentialsSecretRef.Name}
	})
}

// informers is what a cache offers beyond FieldIndexer: its informers.
type informers interface {
	GetInformer(ctx context.Context, obj client.Object, opts ...cache.InformerGetOption) (cache.Informer, error)
}

// byNumber indexes objects by a number unique to each (an out_trade_no, a refund number), for
// lookups that always name the namespace. It registers the index under the name and key format
// controller-runtime's cache reads for client.MatchingFields (index "field:<field>", key
// "<namespace>/<value>"), with the namespaced key alone: IndexField adds a second key per object
// for lists across all namespaces, which for a unique number is one more single-element set per
// object (about 350 bytes per cached open order, a tenth of what the order costs) that no lookup
// reads. A list by this field across all namespaces finds nothing. Anything that is not a cache
// (the fake client's builder) gets IndexField.
func byNumber(ctx context.Context, fi client.FieldIndexer, obj client.Object, field string, extract client.IndexerFunc) error {
	return oneKey(ctx, fi, obj, field, extract, client.Object.GetNamespace)
}

// allNamespaces is the namespace part of controller-runtime's index key for lists across all
// namespaces (cache_reader.go's allNamespacesNamespace, not exported; TestCachedLookups checks
// both kinds of list still find their objects).
const allNamespaces = "__all_namespaces"

// oneKey registers an index under the name and key format controller-runtime's cache reads for
// client.MatchingFields, with one key per value: the one in scope(object), a namespace or
// allNamespaces, where IndexField would add both.
func oneKey(ctx context.Context, fi client.FieldIndexer, obj client.Object, field string, extract client.IndexerFunc, scope func(client.Object) string) error {
	c, ok := fi.(informers)
	if !ok {
		return fi.IndexField(ctx, obj, field, extract)
	}
	inf, err := c.GetInformer(ctx, obj)
	if err != nil {
		return fmt.Errorf("indexing %T by %s: %w", obj, field, err)
	}
	return inf.AddIndexers(toolscache.Indexers{"field:" + field: func(raw any) ([]string, error) {
		o, ok := raw.(client.Object)
		if !ok {
			return nil, fmt.Errorf("indexing by %s: %T is not an object", field, raw)
		}
		vals := extract(o)
		keys := make([]string, len(vals))
		for i, v := range vals {
			keys[i] = scope(o) + "/" + v
		}
		return keys, nil
	}})
}
