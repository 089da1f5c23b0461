package alipay

import (
	"context"
	"errors"
	"fmt"

	"github.com/kubepay/kubepay/providers"
)

// verifyOutTradeNo is the trade Verify asks about. No order can have it: kubepay's out_trade_nos
// are an orderID (6 to 32 characters) or a UID without dashes (32 hex digits), and this one is
// 40 characters long.
const verifyOutTradeNo = "kubepay_credentials_check_0000000000000"

// Verify implements providers.Provider with the cheapest signed call Alipay has: alipay.trade.query
// of a trade that does not exist. Alipay's signed ACQ.TRADE_NOT_EXIST proves both halves of the
// credentials: it accepted the request signed with the appPrivateKey, and its answer verified
// with the alipayPublicKey. isv.invalid-signature, isv.invalid-app-id and the authorisation codes
// wrap providers.ErrCredentials; anything else (network, unsigned or unverifiable answers,
// Alipay-side trouble) is retryable, since it says nothing about the credentials.
func (c *Client) Verify(ctx context.Context) error {
	const op = "verify"
	_, err := c.call(ctx, op, "alipay.trade.query", "verify credentials with a query of trade "+verifyOutTradeNo, tradeRef{OutTradeNo: verifyOutTradeNo})
	switch {
	case err == nil, errors.Is(err, providers.ErrNotFound):
		// A signed answer either way; a trade by that name would be odd, but Alipay answered.
		return nil
	case errors.Is(err, providers.ErrCredentials):
		return err
	}
	cause := err
	var pe *providers.Error
	if errors.As(err, &pe) {
		cause = pe.Err
	}
	return providers.Retryable(op, providers.Code(err), fmt.Errorf("PaymentProvider %s/%s: Alipay did not confirm the credentials yet: %w", c.namespace, c.name, cause))
}
