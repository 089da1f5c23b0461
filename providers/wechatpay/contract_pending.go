package wechatpay

import (
	"context"

	"github.com/kubepay/kubepay/providers"
)

// Placeholders for the parts of the provider contract this package does not implement yet; they
// refuse clearly instead of pretending.

// Refund is not implemented yet.
func (c *Client) Refund(context.Context, providers.RefundRequest) (providers.Refund, error) {
	return providers.Refund{}, providers.Terminal("refund", "", providers.ErrNotImplemented)
}

// QueryRefund is not implemented yet.
func (c *Client) QueryRefund(context.Context, providers.RefundRequest) (providers.Refund, error) {
	return providers.Refund{}, providers.Terminal("query_refund", "", providers.ErrNotImplemented)
}
