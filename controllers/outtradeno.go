package controllers

import (
	"fmt"
	"strings"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
)

// maxOutTradeNo is the longest out_trade_no every provider takes (WeChat Pay's 32).
const maxOutTradeNo = 32

// OutTradeNo is the merchant reference of an order at a provider with the given outTradeNoPrefix:
// the prefix, then spec.orderID when given, otherwise the UID without dashes (cut to fit 32). It
// depends only on the object and the provider's immutable prefix, never on time or status, so
// every attempt to create the payment, before or after a crash, sends the same idempotency key.
func OutTradeNo(o *v1.PaymentOrder, prefix string) string {
	if o.Spec.OrderID != "" {
		return prefix + o.Spec.OrderID
	}
	uid := strings.ReplaceAll(string(o.UID), "-", "")
	if n := maxOutTradeNo - len(prefix); len(uid) > n {
		// 16 or more hex characters stay (the prefix is at most 16): 64 bits, and the claim
		// catches the collision that is left.
		uid = uid[:n]
	}
	return prefix + uid
}

// validOutTradeNo says why an out_trade_no cannot be sent to any provider, or "".
func validOutTradeNo(otn string) string {
	if len(otn) > maxOutTradeNo {
		return fmt.Sprintf("out_trade_no %q (outTradeNoPrefix and orderID) is %d characters; providers take at most %d", otn, len(otn), maxOutTradeNo)
	}
	return ""
}
