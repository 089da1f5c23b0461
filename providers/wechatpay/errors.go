package wechatpay

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/kubepay/kubepay/providers"
)

// Error codes of API v3 failure answers ({"code":..,"message":..}) this client acts on.
const (
	codeOrderNotExist     = "ORDER_NOT_EXIST"
	codeResourceNotExists = "RESOURCE_NOT_EXISTS"
	codeOrderPaid         = "ORDERPAID"
	codeOrderClosed       = "ORDER_CLOSED"
	codeOutTradeNoUsed    = "OUT_TRADE_NO_USED"
	codeSystemError       = "SYSTEM_ERROR"
	codeFrequencyLimited  = "FREQUENCY_LIMITED"
	codeBankError         = "BANK_ERROR"
	codeSignError         = "SIGN_ERROR"
	// tradeStateRefund is the trade_state of a paid order with refunds.
	tradeStateRefund = "REFUND"
)

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// errorCode is the answer's error code, or its HTTP status when it has none.
func (r reply) errorCode() string {
	var e apiError
	if json.Unmarshal(r.body, &e) == nil && e.Code != "" {
		return e.Code
	}
	return strconv.Itoa(r.status)
}

// answerError classifies a failure answer: throttling, WeChat Pay-side errors (5xx,
// SYSTEM_ERROR, BANK_ERROR, FREQUENCY_LIMITED) and anything not a client error are retryable;
// 401 and SIGN_ERROR are terminal and wrap providers.ErrCredentials, signed or not (WeChat Pay
// does not sign its answer to a request it could not authenticate); any other unsigned answer
// (a proxy's 404 page, a refusal nobody vouches for) is retryable; signed 4xx are terminal with
// WeChat Pay's code (ORDER_CLOSED, OUT_TRADE_NO_USED, PARAM_ERROR...). Only a signed 404
// ORDER_NOT_EXIST or RESOURCE_NOT_EXISTS is ErrNotFound.
func (c *Client) answerError(op, what string, r reply) error {
	var e apiError
	_ = json.Unmarshal(r.body, &e)
	code := r.errorCode()
	signed := ""
	if !r.signed {
		signed = ", unsigned"
	}
	msg := ""
	if e.Message != "" {
		msg = ": " + truncate(e.Message)
	}
	err := fmt.Errorf("%s at WeChat Pay %s: HTTP %d %s%s%s%s", what, c.endpoint.Host, r.status, code, msg, r.requestIDNote(), signed)
	switch {
	case r.signed && r.status == http.StatusNotFound && (code == codeOrderNotExist || code == codeResourceNotExists):
		return providers.Terminal(op, code, fmt.Errorf("%w: %w", providers.ErrNotFound, err))
	case r.status == http.StatusTooManyRequests, r.status >= 500, r.status == http.StatusRequestTimeout,
		code == codeSystemError, code == codeFrequencyLimited, code == codeBankError:
		return providers.Retryable(op, code, err)
	case r.status == http.StatusUnauthorized || code == codeSignError:
		return providers.Terminal(op, code, fmt.Errorf("%w: PaymentProvider %s/%s: %w", providers.ErrCredentials, c.namespace, c.name, err))
	case !r.signed:
		// Taking an answer nobody vouches for as final could fail a refund whose money moved,
		// or give up on an order that exists. Asking again is safe: every call is idempotent.
		return providers.Retryable(op, code, err)
	case r.status >= 400:
		return providers.Terminal(op, code, err)
	default:
		return providers.Retryable(op, code, err)
	}
}
