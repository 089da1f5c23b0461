package alipay

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/kubepay/kubepay/internal/money"
	"github.com/kubepay/kubepay/providers"
)

// notifyTypeTrade is the notify_type of trade status notifications, the only ones acted on.
const notifyTypeTrade = "trade_status_sync"

// notifyStatus maps trade_status in a notification; WAIT_BUYER_PAY (sent only when the merchant
// asks for it) and anything else is acknowledged and ignored.
var notifyStatus = map[string]providers.PaymentStatus{
	"TRADE_SUCCESS":  providers.StatusSucceeded,
	"TRADE_FINISHED": providers.StatusSucceeded,
	"TRADE_CLOSED":   providers.StatusClosed,
}

func signatureError(format string, a ...any) error {
	return fmt.Errorf("%w: alipay notification: %s", providers.ErrSignature, fmt.Sprintf(format, a...))
}

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: alipay notification: %s", providers.ErrMalformed, fmt.Sprintf(format, a...))
}

// ParseNotification implements providers.Provider for Alipay's asynchronous notifications (a
// form POST). The form is URL-decoded, then its RSA2 sign is verified with the Alipay public key
// over the sorted parameters without sign and sign_type, before any field is interpreted.
//
// After each refund Alipay sends the trade's notification again with refund_fee (cumulative),
// gmt_refund and out_biz_no (the refund's out_request_no): those become a RefundFact with an
// empty Status, whatever their trade_status (TRADE_CLOSED after a full refund is no expiry).
//
// Alipay notifications carry no signed timestamp, so there is no freshness window: replay
// protection is the notify_id, which stays the same across Alipay's retries and becomes
// Notification.ID; the state machine treats a repeat of the order's last notification id as a
// duplicate, and a replayed "paid" cannot move an order that is already paid.
func (c *Client) ParseNotification(_ context.Context, _ *http.Request, body []byte) (providers.Notification, error) {
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return providers.Notification{}, signatureError("body is not a URL-encoded form, nothing to verify: %v", err)
	}
	params, err := singleValued(values)
	if err != nil {
		return providers.Notification{}, signatureError("%v", err)
	}
	if err := verifyParams(c.alipayKey, params, ruleNotify); err != nil {
		return providers.Notification{}, signatureError("%v (verifying with the alipayPublicKey of PaymentProvider %s/%s)", err, c.namespace, c.name)
	}
	return parseVerified(params)
}

// parseVerified interprets the fields of a verified notification.
func parseVerified(p map[string]string) (providers.Notification, error) {
	n := providers.Notification{
		ID: p["notify_id"], Type: p["trade_status"], OutTradeNo: p["out_trade_no"],
		AppID: p["app_id"], MerchantID: p["seller_id"], TransactionID: p["trade_no"],
	}
	if n.ID == "" {
		return providers.Notification{}, malformed("no notify_id")
	}
	if n.Type == "" {
		n.Type = p["notify_type"]
	}
	status, known := notifyStatus[p["trade_status"]]
	if p["notify_type"] != notifyTypeTrade || !known {
		// Verified, but not a payment outcome kubepay acts on: acknowledged and ignored.
		return n, nil
	}
	if n.OutTradeNo == "" {
		return providers.Notification{}, malformed("notification %s (%s) has no out_trade_no", n.ID, n.Type)
	}
	// The payment id this client hands out is the out_trade_no (trade_no does not exist when the
	// payment is created), and the callback server compares it with status.providerPaymentID.
	n.ProviderPaymentID = n.OutTradeNo
	minor, err := money.ToMinor(p["total_amount"], "CNY")
	if err != nil || minor <= 0 {
		return providers.Notification{}, malformed("notification %s for %s has total_amount %q", n.ID, n.OutTradeNo, truncate(p["total_amount"]))
	}
	n.AmountMinor, n.Currency = minor, "CNY"
	if reportsRefund(p) {
		return refundNotification(n, p)
	}
	n.Status = status
	at := p["notify_time"]
	switch {
	case status == providers.StatusSucceeded && p["gmt_payment"] != "":
		at = p["gmt_payment"]
	case status == providers.StatusClosed && p["gmt_close"] != "":
		at = p["gmt_close"]
	}
	if at != "" {
		t, err := time.ParseInLocation(timeLayout, at, chinaTime)
		if err != nil {
			return providers.Notification{}, malformed("notification %s has time %q, want %s", n.ID, truncate(at), timeLayout)
		}
		n.OccurredAt = t
	}
	return n, nil
}

// Ack implements providers.Provider. Alipay stops retrying only on the exact body "success";
// anything else, here "fail" with 400 for notifications that will never verify or parse and 500
// otherwise, makes it retry. The error text is never sent.
func (c *Client) Ack(w http.ResponseWriter, err error) {
	providers.Acknowledge(w, err, "text/plain; charset=utf-8", "success", "fail")
}

// reportsRefund tells a trade notification sent because of a refund: Alipay adds refund_fee,
// gmt_refund and out_biz_no to the trade_status_sync it sends after each refund, TRADE_SUCCESS
// after a partial one and TRADE_CLOSED after the one that completes the payment. A zero
// refund_fee alone is not a refund.
func reportsRefund(p map[string]string) bool {
	if p["out_biz_no"] != "" || p["gmt_refund"] != "" {
		return true
	}
	fee, err := money.ToMinor(p["refund_fee"], "CNY")
	return p["refund_fee"] != "" && (err != nil || fee != 0)
}

// refundNotification is the refund fact of a verified trade notification that reports a
// refund. Its Status stays empty: a TRADE_CLOSED after a full refund is not an expiry, and a
// TRADE_SUCCESS after a partial one is not a second payment. Alipay says only the cumulative
// refund_fee, not the amount of the refund out_biz_no names.
func refundNotification(n providers.Notification, p map[string]string) (providers.Notification, error) {
	no := p["out_biz_no"]
	if no == "" {
		return providers.Notification{}, malformed("notification %s for %s reports a refund without out_biz_no", n.ID, n.OutTradeNo)
	}
	total, err := money.ToMinor(p["refund_fee"], "CNY")
	switch {
	case err != nil || total <= 0:
		return providers.Notification{}, malformed("notification %s for refund %s of %s has refund_fee %q", n.ID, truncate(no), n.OutTradeNo, truncate(p["refund_fee"]))
	case total > n.AmountMinor:
		return providers.Notification{}, malformed("notification %s for refund %s of %s has refund_fee %s, more than total_amount %s", n.ID, truncate(no), n.OutTradeNo, truncate(p["refund_fee"]), p["total_amount"])
	}
	at := p["gmt_refund"]
	if at == "" {
		at = p["notify_time"]
	}
	// gmt_refund has milliseconds ("2021-07-14 09:51:36.631"); parsing takes them after the
	// seconds without a layout for them.
	t, err := parseTime(at)
	if err != nil {
		return providers.Notification{}, malformed("notification %s for refund %s has gmt_refund %q, want %s", n.ID, truncate(no), truncate(at), timeLayout)
	}
	n.OccurredAt = t
	n.Refund = &providers.RefundFact{
		OutRefundNo: no, Status: providers.RefundSucceeded, TotalRefundedMinor: total, Currency: "CNY", RefundedAt: t,
	}
	return n, nil
}
