package stripe

import (
	"context"
	"errors"
	"fmt"

	stripego "github.com/stripe/stripe-go/v82"

	"github.com/kubepay/kubepay/providers"
)

// Query implements providers.Provider: it retrieves the session by id; without an id it replays
// this process's create request (see recall.go).
func (c *Client) Query(ctx context.Context, outTradeNo, providerPaymentID string) (providers.Payment, error) {
	const op = "query"
	s, what, err := c.session(ctx, op, outTradeNo, providerPaymentID)
	if err != nil {
		return providers.Payment{}, err
	}
	return c.payment(op, what, s)
}

// session finds the order's session: by id when known, else by replaying the create.
func (c *Client) session(ctx context.Context, op, outTradeNo, providerPaymentID string) (*stripego.CheckoutSession, string, error) {
	if providerPaymentID != "" {
		return c.retrieve(ctx, op, outTradeNo, providerPaymentID)
	}
	what := fmt.Sprintf("%s Checkout Session for out_trade_no %q", op, outTradeNo)
	if outTradeNo == "" {
		return nil, what, providers.Terminal(op, "invalid_argument", errors.New(op+" Checkout Session: neither out_trade_no nor session id given"))
	}
	in, ok := c.creates.recall(outTradeNo, c.now())
	if !ok {
		return nil, what, providers.Terminal(op, "not_found", fmt.Errorf("%w: %s: no session id is recorded and this process sent no create to replay (Stripe cannot look sessions up by client_reference_id)", providers.ErrNotFound, what))
	}
	s, err := c.createSession(ctx, in)
	switch {
	case err == nil:
		return s, what, nil
	case isInvalidRequest(err):
		// Stripe answers a replayed key with the first request's saved answer; refusing the
		// parameters means no create with them ever ran, so there is no session.
		return nil, what, providers.Terminal(op, "not_found", fmt.Errorf("%w: %s: replaying the create was refused, so none was made: %w", providers.ErrNotFound, what, c.classify(op, "replayed create", err)))
	}
	return nil, what, c.classify(op, what+" (replayed create)", err)
}

// retrieve reads a session by id and checks that it belongs to outTradeNo.
func (c *Client) retrieve(ctx context.Context, op, outTradeNo, id string) (*stripego.CheckoutSession, string, error) {
	what := fmt.Sprintf("%s Checkout Session %s (out_trade_no %q)", op, id, outTradeNo)
	if !validSessionID(id) {
		return nil, what, providers.Terminal(op, "invalid_id", fmt.Errorf("%s: %q is not a Checkout Session id", what, truncate(id, 64)))
	}
	s, err := c.api.V1CheckoutSessions.Retrieve(ctx, id, nil)
	if err != nil {
		return nil, what, c.classify(op, what, err)
	}
	// A session kubepay created always carries the out_trade_no; one with another is not this
	// order's, whatever its state.
	if outTradeNo != "" && s.ClientReferenceID != "" && s.ClientReferenceID != outTradeNo {
		return nil, what, providers.Terminal(op, "mismatch", fmt.Errorf("%s at Stripe %s: the session belongs to out_trade_no %q", what, c.endpoint, truncate(s.ClientReferenceID, 64)))
	}
	return s, what, nil
}
