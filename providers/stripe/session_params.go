package stripe

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v82"

	"github.com/kubepay/kubepay/internal/money"
	"github.com/kubepay/kubepay/providers"
)

// Metadata keys kubepay puts on every Checkout Session and its PaymentIntent, so a payment can be
// traced to its PaymentOrder from the Stripe dashboard, and so webhook events about sessions
// another PaymentProvider (or another integration) created can be told apart.
const (
	MetadataNamespace  = "kubepay.io/namespace"
	MetadataName       = "kubepay.io/name"
	MetadataProvider   = "kubepay.io/provider"
	MetadataOutTradeNo = "kubepay.io/out_trade_no"
)

// ChannelCard is the only PaymentOrder channel this provider serves: Stripe's card payments.
const ChannelCard = "card"

// DefaultSuccessURL is where Stripe sends the customer after paying when the order has no
// returnURL and the PaymentProvider no callbackBaseURL to derive one from. Stripe requires a
// success_url for hosted Checkout.
const DefaultSuccessURL = "https://stripe.com/"

// Stripe accepts a session expiry between 30 minutes and 24 hours after the session is created.
const (
	stripeMinExpiry = 30 * time.Minute
	stripeMaxExpiry = 24 * time.Hour
	// expirySkew absorbs the request's transit and the difference between our clock and Stripe's.
	expirySkew = time.Minute
)

// maxReferenceLen is Stripe's limit on client_reference_id (the Idempotency-Key allows 255).
const maxReferenceLen = 200

// sessionExpiry is the expires_at sent for an order expiring at orderExpiry, or 0 to send none.
//
// It must depend on the order only: Stripe answers a replayed Idempotency-Key with the saved
// session only when every parameter is identical, and errors otherwise, so a create replayed
// after a crash must compute the same value as the first attempt. Clamping the order's expiry to
// "now + 30 min" would differ on every replay. Since the controller never creates a payment
// after the order's expiry, orderExpiry + 30 min (+ skew) is always at least Stripe's minimum.
// The session therefore outlives the order by 31 minutes; that costs nothing, because the
// controller expires the session itself (Close) when the order expires, after a last query that
// turns a payment made meanwhile into Paid. Orders expiring more than about 23.5 hours ahead
// get no expires_at, i.e. Stripe's default of 24 hours after the session's creation; such an
// order becomes Cancelled when Stripe expires its session first (checkout.session.expired).
func sessionExpiry(orderExpiry, now time.Time) int64 {
	if orderExpiry.IsZero() {
		return 0
	}
	at := orderExpiry.Add(stripeMinExpiry + expirySkew)
	if at.After(now.Add(stripeMaxExpiry - expirySkew)) {
		return 0
	}
	return at.Unix()
}

// successURL is the order's returnURL; without one, the root of the callback server's public
// host (the merchant's own domain, where an ingress can serve a "thank you" page), else
// DefaultSuccessURL.
func successURL(o providers.Order) string {
	if o.ReturnURL != "" {
		return o.ReturnURL
	}
	if u, err := url.Parse(o.NotifyURL); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		return u.Scheme + "://" + u.Host + "/"
	}
	return DefaultSuccessURL
}

// checkCreatable refuses, before any API call, orders this provider cannot take.
func checkCreatable(o providers.Order) (int64, error) {
	switch {
	case o.Channel != ChannelCard:
		return 0, fmt.Errorf("channel %q is not served by the stripe provider (only %q)", o.Channel, ChannelCard)
	case o.OutTradeNo == "" || len(o.OutTradeNo) > maxReferenceLen || strings.TrimSpace(o.OutTradeNo) != o.OutTradeNo:
		return 0, fmt.Errorf("out_trade_no %q is empty, padded or longer than %d characters", o.OutTradeNo, maxReferenceLen)
	case o.AmountMinor <= 0 || !money.ValidCurrency(o.Currency):
		return 0, fmt.Errorf("amount %d %q is not a positive amount in an ISO 4217 currency", o.AmountMinor, o.Currency)
	case strings.TrimSpace(o.Subject) == "":
		return 0, fmt.Errorf("subject is empty; Stripe needs a product name")
	}
	return toStripeAmount(o.AmountMinor, o.Currency)
}

// sessionParams builds the create request. It is a pure function of its arguments, so that a
// replay sends exactly the parameters of the first attempt.
func (c *Client) sessionParams(o providers.Order, unitAmount, expiresAt int64) *stripego.CheckoutSessionCreateParams {
	meta := c.sessionMetadata(o)
	product := &stripego.CheckoutSessionCreateLineItemPriceDataProductDataParams{Name: stripego.String(o.Subject)}
	intent := &stripego.CheckoutSessionCreatePaymentIntentDataParams{Metadata: meta}
	if o.Description != "" {
		product.Description = stripego.String(o.Description)
		intent.Description = stripego.String(o.Description)
	}
	p := &stripego.CheckoutSessionCreateParams{
		Mode:               stripego.String(string(stripego.CheckoutSessionModePayment)),
		ClientReferenceID:  stripego.String(o.OutTradeNo),
		PaymentMethodTypes: []*string{stripego.String(ChannelCard)},
		LineItems: []*stripego.CheckoutSessionCreateLineItemParams{{
			PriceData: &stripego.CheckoutSessionCreateLineItemPriceDataParams{
				Currency:    stripego.String(strings.ToLower(o.Currency)),
				UnitAmount:  stripego.Int64(unitAmount),
				ProductData: product,
			},
			Quantity: stripego.Int64(1),
		}},
		// Adaptive Pricing would let the customer pay in another currency; the amount and
		// currency kubepay checks against the order must be the order's own.
		AdaptivePricing:   &stripego.CheckoutSessionCreateAdaptivePricingParams{Enabled: stripego.Bool(false)},
		Metadata:          meta,
		PaymentIntentData: intent,
		SuccessURL:        stripego.String(successURL(o)),
	}
	if o.ReturnURL != "" {
		p.CancelURL = stripego.String(o.ReturnURL)
	}
	if expiresAt != 0 {
		p.ExpiresAt = stripego.Int64(expiresAt)
	}
	p.SetIdempotencyKey(o.OutTradeNo)
	return p
}

// sessionMetadata is the order's metadata plus kubepay's keys, which win over the order's own so
// that they can be trusted when an event comes back.
func (c *Client) sessionMetadata(o providers.Order) map[string]string {
	m := make(map[string]string, len(o.Metadata)+4)
	for k, v := range o.Metadata {
		m[k] = v
	}
	ns := o.Namespace
	if ns == "" {
		ns = c.namespace
	}
	m[MetadataNamespace] = ns
	m[MetadataProvider] = c.name
	m[MetadataOutTradeNo] = o.OutTradeNo
	if o.Name != "" {
		m[MetadataName] = o.Name
	}
	return m
}
