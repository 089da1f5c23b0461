package wechatpay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/kubepay/kubepay/internal/money"
	"github.com/kubepay/kubepay/providers"
)

// envelope is a notification body; only resource is encrypted.
type envelope struct {
	ID           string `json:"id"`
	CreateTime   string `json:"create_time"`
	EventType    string `json:"event_type"`
	ResourceType string `json:"resource_type"`
	Resource     struct {
		Algorithm      string `json:"algorithm"`
		Ciphertext     string `json:"ciphertext"`
		AssociatedData string `json:"associated_data"`
		Nonce          string `json:"nonce"`
		OriginalType   string `json:"original_type"`
	} `json:"resource"`
}

// notifyState maps trade_state in payment notifications; others are acknowledged and ignored:
// PAYERROR is not final (the payer may still pay the order another way), REFUND is no payment.
var notifyState = map[string]providers.PaymentStatus{
	"SUCCESS": providers.StatusSucceeded,
	"CLOSED":  providers.StatusClosed,
}

func signatureError(format string, a ...any) error {
	return fmt.Errorf("%w: wechatpay notification: %s", providers.ErrSignature, fmt.Sprintf(format, a...))
}

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: wechatpay notification: %s", providers.ErrMalformed, fmt.Sprintf(format, a...))
}

// ParseNotification implements providers.Provider. Payment results (TRANSACTION.*) become
// payment facts; refund results (REFUND.SUCCESS, REFUND.CLOSED, REFUND.ABNORMAL) become refund
// facts with an empty Status. The Wechatpay-* headers are verified over the
// raw body (probe signatures and timestamps more than 300 s away refused) before the body is
// decoded; the resource is then decrypted with the APIv3 key, whose GCM tag is a second proof of
// origin. Notification.ID is the event id, which WeChat Pay keeps across its retries.
func (c *Client) ParseNotification(_ context.Context, r *http.Request, body []byte) (providers.Notification, error) {
	if r == nil {
		return providers.Notification{}, signatureError("no request headers to verify")
	}
	if err := c.verifySigned(r.Header, body); err != nil {
		return providers.Notification{}, signatureError("%v (PaymentProvider %s/%s)", err, c.namespace, c.name)
	}
	var ev envelope
	if err := json.Unmarshal(body, &ev); err != nil {
		return providers.Notification{}, malformed("decode body: %v", err)
	}
	if ev.ID == "" || ev.EventType == "" {
		return providers.Notification{}, malformed("event has no id or event_type")
	}
	if ev.Resource.Algorithm != algorithmAESGCM {
		return providers.Notification{}, malformed("event %s: resource algorithm %q is not %s", truncate(ev.ID), truncate(ev.Resource.Algorithm), algorithmAESGCM)
	}
	plain, err := decryptResource(c.aead, ev.Resource.Nonce, ev.Resource.AssociatedData, ev.Resource.Ciphertext)
	if err != nil {
		return providers.Notification{}, signatureError("event %s: %v with the apiV3Key of PaymentProvider %s/%s", truncate(ev.ID), err, c.namespace, c.name)
	}
	n := providers.Notification{ID: ev.ID, Type: ev.EventType}
	switch ev.Resource.OriginalType {
	case "transaction":
	case "refund":
		return refundNotification(n, ev, plain)
	default:
		// Verified, but neither a payment nor a refund (pay score...): acknowledged and ignored.
		return n, nil
	}
	var tx transaction
	if err := json.Unmarshal(plain, &tx); err != nil {
		return providers.Notification{}, malformed("event %s: decode transaction: %v", truncate(ev.ID), err)
	}
	n.OutTradeNo, n.AppID, n.MerchantID, n.TransactionID = tx.OutTradeNo, tx.AppID, tx.MchID, tx.TransactionID
	status, known := notifyState[tx.TradeState]
	if !known {
		return n, nil
	}
	switch {
	case tx.OutTradeNo == "":
		return providers.Notification{}, malformed("event %s (%s) has no out_trade_no", truncate(ev.ID), tx.TradeState)
	case tx.Amount.Total <= 0 || !money.ValidCurrency(tx.Amount.Currency):
		return providers.Notification{}, malformed("event %s for %s has amount %d %q", truncate(ev.ID), tx.OutTradeNo, tx.Amount.Total, truncate(tx.Amount.Currency))
	case status == providers.StatusSucceeded && tx.TransactionID == "":
		return providers.Notification{}, malformed("event %s for %s is SUCCESS without transaction_id", truncate(ev.ID), tx.OutTradeNo)
	}
	// The payment id this client hands out is the out_trade_no (transaction_id does not exist
	// when the payment is created), and the callback server compares it with
	// status.providerPaymentID.
	n.ProviderPaymentID = tx.OutTradeNo
	n.Status, n.AmountMinor, n.Currency = status, tx.Amount.Total, tx.Amount.Currency
	at := tx.SuccessTime
	if at == "" {
		at = ev.CreateTime
	}
	if at != "" {
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return providers.Notification{}, malformed("event %s has time %q, want RFC 3339", truncate(ev.ID), truncate(at))
		}
		n.OccurredAt = t
	}
	return n, nil
}

