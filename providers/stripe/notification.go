package stripe

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/kubepay/kubepay/internal/money"
	"github.com/kubepay/kubepay/providers"
)

// Checkout Session event types kubepay acts on. Every other type is acknowledged and ignored.
const (
	EventSessionCompleted          = "checkout.session.completed"
	EventSessionAsyncPaymentOK     = "checkout.session.async_payment_succeeded"
	EventSessionAsyncPaymentFailed = "checkout.session.async_payment_failed"
	EventSessionExpired            = "checkout.session.expired"
	EventRefundCreated             = "refund.created"
	EventRefundUpdated             = "refund.updated"
	EventRefundFailed              = "refund.failed"
	EventChargeRefunded            = "charge.refunded"
)

// event is the part of a Stripe event kubepay reads. The event's api_version is not checked:
// these fields are the same in every API version, and a version mismatch must not refuse a
// genuine, validly signed payment.
type event struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Created int64  `json:"created"`
	// Livemode is a pointer so that an event without it is told from a test-mode event.
	Livemode *bool `json:"livemode"`
	Data     struct {
		Object json.RawMessage `json:"object"`
	} `json:"data"`
}

// sessionObject is the part of a Checkout Session kubepay reads from an event.
type sessionObject struct {
	Object            string            `json:"object"`
	ID                string            `json:"id"`
	Mode              string            `json:"mode"`
	ClientReferenceID string            `json:"client_reference_id"`
	AmountTotal       *int64            `json:"amount_total"`
	Currency          string            `json:"currency"`
	PaymentStatus     string            `json:"payment_status"`
	Status            string            `json:"status"`
	Metadata          map[string]string `json:"metadata"`
	Livemode          *bool             `json:"livemode"`
	PaymentIntent     json.RawMessage   `json:"payment_intent"`
}

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: Stripe webhook: %s", providers.ErrMalformed, fmt.Sprintf(format, a...))
}

// ParseNotification implements providers.Provider. It verifies the Stripe-Signature over the raw
// body before decoding a single byte of it.
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
	if err := c.checkMode(ev.ID, "", ev.Livemode); err != nil {
		return providers.Notification{}, err
	}
	n := providers.Notification{ID: ev.ID, Type: ev.Type}
	if ev.Created > 0 {
		n.OccurredAt = time.Unix(ev.Created, 0).UTC()
	}
	switch ev.Type {
	case EventSessionCompleted, EventSessionAsyncPaymentOK, EventSessionAsyncPaymentFailed, EventSessionExpired:
		return c.sessionEvent(n, ev)
	case EventRefundCreated, EventRefundUpdated, EventRefundFailed:
		return c.refundEvent(n, ev.Data.Object)
	case EventChargeRefunded:
		return c.chargeRefundedEvent(n, ev.Data.Object)
	}
	// An event kubepay does not act on: acknowledged and ignored (Status stays empty).
	return n, nil
}

// sessionEvent reads a Checkout Session event: the payment's fate.
func (c *Client) sessionEvent(n providers.Notification, ev event) (providers.Notification, error) {
	var s sessionObject
	if err := json.Unmarshal(ev.Data.Object, &s); err != nil {
		return providers.Notification{}, malformed("event %s (%s): decode session: %v", ev.ID, ev.Type, err)
	}
	if s.Object != "checkout.session" || !validSessionID(s.ID) {
		return providers.Notification{}, malformed("event %s (%s) does not carry a Checkout Session", ev.ID, ev.Type)
	}
	if s.Livemode != nil {
		if err := c.checkMode(ev.ID, "session "+s.ID, s.Livemode); err != nil {
			return providers.Notification{}, err
		}
	}
	if !c.ours(s) {
		// Stripe sends every event of the account to every endpoint: a session of another
		// PaymentProvider, namespace or integration is acknowledged (so Stripe stops retrying
		// and does not disable the endpoint) and ignored.
		return n, nil
	}
	n.ProviderPaymentID, n.OutTradeNo = s.ID, s.ClientReferenceID
	n.Currency = strings.ToUpper(s.Currency)
	switch {
	case s.ClientReferenceID == "":
		return providers.Notification{}, malformed("event %s (%s): session %s has no client_reference_id", ev.ID, ev.Type, s.ID)
	case s.AmountTotal == nil || *s.AmountTotal <= 0 || !money.ValidCurrency(n.Currency):
		return providers.Notification{}, malformed("event %s (%s): session %s has no positive amount_total in an ISO 4217 currency", ev.ID, ev.Type, s.ID)
	}
	minor, err := fromStripeAmount(*s.AmountTotal, n.Currency)
	if err != nil {
		return providers.Notification{}, malformed("event %s (%s): session %s: %v", ev.ID, ev.Type, s.ID, err)
	}
	n.AmountMinor = minor
	n.Status = eventStatus(ev.Type, s)
	if pi := objectID(s.PaymentIntent); s.Status == "complete" && validObjectID("pi_", pi) {
		// The PaymentIntent is the money movement: refunds are made on it.
		n.TransactionID = pi
	}
	return n, nil
}

// checkMode refuses an event or object whose livemode is not the API key's mode. The signature
// verified, so the event came from the endpoint whose secret this PaymentProvider holds; an
// event of the other mode means the webhook secret and the API key are of different modes
// (a test endpoint's secret beside a live key, or the reverse), so this PaymentProvider cannot
// vouch for it: a test-mode "payment" must never mark a live order paid. That is a failure to
// attribute the event to the account, like a wrong key, hence ErrSignature (refused with 400,
// counted as a rejected signature), not ErrMalformed, which would blame the event's content.
// An event must say its mode; an object inside it is checked when it says.
func (c *Client) checkMode(eventID, object string, livemode *bool) error {
	subject := "event " + eventID
	if object != "" {
		subject = object + " in event " + eventID
	}
	if livemode == nil {
		return malformed("%s has no livemode", subject)
	}
	if !c.live.matches(*livemode) {
		mode := "test"
		if *livemode {
			mode = "live"
		}
		return signatureError("%s is %s-mode, but PaymentProvider %s/%s has a %s-mode API key: the webhook secret and the API key are of different modes", subject, mode, c.namespace, c.name, c.live)
	}
	return nil
}

// objectID reads an expandable field: an id string, or an object with an id.
func objectID(raw json.RawMessage) string {
	var id string
	if json.Unmarshal(raw, &id) == nil {
		return id
	}
	var obj struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		return obj.ID
	}
	return ""
}

// ours reports whether kubepay created the session for this PaymentProvider, from the metadata
// Create puts on every session.
func (c *Client) ours(s sessionObject) bool {
	return s.Mode == "payment" && s.Metadata[MetadataNamespace] == c.namespace && s.Metadata[MetadataProvider] == c.name
}

// eventStatus is what a handled event says. Money moved only when the session's payment_status
// is "paid": checkout.session.completed for a delayed payment method arrives unpaid and is
// followed by async_payment_succeeded or _failed, so until then it changes nothing.
func eventStatus(typ string, s sessionObject) providers.PaymentStatus {
	switch typ {
	case EventSessionCompleted, EventSessionAsyncPaymentOK:
		if s.PaymentStatus == "paid" {
			return providers.StatusSucceeded
		}
	case EventSessionAsyncPaymentFailed:
		return providers.StatusFailed
	case EventSessionExpired:
		return providers.StatusClosed
	}
	return ""
}
