package stripe

import (
	"context"
	"fmt"

	stripego "github.com/stripe/stripe-go/v82"

	"github.com/kubepay/kubepay/providers"
)

// Create implements providers.Provider: one Checkout Session per order, created with
// Idempotency-Key = out_trade_no, so a repeat after a crash gets the session made the first time.
// The payment URL is the session's hosted page and the provider payment id is the session id.
func (c *Client) Create(ctx context.Context, order providers.Order) (providers.Payment, error) {
	const op = "create"
	unitAmount, err := checkCreatable(order)
	if err != nil {
		return providers.Payment{}, providers.Terminal(op, "invalid_order", fmt.Errorf("create Checkout Session for PaymentOrder %s/%s: %w", order.Namespace, order.Name, err))
	}
	now := c.now()
	in := createInputs{order: order, unitAmount: unitAmount, expiresAt: sessionExpiry(order.ExpiresAt, now), at: now}
	c.creates.remember(in)
	what := fmt.Sprintf("create Checkout Session for out_trade_no %q", order.OutTradeNo)
	s, err := c.createSession(ctx, in)
	if err != nil {
		return providers.Payment{}, c.classify(op, what, err)
	}
	return c.payment(op, what, s)
}

// createSession sends the create request built from in; errors are stripe-go's, unclassified.
func (c *Client) createSession(ctx context.Context, in createInputs) (*stripego.CheckoutSession, error) {
	return c.api.V1CheckoutSessions.Create(ctx, c.sessionParams(in.order, in.unitAmount, in.expiresAt))
}
