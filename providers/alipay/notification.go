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
	n.AmountMinor, n.Currency, n.Status = minor, "CNY", status
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
