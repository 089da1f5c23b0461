package wechatpay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/kubepay/kubepay/internal/money"
	"github.com/kubepay/kubepay/providers"
)

// Refund statuses of WeChat Pay API v3.
const (
	refundSuccess    = "SUCCESS"
	refundProcessing = "PROCESSING"
	refundClosed     = "CLOSED"
	refundAbnormal   = "ABNORMAL"
)

// Refund refusals this client names.
const (
	// codeInvalidRequest: "the request is well-formed but breaks a business rule"; the message
	// says which (over-refund: "申请退款金额超过订单可退金额").
	codeInvalidRequest = "INVALID_REQUEST"
	// codeRefundNoUsed is this client's code for a refund number WeChat Pay already holds a
	// refund of another amount or order under.
	codeRefundNoUsed = "out_refund_no_used"
)

// maxRefundReason is WeChat Pay's limit on reason, in characters.
const maxRefundReason = 80

type refundAmountReq struct {
	Refund   int64  `json:"refund"`
	Total    int64  `json:"total"`
	Currency string `json:"currency"`
}

// refundRequest is the body of POST /v3/refund/domestic/refunds. A struct keeps the JSON field
// order fixed, so a retry sends the same request.
type refundRequest struct {
	TransactionID string          `json:"transaction_id,omitempty"`
	OutTradeNo    string          `json:"out_trade_no,omitempty"`
	OutRefundNo   string          `json:"out_refund_no"`
	Reason        string          `json:"reason,omitempty"`
	NotifyURL     string          `json:"notify_url,omitempty"`
	Amount        refundAmountReq `json:"amount"`
}

// refundAnswer is the refund as the refund and refund query APIs answer it.
type refundAnswer struct {
	RefundID      string `json:"refund_id"`
	OutRefundNo   string `json:"out_refund_no"`
	TransactionID string `json:"transaction_id"`
	OutTradeNo    string `json:"out_trade_no"`
	SuccessTime   string `json:"success_time"`
	Status        string `json:"status"`
	Amount        struct {
		Total    int64  `json:"total"`
		Refund   int64  `json:"refund"`
		Currency string `json:"currency"`
	} `json:"amount"`
}

// refundTarget checks what names the payment and the refund, and returns the request body's
// references and a description for errors.
func refundTarget(op string, req providers.RefundRequest) (refundRequest, string, error) {
	body := refundRequest{OutRefundNo: req.OutRefundNo}
	otn := req.OutTradeNo
	if otn == "" {
		// The payment ID this client hands out is the out_trade_no.
		otn = req.ProviderPaymentID
	}
	switch {
	case otn != "":
		if !validOutTradeNo(otn) {
			return body, "", providers.Terminal(op, "invalid_argument", fmt.Errorf("%s %q: %q is not a WeChat Pay out_trade_no", op, truncate(req.OutRefundNo), truncate(otn)))
		}
		body.OutTradeNo = otn
	case req.TransactionID != "":
		body.TransactionID = req.TransactionID
	default:
		return body, "", providers.Terminal(op, "invalid_argument", fmt.Errorf("%s %q: neither out_trade_no nor transaction_id given", op, truncate(req.OutRefundNo)))
	}
	if !validRefundNo(req.OutRefundNo) {
		return body, "", providers.Terminal(op, "invalid_out_refund_no", fmt.Errorf("%s %q: WeChat Pay's out_refund_no is 1 to 64 digits, letters and _-|*@", op, truncate(req.OutRefundNo)))
	}
	order := body.OutTradeNo
	if order == "" {
		order = "transaction_id " + body.TransactionID
	}
	return body, fmt.Sprintf("refund %q of order %q", req.OutRefundNo, order), nil
}

