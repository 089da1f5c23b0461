package stripe

import (
	"context"
	"fmt"

	stripego "github.com/stripe/stripe-go/v82"

	"github.com/kubepay/kubepay/providers"
)

// Close implements providers.Provider by expiring the session, after which nobody can pay it.
// Stripe expires only open sessions, so the state decides first: an expired session is already
// closed (nil); a complete one is paid, or its delayed payment is under way, which must not be
// treated as unpaid (providers.ErrAlreadyPaid; the controller's next query settles the order).
func (c *Client) Close(ctx context.Context, outTradeNo, providerPaymentID string) error {
	const op = "close"
	s, what, err := c.session(ctx, op, outTradeNo, providerPaymentID)
	if err != nil {
		return err
	}
	if done, err := c.closed(op, what, s); done {
		return err
	}
	_, expireErr := c.api.V1CheckoutSessions.Expire(ctx, s.ID, nil)
	if expireErr == nil {
		return nil
	}
	if isInvalidRequest(expireErr) {
		// Refused because it stopped being open since the read (paid, or expired by Stripe).
		fresh, _, err := c.retrieve(ctx, op, outTradeNo, s.ID)
		if err != nil {
			return err
		}
		if done, err := c.closed(op, what, fresh); done {
			return err
		}
	}
	return c.classify(op, fmt.Sprintf("expire Checkout Session %s (out_trade_no %q)", s.ID, outTradeNo), expireErr)
}

// closed reports whether s needs no expiring, and the answer Close gives for it.
func (c *Client) closed(op, what string, s *stripego.CheckoutSession) (bool, error) {
	switch {
	case s.PaymentStatus == stripego.CheckoutSessionPaymentStatusPaid:
		return true, providers.Terminal(op, "already_paid", fmt.Errorf("%w: %s at Stripe %s: session %s is paid", providers.ErrAlreadyPaid, what, c.endpoint, s.ID))
	case s.Status == stripego.CheckoutSessionStatusComplete:
		return true, providers.Terminal(op, "already_paid", fmt.Errorf("%w: %s at Stripe %s: session %s is complete and its payment is processing", providers.ErrAlreadyPaid, what, c.endpoint, s.ID))
	case s.Status == stripego.CheckoutSessionStatusExpired:
		return true, nil
	}
	return false, nil
}
