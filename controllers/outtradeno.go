package controllers

import (
	"strings"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
)

// OutTradeNo is the merchant reference of an order: spec.orderID when given, otherwise the UID
// without dashes (32 hex characters, within every provider's limit). It depends only on the
// object, never on time or status, so every attempt to create the payment, before or after a
// crash, sends the same idempotency key.
func OutTradeNo(o *v1.PaymentOrder) string {
	if o.Spec.OrderID != "" {
		return o.Spec.OrderID
	}
	return strings.ReplaceAll(string(o.UID), "-", "")
}
