package stripe

import (
	"fmt"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v82"

	"github.com/kubepay/kubepay/providers"
)

// sessionStatus maps a Checkout Session to a payment status. Only payment_status "paid" means the
// money moved: a "complete" session may still be waiting for a delayed payment method (bank
// debits), which ends in checkout.session.async_payment_succeeded or _failed.
func sessionStatus(s *stripego.CheckoutSession) providers.PaymentStatus {
	switch {
	case s.PaymentStatus == stripego.CheckoutSessionPaymentStatusPaid:
		return providers.StatusSucceeded
	case s.Status == stripego.CheckoutSessionStatusExpired:
		return providers.StatusClosed
	}
	return providers.StatusOpen
}

// payment maps a session answered by the API to providers.Payment. A session without an id or,
// for create, without a URL is not an answer kubepay can use: retryable, like a garbled answer.
func (c *Client) payment(op, what string, s *stripego.CheckoutSession) (providers.Payment, error) {
	if s == nil || !validSessionID(s.ID) || (op == "create" && s.URL == "") {
		return providers.Payment{}, providers.Retryable(op, "bad_response", fmt.Errorf("%s at Stripe %s: the answer has no usable session id or URL", what, c.endpoint))
	}
	p := providers.Payment{
		ID: s.ID, OutTradeNo: s.ClientReferenceID, Status: sessionStatus(s),
		Currency: strings.ToUpper(string(s.Currency)), PaymentURL: s.URL,
	}
	if s.ExpiresAt > 0 {
		// Stripe's expiry, up to 31 minutes after the order's (see sessionExpiry).
		p.ExpiresAt = time.Unix(s.ExpiresAt, 0).UTC()
	}
	if s.Status == stripego.CheckoutSessionStatusComplete && s.PaymentIntent != nil && validObjectID("pi_", s.PaymentIntent.ID) {
		// The PaymentIntent is the money movement: refunds are made on it.
		p.TransactionID = s.PaymentIntent.ID
	}
	if p.Currency != "" {
		minor, err := fromStripeAmount(s.AmountTotal, p.Currency)
		if err != nil {
			return providers.Payment{}, providers.Retryable(op, "bad_response", fmt.Errorf("%s at Stripe %s: session %s: %w", what, c.endpoint, s.ID, err))
		}
		p.AmountMinor = minor
	}
	return p, nil
}

// validSessionID accepts Stripe's id alphabet only ("cs_" then letters, digits, underscores), so
// an id read from a status field can never change the request path.
func validSessionID(id string) bool {
	if !strings.HasPrefix(id, "cs_") || len(id) > 255 {
		return false
	}
	for i := 3; i < len(id); i++ {
		b := id[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_') {
			return false
		}
	}
	return len(id) > 3
}
