package stripe

import (
	"context"
	"errors"
	"fmt"

	"github.com/kubepay/kubepay/providers"
)

// VerifySessionID is the Checkout Session Verify retrieves. Stripe's ids are random, so it
// cannot exist: Stripe answers resource_missing, which proves the key was accepted.
const VerifySessionID = "cs_kubepay_verify"

// Verify implements providers.Provider with the cheapest authenticated call: a retrieve of a
// session that cannot exist. Stripe's resource_missing means it accepted the key (so does a
// session, which is what stripe-mock answers for any id); 401/403 mean it refused the key
// (providers.ErrCredentials); anything else says nothing about the key and is retryable.
func (c *Client) Verify(ctx context.Context) error {
	const op = "verify"
	what := fmt.Sprintf("verify the API key of PaymentProvider %s/%s", c.namespace, c.name)
	_, err := c.api.V1CheckoutSessions.Retrieve(ctx, VerifySessionID, nil)
	if err == nil {
		return nil
	}
	err = c.classify(op, what, err)
	switch {
	case errors.Is(err, providers.ErrNotFound):
		return nil
	case errors.Is(err, providers.ErrCredentials) || providers.IsRetryable(err):
		return err
	}
	return providers.Retryable(op, providers.Code(err), errors.Unwrap(err))
}
