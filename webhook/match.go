package webhook

import (
	"fmt"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/providers"
)

// mismatch returns why a verified notification cannot be about this order, or "". A correctly
// signed notification can still be wrong for the order: a replay of another payment's message
// with the same out_trade_no, a different amount or currency, another merchant's account, or a
// notification sent to the wrong provider's route.
func mismatch(order *v1.PaymentOrder, pp *v1.PaymentProvider, n providers.Notification) string {
	switch {
	case order.Spec.ProviderRef.Name != pp.Name:
		return fmt.Sprintf("order uses PaymentProvider %q, notification came for %q", order.Spec.ProviderRef.Name, pp.Name)
	case n.Currency != order.Spec.Currency:
		return fmt.Sprintf("currency %q, order is %q", n.Currency, order.Spec.Currency)
	case n.AmountMinor != order.Status.AmountMinor:
		return fmt.Sprintf("amount %d minor units, order is %d", n.AmountMinor, order.Status.AmountMinor)
	case pp.Spec.AppID != "" && n.AppID != pp.Spec.AppID:
		return fmt.Sprintf("app id %q, provider is configured for %q", n.AppID, pp.Spec.AppID)
	case pp.Spec.MerchantID != "" && n.MerchantID != pp.Spec.MerchantID:
		return fmt.Sprintf("merchant id %q, provider is configured for %q", n.MerchantID, pp.Spec.MerchantID)
	case order.Status.ProviderPaymentID != "" && n.ProviderPaymentID != "" && n.ProviderPaymentID != order.Status.ProviderPaymentID:
		return fmt.Sprintf("provider payment id %q, order has %q", n.ProviderPaymentID, order.Status.ProviderPaymentID)
	}
	return ""
}