// Refund implements providers.Provider: POST /v3/refund/domestic/refunds. WeChat Pay keys
// refunds on out_refund_no ("the same refund number requested many times refunds once") and
// answers a repeat with the refund it holds, so a retry after a lost answer is that refund, never
// a second one. Refunds are usually PROCESSING when accepted; the result comes with the
// REFUND.* notification or QueryRefund.
func (c *Client) Refund(ctx context.Context, req providers.RefundRequest) (providers.Refund, error) {
	const op = "refund"
	body, what, err := refundTarget(op, req)
	if err != nil {
		return providers.Refund{}, err
	}
	switch {
	case req.Currency != "" && req.Currency != "CNY":
		return providers.Refund{}, providers.Terminal(op, "unsupported_currency", fmt.Errorf("%s: WeChat Pay refunds CNY, the refund is in %q", what, truncate(req.Currency)))
	case req.AmountMinor <= 0:
		return providers.Refund{}, providers.Terminal(op, "invalid_amount", fmt.Errorf("%s: amount %d fen is not positive", what, req.AmountMinor))
	case req.Amount != "" && !sameAmount(req.Amount, req.AmountMinor):
		return providers.Refund{}, providers.Terminal(op, "invalid_amount", fmt.Errorf("%s: amount %q does not match %d fen", what, truncate(req.Amount), req.AmountMinor))
	case req.TotalMinor <= 0:
		// amount.total is required: WeChat Pay checks it against the order.
		return providers.Refund{}, providers.Terminal(op, "invalid_request", fmt.Errorf("%s: WeChat Pay needs the payment's total (amount.total), and the request has none", what))
	case req.AmountMinor > req.TotalMinor:
		return providers.Refund{}, providers.Terminal(op, "refund_exceeds_payment", fmt.Errorf("%w: %s: %d fen is more than the payment's %d", providers.ErrRefundExceedsPayment, what, req.AmountMinor, req.TotalMinor))
	}
	body.Reason, body.NotifyURL = clip(req.Reason, maxRefundReason), req.NotifyURL
	body.Amount = refundAmountReq{Refund: req.AmountMinor, Total: req.TotalMinor, Currency: "CNY"}
	r, err := c.do(ctx, op, what, http.MethodPost, c.endpoint.JoinPath("/v3/refund/domestic/refunds"), body)
	if err != nil {
		return providers.Refund{}, err
	}
	if r.status == http.StatusOK {
		return c.refundFromAnswer(op, what, req, r)
	}
	return c.refundRefused(ctx, op, what, req, r)
}

// refundRefused classifies a failed refund request. Before a signed refusal is taken as final,
// the refund number is looked up: WeChat Pay answers a repeat with the refund it holds, but if it
// refused one instead (the refund itself having used up the order), the refund it holds under
// that number with that amount is the answer. Signed over-refund refusals wrap
// providers.ErrRefundExceedsPayment.
func (c *Client) refundRefused(ctx context.Context, op, what string, req providers.RefundRequest, r reply) (providers.Refund, error) {
	err := c.answerError(op, what, r)
	code := r.errorCode()
	if !r.signed || providers.IsRetryable(err) || errors.Is(err, providers.ErrCredentials) || errors.Is(err, providers.ErrNotFound) {
		return providers.Refund{}, err
	}
	held, qerr := c.QueryRefund(ctx, req)
	switch {
	case qerr == nil:
		// refundFromAnswer has checked amount and order against the request.
		return held, nil
	case providers.Code(qerr) == codeRefundNoUsed:
		return providers.Refund{}, qerr
	case !errors.Is(qerr, providers.ErrNotFound):
		return providers.Refund{}, providers.Retryable(op, code, fmt.Errorf("%s: WeChat Pay refused it (%s) and the query to tell a refusal from a refund already made failed: %w", what, code, qerr))
	}
	var e apiError
	_ = json.Unmarshal(r.body, &e)
	if code == codeInvalidRequest && exceedsRefundable(e.Message) {
		return providers.Refund{}, providers.Terminal(op, code, fmt.Errorf("%w: %w", providers.ErrRefundExceedsPayment, err))
	}
	return providers.Refund{}, err
}

// exceedsRefundable reports whether an INVALID_REQUEST message says the refund is more than what
// is left of the order ("申请退款金额超过订单可退金额", "订单已全额退款"). WeChat Pay documents the
// code, not the messages, so anything else stays a plain terminal refusal.
func exceedsRefundable(msg string) bool {
	return strings.Contains(msg, "可退金额") || strings.Contains(msg, "全额退款") ||
		(strings.Contains(msg, "退款金额") && strings.Contains(msg, "超过"))
}

