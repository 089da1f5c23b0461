package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/kubepay/kubepay/internal/money"
	"github.com/kubepay/kubepay/providers"
)

// Event types the gateway sends, and the status each one means.
var eventStatus = map[string]providers.PaymentStatus{
	"payment.succeeded": providers.StatusSucceeded,
	"payment.failed":    providers.StatusFailed,
	"payment.closed":    providers.StatusClosed,
}

// Refund event types, and the refund status each one means.
var refundEventStatus = map[string]providers.RefundStatus{
	"refund.succeeded": providers.RefundSucceeded,
	"refund.failed":    providers.RefundFailed,
}

// event is the envelope of every notification; data is decoded by type.
type event struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Created int64           `json:"created"`
	Data    json.RawMessage `json:"data"`
}

type paymentData struct {
	ID         string `json:"id"`
	OutTradeNo string `json:"out_trade_no"`
	Status     string `json:"status"`
	Amount     int64  `json:"amount"`
	Currency   string `json:"currency"`
	// PaidAt is the payment's own time: the event's "created" is when the event was made, which
	// can be a second later and must not become the order's paidAt.
	PaidAt time.Time `json:"paid_at"`
}

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: sandbox notification: %s", providers.ErrMalformed, fmt.Sprintf(format, a...))
}

// ParseNotification implements providers.Provider. It verifies the signature over the raw body
// before decoding a single byte of it.
func (c *Client) ParseNotification(_ context.Context, r *http.Request, body []byte) (providers.Notification, error) {
	if err := c.verify(r, body); err != nil {
		return providers.Notification{}, err
	}
	var ev event
	if err := json.Unmarshal(body, &ev); err != nil {
		return providers.Notification{}, malformed("decode event: %v", err)
	}
	if ev.ID == "" || ev.Type == "" {
		return providers.Notification{}, malformed("event has no id or type")
	}
	n := providers.Notification{ID: ev.ID, Type: ev.Type}
	if ev.Created > 0 {
		n.OccurredAt = time.Unix(ev.Created, 0).UTC()
	}
	if status, ok := refundEventStatus[ev.Type]; ok {
		return parseRefundEvent(n, ev, status)
	}
	var d paymentData
	if len(ev.Data) > 0 {
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return providers.Notification{}, malformed("event %s (%s): decode payment: %v", ev.ID, ev.Type, err)
		}
	}
	n.OutTradeNo, n.ProviderPaymentID, n.AmountMinor, n.Currency = d.OutTradeNo, d.ID, d.Amount, d.Currency
	status, known := eventStatus[ev.Type]
	if !known {
		// An event kubepay does not act on: acknowledged and ignored (Status stays empty).
		return n, nil
	}
	switch {
	case d.ID == "" || d.OutTradeNo == "":
		return providers.Notification{}, malformed("event %s (%s) has no payment id or out_trade_no", ev.ID, ev.Type)
	case d.Amount <= 0 || !money.ValidCurrency(d.Currency):
		return providers.Notification{}, malformed("event %s (%s) for payment %s has amount %d %q", ev.ID, ev.Type, d.ID, d.Amount, d.Currency)
	case d.Status != string(status):
		return providers.Notification{}, malformed("event %s is %s but payment %s has status %q", ev.ID, ev.Type, d.ID, d.Status)
	}
	n.Status = status
	if status == providers.StatusSucceeded {
		n.TransactionID = d.ID
		if !d.PaidAt.IsZero() {
			n.OccurredAt = d.PaidAt.UTC()
		}
	}
	return n, nil
}

// parseRefundEvent reads refund.succeeded / refund.failed: a fact about a refund of a paid
// payment, never a payment status (Status stays empty, so nothing takes it for a payment, a
// failure or an expiry).
func parseRefundEvent(n providers.Notification, ev event, status providers.RefundStatus) (providers.Notification, error) {
	var d refund
	if err := json.Unmarshal(ev.Data, &d); err != nil {
		return providers.Notification{}, malformed("event %s (%s): decode refund: %v", ev.ID, ev.Type, err)
	}
	want := map[providers.RefundStatus]string{providers.RefundSucceeded: "succeeded", providers.RefundFailed: "failed"}[status]
	switch {
	case d.ID == "" || d.PaymentID == "" || d.OutTradeNo == "" || d.OutRefundNo == "":
		return providers.Notification{}, malformed("event %s (%s) lacks the refund id, payment id, out_trade_no or out_refund_no", ev.ID, ev.Type)
	case d.Amount <= 0 || !money.ValidCurrency(d.Currency):
		return providers.Notification{}, malformed("event %s (%s) for refund %s has amount %d %q", ev.ID, ev.Type, d.ID, d.Amount, d.Currency)
	case d.Status != want:
		return providers.Notification{}, malformed("event %s is %s but refund %s has status %q", ev.ID, ev.Type, d.ID, d.Status)
	}
	n.OutTradeNo, n.ProviderPaymentID, n.TransactionID, n.Currency = d.OutTradeNo, d.PaymentID, d.PaymentID, d.Currency
	fact := &providers.RefundFact{
		OutRefundNo: d.OutRefundNo, ProviderRefundID: d.ID, Status: status,
		AmountMinor: d.Amount, Currency: d.Currency,
	}
	if status == providers.RefundSucceeded {
		fact.RefundedAt = d.SucceededAt
	} else {
		fact.FailureReason = d.FailureReason
	}
	n.Refund = fact
	return n, nil
}

// Ack implements providers.Provider: "success" makes the gateway stop retrying; anything else,
// here "fail" with 400 for notifications that will never verify or parse and 500 otherwise,
// makes it retry. The error text is never sent.
func (c *Client) Ack(w http.ResponseWriter, err error) {
	providers.Acknowledge(w, err, "text/plain; charset=utf-8", "success", "fail")
}
