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
// provider's namespace (never another namespace), among the orders of the provider whose route the
// notification came through, falling back to the API server (the CRD makes status.outTradeNo a
// selectable field) when the cache has no such order yet, e.g. on a replica that just started.
//
// out_trade_no is unique per provider account, not per namespace: two PaymentProviders in one
// namespace may each have an order with the same spec.orderID. The notification was verified with
// pp's key, so only pp's orders can be what it is about; another provider's order is never a
// candidate, so it can neither receive the notification nor make the lookup ambiguous.
func (s *Server) findOrder(ctx context.Context, pp *v1.PaymentProvider, n providers.Notification) (*v1.PaymentOrder, error) {
	ns := pp.Namespace
	if n.OutTradeNo == "" {
		return nil, fmt.Errorf("%w: notification %s carries no out_trade_no", errMismatch, n.ID)
	}
	list := &v1.PaymentOrderList{}
	if err := s.Client.List(ctx, list, client.InNamespace(ns), client.MatchingFields{index.OrderOutTradeNo: n.OutTradeNo}); err != nil {
		return nil, fmt.Errorf("looking up PaymentOrder with outTradeNo %s in %s: %w", n.OutTradeNo, ns, err)
	}
	candidates := ofProvider(list.Items, pp)
	// The fallback runs when the cache has none of *this provider's* orders: another provider's
	// order with the same out_trade_no being cached says nothing about whether ours is.
	if len(candidates) == 0 && s.APIReader != nil {
		opts := append([]client.ListOption{client.InNamespace(ns), client.MatchingFields{index.OrderOutTradeNo: n.OutTradeNo}}, s.Share.ListOptions()...)
		if err := s.APIReader.List(ctx, list, opts...); err != nil {
			return nil, fmt.Errorf("looking up PaymentOrder with outTradeNo %s in %s from the API server: %w", n.OutTradeNo, ns, err)
		}
		// Read around the cache, the list may hold orders of other installs' shares.
		candidates = nil
		for _, o := range ofProvider(list.Items, pp) {
			if s.Share.Has(o) {
				candidates = append(candidates, o)
			}
		}
	}
	var match *v1.PaymentOrder
	for _, o := range candidates {
		// Two orders of one provider sharing a spec.orderID share a payment; the provider's
		// payment id tells them apart.
		if o.Status.ProviderPaymentID != "" && n.ProviderPaymentID != "" && o.Status.ProviderPaymentID != n.ProviderPaymentID {
			continue
		}
		if match != nil {
			return nil, fmt.Errorf("two PaymentOrders of PaymentProvider %s/%s (%s, %s) have outTradeNo %s; refusing to guess", ns, pp.Name, match.Name, o.Name, n.OutTradeNo)
		}
		match = o
	}
	if match == nil {
		return nil, fmt.Errorf("%w: outTradeNo %s among PaymentProvider %s/%s's orders", errUnknownOrder, n.OutTradeNo, ns, pp.Name)
	}
	return match, nil
}

// ofProvider returns the orders whose spec.providerRef names pp (spec is immutable, so this cannot
// change under us). A ClusterPaymentProvider has no namespace: its orders are in every namespace,
// and a namespaced provider of the same name is another account.
func ofProvider(orders []v1.PaymentOrder, pp *v1.PaymentProvider) []*v1.PaymentOrder {
	var out []*v1.PaymentOrder
	for i := range orders {
		if orders[i].UsesProvider(pp) {
			out = append(out, &orders[i])
		}
	}
	return out
}