// Ack implements providers.Provider: 204 with no body on success, which stops WeChat Pay's
// retries; otherwise 400 (never verifies or parses) or 500 with {"code":"FAIL","message":...},
// a fixed message that never carries the error's text.
func (c *Client) Ack(w http.ResponseWriter, err error) {
	if err == nil {
		providers.WriteAnswer(w, http.StatusNoContent, "", "")
		return
	}
	msg := "notification not processed, please retry"
	switch {
	case errors.Is(err, providers.ErrSignature):
		msg = "signature verification failed"
	case errors.Is(err, providers.ErrMalformed):
		msg = "malformed notification"
	}
	b, _ := json.Marshal(map[string]string{"code": "FAIL", "message": msg})
	providers.WriteAnswer(w, providers.FailureStatus(err), "application/json", string(b))
}

// refundResource is the decrypted resource of a REFUND.* notification.
type refundResource struct {
	MchID         string `json:"mchid"`
	OutTradeNo    string `json:"out_trade_no"`
	TransactionID string `json:"transaction_id"`
	OutRefundNo   string `json:"out_refund_no"`
	RefundID      string `json:"refund_id"`
	RefundStatus  string `json:"refund_status"`
	SuccessTime   string `json:"success_time"`
	Amount        struct {
		Total       int64 `json:"total"`
		Refund      int64 `json:"refund"`
		PayerTotal  int64 `json:"payer_total"`
		PayerRefund int64 `json:"payer_refund"`
	} `json:"amount"`
}

// refundNotification is the refund fact of a verified, decrypted REFUND.* notification. The event
// type and the resource's refund_status must agree: a REFUND.SUCCESS whose resource says CLOSED
// could not be settled either way. WeChat Pay's refund resources carry the merchant (mchid) but
// no appid, and amounts in fen of CNY (the only currency of domestic refunds); they say this
// refund's amount, not the order's refunded total.
func refundNotification(n providers.Notification, ev envelope, plain []byte) (providers.Notification, error) {
	var r refundResource
	if err := json.Unmarshal(plain, &r); err != nil {
		return providers.Notification{}, malformed("event %s: decode refund: %v", truncate(ev.ID), err)
	}
	fact := &providers.RefundFact{OutRefundNo: r.OutRefundNo, ProviderRefundID: r.RefundID, AmountMinor: r.Amount.Refund, Currency: "CNY"}
	switch r.RefundStatus {
	case refundSuccess:
		fact.Status = providers.RefundSucceeded
	case refundClosed:
		fact.Status, fact.FailureReason = providers.RefundFailed, "WeChat Pay closed the refund; no money moved"
	case refundAbnormal:
		// In flight, not failed (see refundFromAnswer).
		fact.Status, fact.FailureReason = providers.RefundProcessing, abnormalReason
	default:
		return providers.Notification{}, malformed("event %s (%s): unknown refund_status %q", truncate(ev.ID), truncate(ev.EventType), truncate(r.RefundStatus))
	}
	switch {
	case ev.EventType != "REFUND."+r.RefundStatus:
		return providers.Notification{}, malformed("event %s is %s but its refund %s says %s", truncate(ev.ID), truncate(ev.EventType), truncate(r.OutRefundNo), r.RefundStatus)
	case r.OutRefundNo == "" || r.OutTradeNo == "":
		return providers.Notification{}, malformed("event %s (%s) names no refund (out_refund_no %q) or no order (out_trade_no %q)", truncate(ev.ID), ev.EventType, truncate(r.OutRefundNo), truncate(r.OutTradeNo))
	case r.Amount.Refund <= 0 || r.Amount.Total <= 0 || r.Amount.Refund > r.Amount.Total:
		return providers.Notification{}, malformed("event %s for refund %s of %s has amount refund %d of total %d", truncate(ev.ID), truncate(r.OutRefundNo), truncate(r.OutTradeNo), r.Amount.Refund, r.Amount.Total)
	}
	at := r.SuccessTime
	if at == "" {
		at = ev.CreateTime
	}
	if at != "" {
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return providers.Notification{}, malformed("event %s for refund %s has time %q, want RFC 3339", truncate(ev.ID), truncate(r.OutRefundNo), truncate(at))
		}
		n.OccurredAt = t
		if fact.Status == providers.RefundSucceeded {
			fact.RefundedAt = t
		}
	}
	// The payment id this client hands out is the out_trade_no; the callback server finds and
	// checks the order by it and by the merchant.
	n.OutTradeNo, n.ProviderPaymentID, n.MerchantID, n.TransactionID = r.OutTradeNo, r.OutTradeNo, r.MchID, r.TransactionID
	n.AmountMinor, n.Currency, n.Refund = r.Amount.Total, "CNY", fact
	return n, nil
}
