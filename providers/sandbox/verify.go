package sandbox

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/kubepay/kubepay/providers"
)

// VerifyOutTradeNo is the out_trade_no Verify looks up. kubepay never creates a payment with it
// (generated out_trade_nos are longer and derived from object UIDs), so the gateway answers
// payment_not_found; a payment that happens to exist with it proves the key just as well.
const VerifyOutTradeNo = "kubepay-verify"

// Verify implements providers.Provider with the cheapest authenticated call: a lookup of a
// payment that does not exist. The gateway's structured answer, found or not found, means it
// accepted the API key; 401/403 mean it refused it (providers.ErrCredentials); anything else
// (a proxy's 404, a 5xx, a network failure) says nothing about the key and is retryable.
func (c *Client) Verify(ctx context.Context) error {
	const op = "verify"
	what := fmt.Sprintf("verify the API key of PaymentProvider %s/%s", c.namespace, c.name)
	u := c.endpoint.JoinPath("v1", "payments")
	u.RawQuery = url.Values{"out_trade_no": {VerifyOutTradeNo}}.Encode()
	status, body, err := c.do(ctx, op, what, http.MethodGet, u, nil, "")
	if err != nil {
		return err
	}
	switch {
	case status == http.StatusOK:
		// Only a payment object is the gateway's answer: a catch-all page answering 200 is not.
		if _, err := c.decodePayment(op, what, body); err != nil {
			return err
		}
		return nil
	case status == http.StatusNotFound && apiErrorCode(body) == codePaymentNotFound:
		return nil
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return c.classify(op, what, status, body)
	}
	code := apiErrorCode(body)
	if code == "" {
		code = fmt.Sprint(status)
	}
	return providers.Retryable(op, code, c.answerError(what, status, body))
}
