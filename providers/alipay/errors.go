package alipay

import (
	"fmt"

	"github.com/kubepay/kubepay/providers"
)

// Alipay's gateway codes (the "code" of every response object).
const (
	codeSuccess          = "10000"
	codeUnavailable      = "20000" // service unavailable: Alipay asks to try again
	codeInsufficientAuth = "20001" // the app lacks the authorisation for the call
	codeMissingParam     = "40001"
	codeInvalidParam     = "40002" // includes isv.invalid-signature, isv.invalid-app-id
	codeBusinessFailed   = "40004" // the sub_code says which
	codeNoPermission     = "40006"
)

// Business sub_codes of alipay.trade.query / alipay.trade.close this client acts on.
const (
	subTradeNotExist    = "ACQ.TRADE_NOT_EXIST"
	subTradeStatusError = "ACQ.TRADE_STATUS_ERROR"
	subTradeHasSuccess  = "ACQ.TRADE_HAS_SUCCESS"
	subTradeHasClose    = "ACQ.TRADE_HAS_CLOSE"
	subSystemError      = "ACQ.SYSTEM_ERROR"
)

// answerError classifies a failure answer. Alipay-side trouble (20000, ACQ.SYSTEM_ERROR, any
// isp.* sub_code) is retryable; authorisation and signature refusals are terminal and wrap
// providers.ErrCredentials, signed or not (Alipay cannot sign for an app it could not
// authenticate); any other unsigned answer is retryable, since nothing vouches that Alipay sent
// it; signed invalid requests and business refusals are terminal with the sub_code as the error
// code. Only a signed answer can mean ErrNotFound.
func (c *Client) answerError(op, what string, a answer) error {
	code := a.SubCode
	if code == "" {
		code = a.Code
	}
	msg := a.SubMsg
	if msg == "" {
		msg = a.Msg
	}
	signed := ""
	if !a.signed {
		signed = " (unsigned answer)"
	}
	err := fmt.Errorf("%s at Alipay %s: code %s, sub_code %q: %s%s", what, c.endpoint.Host, a.Code, a.SubCode, truncate(msg), signed)
	switch {
	case a.signed && a.SubCode == subTradeNotExist:
		return providers.Terminal(op, code, fmt.Errorf("%w: %w", providers.ErrNotFound, err))
	case a.Code == codeUnavailable, a.SubCode == subSystemError, len(a.SubCode) > 4 && a.SubCode[:4] == "isp.":
		return providers.Retryable(op, code, err)
	case a.Code == codeInsufficientAuth, a.Code == codeNoPermission,
		a.SubCode == "isv.invalid-signature", a.SubCode == "isv.invalid-app-id":
		return providers.Terminal(op, code, fmt.Errorf("%w: PaymentProvider %s/%s: %w", providers.ErrCredentials, c.namespace, c.name, err))
	case !a.signed:
		// A refusal nobody vouches for could be a proxy's or an attacker's: taking it as final
		// could fail a refund whose money moved. Asking again is always safe (every call is
		// idempotent).
		return providers.Retryable(op, code, err)
	case a.Code == codeMissingParam, a.Code == codeInvalidParam, a.Code == codeBusinessFailed:
		return providers.Terminal(op, code, err)
	default:
		// An unknown code: when in doubt about money, ask again.
		return providers.Retryable(op, code, err)
	}
}
