package webhook

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/index"
	"github.com/kubepay/kubepay/providers"
)

// findOrder finds the order a notification is about: by the status.outTradeNo field index in the
// provider's namespace (never another namespace), falling back to the API server (the CRD makes
// status.outTradeNo a selectable field) when the cache does not have it yet, e.g. on a replica
// that just started.
func (s *Server) findOrder(ctx context.Context, ns string, n providers.Notification) (*v1.PaymentOrder, error) {
	if n.OutTradeNo == "" {
		return nil, fmt.Errorf("%w: notification %s carries no out_trade_no", errMismatch, n.ID)
	}
	list := &v1.PaymentOrderList{}
	if err := s.Client.List(ctx, list, client.InNamespace(ns), client.MatchingFields{index.OrderOutTradeNo: n.OutTradeNo}); err != nil {
		return nil, fmt.Errorf("looking up PaymentOrder with outTradeNo %s in %s: %w", n.OutTradeNo, ns, err)
	}
	if len(list.Items) == 0 && s.APIReader != nil {
		if err := s.APIReader.List(ctx, list, client.InNamespace(ns), client.MatchingFields{index.OrderOutTradeNo: n.OutTradeNo}); err != nil {
			return nil, fmt.Errorf("looking up PaymentOrder with outTradeNo %s in %s from the API server: %w", n.OutTradeNo, ns, err)
		}
	}
	var match *v1.PaymentOrder
	for i := range list.Items {
		o := &list.Items[i]
		// Two orders sharing a spec.orderID share a payment; the provider's payment id tells them apart.
		if o.Status.ProviderPaymentID != "" && n.ProviderPaymentID != "" && o.Status.ProviderPaymentID != n.ProviderPaymentID {
			continue
		}
		if match != nil {
			return nil, fmt.Errorf("two PaymentOrders in %s (%s, %s) have outTradeNo %s; refusing to guess", ns, match.Name, o.Name, n.OutTradeNo)
		}
		match = o
	}
	if match == nil {
		return nil, fmt.Errorf("%w: outTradeNo %s in namespace %s", errUnknownOrder, n.OutTradeNo, ns)
	}
	return match, nil
}
