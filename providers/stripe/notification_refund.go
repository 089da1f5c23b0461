package stripe

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/kubepay/kubepay/internal/money"
	"github.com/kubepay/kubepay/providers"
)

// refundObject is the part of a Stripe refund kubepay reads from an event.
type refundObject struct {
	Object        string            `json:"object"`
	ID            string            `json:"id"`
	Amount        *int64            `json:"amount"`
	Currency      string            `json:"currency"`
	Status        string            `json:"status"`
	FailureReason string            `json:"failure_reason"`
	Created       int64             `json:"created"`
	Metadata      map[string]string `json:"metadata"`
	PaymentIntent json.RawMessage   `json:"payment_intent"`
}

// chargeObject is the part of a charge kubepay reads from charge.refunded.
type chargeObject struct {
	Object         string          `json:"object"`
	ID             string          `json:"id"`
	Livemode       *bool           `json:"livemode"`
	Currency       string          `json:"currency"`
	AmountRefunded *int64          `json:"amount_refunded"`
	PaymentIntent  json.RawMessage `json:"payment_intent"`
	// Refunds is listed only when the endpoint's API version still expands it (before
	// 2022-11-15) or the event was built with it expanded.
	Refunds *struct {
		Data []refundObject `json:"data"`
	} `json:"refunds"`
}

// refundEvent reads refund.created, refund.updated and refund.failed: a fact about one refund,
// never a payment status (Status stays empty). Refunds kubepay did not create for this
// PaymentProvider (made in the dashboard, by another integration or another PaymentProvider of
// the account) are acknowledged and ignored.
func (c *Client) refundEvent(n providers.Notification, raw json.RawMessage) (providers.Notification, error) {
	var r refundObject
	if err := json.Unmarshal(raw, &r); err != nil {
		return providers.Notification{}, malformed("event %s (%s): decode refund: %v", n.ID, n.Type, err)
	}
	if r.Object != "refund" {
		return providers.Notification{}, malformed("event %s (%s) does not carry a refund", n.ID, n.Type)
	}
	if !c.ownsRefund(r) {
		return n, nil
	}
	fact, err := c.refundFact(n, r)
	if err != nil {
		return providers.Notification{}, err
	}
	if n.Type == EventRefundFailed && fact.Status != providers.RefundFailed {
		return providers.Notification{}, malformed("event %s is %s but refund %s has status %q", n.ID, n.Type, r.ID, truncate(r.Status, 32))
	}
	return c.withRefund(n, r, fact), nil
}

// chargeRefundedEvent reads charge.refunded. Stripe sends it for every refund of the charge,
// and it names the refund only through charge.refunds, which recent API versions no longer
// include: the fact is taken from the newest refund kubepay made for this PaymentProvider in
// that list, with the charge's cumulative amount_refunded. Without such a refund the event is
// acknowledged and ignored; refund.created/updated/failed report every refund individually.
func (c *Client) chargeRefundedEvent(n providers.Notification, raw json.RawMessage) (providers.Notification, error) {
	var ch chargeObject
	if err := json.Unmarshal(raw, &ch); err != nil {
		return providers.Notification{}, malformed("event %s (%s): decode charge: %v", n.ID, n.Type, err)
	}
	if ch.Object != "charge" || !validObjectID("ch_", ch.ID) && !validObjectID("py_", ch.ID) {
		return providers.Notification{}, malformed("event %s (%s) does not carry a charge", n.ID, n.Type)
	}
	if ch.Livemode != nil {
		if err := c.checkMode(n.ID, "charge "+ch.ID, ch.Livemode); err != nil {
			return providers.Notification{}, err
		}
	}
	if ch.Refunds == nil {
		return n, nil
	}
	var newest *refundObject
	for i := range ch.Refunds.Data {
		r := &ch.Refunds.Data[i]
		if c.ownsRefund(*r) && (newest == nil || r.Created >= newest.Created) {
			newest = r
		}
	}
	if newest == nil {
		return n, nil
	}
	if len(newest.PaymentIntent) == 0 {
		newest.PaymentIntent = ch.PaymentIntent
	}
	fact, err := c.refundFact(n, *newest)
	if err != nil {
		return providers.Notification{}, err
	}
	if ch.AmountRefunded != nil && strings.EqualFold(ch.Currency, newest.Currency) {
		total, err := fromStripeAmount(*ch.AmountRefunded, fact.Currency)
		if err != nil {
			return providers.Notification{}, malformed("event %s (%s): charge %s amount_refunded: %v", n.ID, n.Type, ch.ID, err)
		}
		fact.TotalRefundedMinor = total
	}
	return c.withRefund(n, *newest, fact), nil
}

