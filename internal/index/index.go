// Package index names the cache field indexes kubepay registers, so the controller's watches and
// the callback server's order lookup use the same keys.
package index

import (
	"context"

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
	if err := fi.IndexField(ctx, &v1.PaymentOrder{}, OrderOutTradeNo, func(o client.Object) []string {
		if otn := o.(*v1.PaymentOrder).Status.OutTradeNo; otn != "" {
			return []string{otn}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := fi.IndexField(ctx, &v1.PaymentOrder{}, OrderProvider, func(o client.Object) []string {
		return []string{o.(*v1.PaymentOrder).ProviderIndexKey()}
	}); err != nil {
		return err
	}
	if err := fi.IndexField(ctx, &v1.PaymentRefund{}, RefundOutRefundNo, func(o client.Object) []string {
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
