package wechatpay

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/kubepay/kubepay/providers"
)

// verifyOutTradeNo is the order Verify asks about: a valid out_trade_no (it goes into the path)
// that no kubepay order uses in practice; were there one, its signed answer would do as well.
const verifyOutTradeNo = "kubepay_credentials_check_000000"

// Verify implements providers.Provider with the cheapest signed call WeChat Pay has: a query of
// an order that does not exist. WeChat Pay's signed 404 ORDER_NOT_EXIST proves both halves of the
// credentials: it authenticated the request signed with the merchant key under its certificate
// serial, and its answer verified with the platform key. 401 and SIGN_ERROR wrap
// providers.ErrCredentials; anything else (network, unsigned or unverifiable answers, WeChat
// Pay-side trouble, other refusals) is retryable, since it says nothing about the credentials.
func (c *Client) Verify(ctx context.Context) error {
	const op = "verify"
	u := c.endpoint.JoinPath("/v3/pay/transactions/out-trade-no", verifyOutTradeNo)
	u.RawQuery = url.Values{"mchid": {c.mchID}}.Encode()
	what := fmt.Sprintf("verify credentials of PaymentProvider %s/%s with a query of order %q", c.namespace, c.name, verifyOutTradeNo)
	r, err := c.do(ctx, op, what, http.MethodGet, u, nil)
	if err != nil {
		// Network trouble or an answer that fails verification: retryable already.
		return err
	}
	if r.status == http.StatusOK {
		return nil
	}
	err = c.answerError(op, what, r)
	switch {
	case errors.Is(err, providers.ErrNotFound):
		return nil
	case errors.Is(err, providers.ErrCredentials), providers.IsRetryable(err):
		return err
	}
	var pe *providers.Error
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return providers.Retryable(op, r.errorCode(), fmt.Errorf("WeChat Pay did not confirm the credentials yet: %w", err))
}