// QueryRefund implements providers.Provider: GET /v3/refund/domestic/refunds/{out_refund_no}. A
// signed 404 RESOURCE_NOT_EXISTS is providers.ErrNotFound: WeChat Pay holds no refund under the
// number, and sending the refund again with it cannot refund twice.
func (c *Client) QueryRefund(ctx context.Context, req providers.RefundRequest) (providers.Refund, error) {
	const op = "query_refund"
	_, what, err := refundTarget(op, req)
	if err != nil {
		return providers.Refund{}, err
	}
	what = "query " + what
	r, err := c.do(ctx, op, what, http.MethodGet, c.endpoint.JoinPath("/v3/refund/domestic/refunds", req.OutRefundNo), nil)
	if err != nil {
		return providers.Refund{}, err
	}
	if r.status != http.StatusOK {
		return providers.Refund{}, c.answerError(op, what, r)
	}
	return c.refundFromAnswer(op, what, req, r)
}

// refundFromAnswer reads a signed refund answer: SUCCESS is succeeded, PROCESSING processing,
// CLOSED failed, ABNORMAL still in flight with the reason a person must act. A refund held under the number for another order or amount is not
// this refund: terminal, since the number cannot be used for this one.
func (c *Client) refundFromAnswer(op, what string, req providers.RefundRequest, r reply) (providers.Refund, error) {
	var a refundAnswer
	if err := json.Unmarshal(r.body, &a); err != nil {
		return providers.Refund{}, providers.Retryable(op, "bad_response", fmt.Errorf("%s at WeChat Pay %s: decode answer: %w", what, c.endpoint.Host, err))
	}
	if a.OutRefundNo != req.OutRefundNo {
		// Signed, but about another refund: nothing can be concluded about this one.
		return providers.Refund{}, providers.Retryable(op, "mismatch", fmt.Errorf("%s at WeChat Pay %s: answer is about refund %q", what, c.endpoint.Host, truncate(a.OutRefundNo)))
	}
	otn := req.OutTradeNo
	if otn == "" {
		otn = req.ProviderPaymentID
	}
	if (otn != "" && a.OutTradeNo != otn) || (otn == "" && req.TransactionID != "" && a.TransactionID != req.TransactionID) || a.Amount.Refund != req.AmountMinor {
		return providers.Refund{}, providers.Terminal(op, codeRefundNoUsed, fmt.Errorf("%s at WeChat Pay %s: WeChat Pay holds refund %q of %d fen for order %q under this number, not this refund of %d fen; a refund needs a number of its own", what, c.endpoint.Host, truncate(a.RefundID), a.Amount.Refund, truncate(a.OutTradeNo), req.AmountMinor))
	}
	out := providers.Refund{ID: a.RefundID, OutRefundNo: a.OutRefundNo, OutTradeNo: a.OutTradeNo, AmountMinor: a.Amount.Refund, Currency: "CNY"}
	if a.Amount.Currency != "" {
		out.Currency = a.Amount.Currency
	}
	switch a.Status {
	case refundSuccess:
		out.Status = providers.RefundSucceeded
		out.RefundedAt, _ = time.Parse(time.RFC3339, a.SuccessTime)
	case refundProcessing:
		out.Status = providers.RefundProcessing
	case refundClosed:
		out.Status, out.FailureReason = providers.RefundFailed, "WeChat Pay closed the refund; no money moved"
	case refundAbnormal:
		// Not failed: the money left the merchant's balance and waits for a person to send it
		// elsewhere. Kept in flight, its reservation held, so it can never be refunded twice.
		out.Status, out.FailureReason = providers.RefundProcessing, abnormalReason
	default:
		return providers.Refund{}, providers.Retryable(op, "bad_response", fmt.Errorf("%s at WeChat Pay %s: unknown refund status %q", what, c.endpoint.Host, truncate(a.Status)))
	}
	return out, nil
}

// abnormalReason explains ABNORMAL, which needs a person: the money could not reach the payer's
// account (a closed or frozen card), and WeChat Pay waits for the merchant to send it elsewhere.
const abnormalReason = "WeChat Pay marked the refund ABNORMAL: the money could not be returned to the payer's account; " +
	"it must be handled at the merchant platform (pay.weixin.qq.com) or with the abnormal-refund API"

// sameAmount reports whether the decimal amount says minor fen.
func sameAmount(amount string, minor int64) bool {
	m, err := money.ToMinor(amount, "CNY")
	return err == nil && m == minor
}

// validRefundNo is WeChat Pay's rule for out_refund_no: 1 to 64 of digits, letters and _-|*@. It
// also keeps the value from changing the query's path.
func validRefundNo(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-' || b == '|' || b == '*' || b == '@') {
			return false
		}
	}
	return true
}