// ownsRefund reports whether kubepay created the refund for this PaymentProvider, from the
// metadata Refund puts on every refund.
func (c *Client) ownsRefund(r refundObject) bool {
	return r.Metadata[MetadataOutRefundNo] != "" && r.Metadata[MetadataNamespace] == c.namespace && r.Metadata[MetadataProvider] == c.name
}

// refundFact validates a refund kubepay made and turns it into the notification's fact.
func (c *Client) refundFact(n providers.Notification, r refundObject) (*providers.RefundFact, error) {
	currency := strings.ToUpper(r.Currency)
	switch {
	case !validObjectID("re_", r.ID) && !validObjectID("pyr_", r.ID):
		return nil, malformed("event %s (%s): refund id outside Stripe's alphabet", n.ID, n.Type)
	case r.Amount == nil || *r.Amount <= 0 || !money.ValidCurrency(currency):
		return nil, malformed("event %s (%s): refund %s has no positive amount in an ISO 4217 currency", n.ID, n.Type, r.ID)
	}
	minor, err := fromStripeAmount(*r.Amount, currency)
	if err != nil {
		return nil, malformed("event %s (%s): refund %s: %v", n.ID, n.Type, r.ID, err)
	}
	status, failure, ok := refundStatus(r.Status, r.FailureReason)
	if !ok {
		return nil, malformed("event %s (%s): refund %s has unknown status %q", n.ID, n.Type, r.ID, truncate(r.Status, 32))
	}
	fact := &providers.RefundFact{
		OutRefundNo: r.Metadata[MetadataOutRefundNo], ProviderRefundID: r.ID, Status: status,
		AmountMinor: minor, Currency: currency, FailureReason: failure,
	}
	if status == providers.RefundSucceeded {
		// Stripe reports no completion time on a refund: the time of the event saying it
		// succeeded is the closest, or for one that succeeded at once, its creation.
		fact.RefundedAt = n.OccurredAt
		if n.Type == EventRefundCreated && r.Created > 0 {
			fact.RefundedAt = time.Unix(r.Created, 0).UTC()
		}
	}
	return fact, nil
}

// withRefund completes the notification of a refund fact: the payment is named by the
// out_trade_no kubepay put in the refund's metadata and by the PaymentIntent.
func (c *Client) withRefund(n providers.Notification, r refundObject, fact *providers.RefundFact) providers.Notification {
	n.Refund = fact
	n.OutTradeNo = r.Metadata[MetadataOutTradeNo]
	n.Currency = fact.Currency
	if pi := objectID(r.PaymentIntent); validObjectID("pi_", pi) {
		n.TransactionID = pi
		if n.OutTradeNo == "" {
			n.OutTradeNo = expandedOutTradeNo(r.PaymentIntent)
		}
	}
	return n
}

// expandedOutTradeNo is the out_trade_no in an expanded PaymentIntent's metadata (Create puts
// it there through payment_intent_data), or "".
func expandedOutTradeNo(raw json.RawMessage) string {
	var pi struct {
		Metadata map[string]string `json:"metadata"`
	}
	if json.Unmarshal(raw, &pi) != nil {
		return ""
	}
	return pi.Metadata[MetadataOutTradeNo]
}
