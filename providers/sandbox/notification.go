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

type event struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Created int64  `json:"created"`
	Data    struct {
		ID         string `json:"id"`
		OutTradeNo string `json:"out_trade_no"`
		Status     string `json:"status"`
		Amount     int64  `json:"amount"`
		Currency   string `json:"currency"`
	} `json:"data"`
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
	n := providers.Notification{
		ID: ev.ID, Type: ev.Type, OutTradeNo: ev.Data.OutTradeNo, ProviderPaymentID: ev.Data.ID,
		AmountMinor: ev.Data.Amount, Currency: ev.Data.Currency,
	}
	if ev.Created > 0 {
		n.OccurredAt = time.Unix(ev.Created, 0).UTC()
	}
	status, known := eventStatus[ev.Type]
	if !known {
		// An event kubepay does not act on: acknowledged and ignored (Status stays empty).
		return n, nil
	}
	switch {
	case ev.Data.ID == "" || ev.Data.OutTradeNo == "":
		return providers.Notification{}, malformed("event %s (%s) has no payment id or out_trade_no", ev.ID, ev.Type)
	case ev.Data.Amount <= 0 || !money.ValidCurrency(ev.Data.Currency):
		return providers.Notification{}, malformed("event %s (%s) for payment %s has amount %d %q", ev.ID, ev.Type, ev.Data.ID, ev.Data.Amount, ev.Data.Currency)
	case ev.Data.Status != string(status):
		return providers.Notification{}, malformed("event %s is %s but payment %s has status %q", ev.ID, ev.Type, ev.Data.ID, ev.Data.Status)
	}
	n.Status = status
	return n, nil
}

// Ack implements providers.Provider: "success" makes the gateway stop retrying; anything else,
// here "fail" with 400 for notifications that will never verify or parse and 500 otherwise,
// makes it retry. The error text is never sent.
func (c *Client) Ack(w http.ResponseWriter, err error) {
	providers.Acknowledge(w, err, "text/plain; charset=utf-8", "success", "fail")
}
