package alipay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kubepay/kubepay/internal/money"
	"github.com/kubepay/kubepay/providers"
)

// Refund refusals of alipay.trade.refund this client names (Alipay's documented sub_codes).
const (
	// The refund is larger than the payment, or than what earlier refunds left of it. Alipay's
	// list names REFUND_AMT_NOT_EQUAL_TOTAL "the refund amount exceeds the total payment
	// amount"; REASON_TRADE_REFUND_FEE_ERR "refund amount invalid" is what it answers when the
	// refunds of a trade would add up to more than it; REFUND_FEE_ERROR appears in SDK code lists.
	subRefundAmountNotEqualTotal = "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"
	subRefundFeeErr              = "ACQ.REASON_TRADE_REFUND_FEE_ERR"
	subRefundFeeError            = "ACQ.REFUND_FEE_ERROR"
	// The same out_request_no was used for a refund of another amount.
	subDiscordantRepeat = "ACQ.DISCORDANT_REPEAT_REQUEST"
)

// refundStatusSuccess is the only refund_status alipay.trade.fastpay.refund.query documents;
// without one, Alipay has not refunded under that out_request_no.
const refundStatusSuccess = "REFUND_SUCCESS"

// maxOutRequestNo is the length limit of out_request_no.
const maxOutRequestNo = 64

// refundBiz is biz_content of alipay.trade.refund. A struct keeps the JSON field order fixed, so a
// retry sends the same request.
type refundBiz struct {
	OutTradeNo   string `json:"out_trade_no,omitempty"`
	TradeNo      string `json:"trade_no,omitempty"`
	RefundAmount string `json:"refund_amount"`
	OutRequestNo string `json:"out_request_no"`
	RefundReason string `json:"refund_reason,omitempty"`
}

// refundAnswer is the part of alipay_trade_refund_response this client reads.
type refundAnswer struct {
	TradeNo      string `json:"trade_no"`
	OutTradeNo   string `json:"out_trade_no"`
	FundChange   string `json:"fund_change"`
	GmtRefundPay string `json:"gmt_refund_pay"`
}

// refundQueryBiz is biz_content of alipay.trade.fastpay.refund.query.
type refundQueryBiz struct {
	OutTradeNo   string   `json:"out_trade_no,omitempty"`
	TradeNo      string   `json:"trade_no,omitempty"`
	OutRequestNo string   `json:"out_request_no"`
	QueryOptions []string `json:"query_options,omitempty"`
}

// refundQueryAnswer is the part of alipay_trade_fastpay_refund_query_response this client reads.
type refundQueryAnswer struct {
	TradeNo      string          `json:"trade_no"`
	OutTradeNo   string          `json:"out_trade_no"`
	OutRequestNo string          `json:"out_request_no"`
	RefundAmount json.RawMessage `json:"refund_amount"`
	RefundStatus string          `json:"refund_status"`
	GmtRefundPay string          `json:"gmt_refund_pay"`
}

// refundTarget is the trade a refund request names: the out_trade_no when there is one (kubepay's
// own key, the one its orders are checked against), Alipay's trade_no otherwise.
func refundTarget(op string, req providers.RefundRequest) (refundQueryBiz, string, error) {
	t := refundQueryBiz{OutRequestNo: req.OutRefundNo}
	switch {
	case req.OutTradeNo != "":
		t.OutTradeNo = req.OutTradeNo
	case req.ProviderPaymentID != "":
		// The payment ID this client hands out is the out_trade_no.
		t.OutTradeNo = req.ProviderPaymentID
	case req.TransactionID != "":
		t.TradeNo = req.TransactionID
	default:
		return t, "", providers.Terminal(op, "invalid_argument", fmt.Errorf("%s %q: neither out_trade_no nor trade_no given", op, truncate(req.OutRefundNo)))
	}
	if req.OutRefundNo == "" || len(req.OutRefundNo) > maxOutRequestNo || !printable(req.OutRefundNo) {
		return t, "", providers.Terminal(op, "invalid_out_request_no", fmt.Errorf("%s %q: Alipay's out_request_no is 1 to %d printable characters without spaces", op, truncate(req.OutRefundNo), maxOutRequestNo))
	}
	trade := t.OutTradeNo
	if trade == "" {
		trade = "trade_no " + t.TradeNo
	}
	return t, fmt.Sprintf("refund %q of trade %q", req.OutRefundNo, trade), nil
}

// Refund implements providers.Provider with alipay.trade.refund. Alipay refunds synchronously,
// keyed on (trade, out_request_no): the first request with a number moves the money and answers
// fund_change Y; a repeat of it (a retry after a lost answer) answers fund_change N, moving
// nothing. Alipay's guide says only fund_change Y proves the refund and that N, or no
// fund_change, must be confirmed with alipay.trade.fastpay.refund.query, which this does: a repeat
// is reported as the refund it repeats, never as a second one. The cumulative refund_fee of the
// answer is the trade's total refunded, not this refund's amount.
//
// Alipay has no refund id: the refund's ID is its out_request_no.
func (c *Client) Refund(ctx context.Context, req providers.RefundRequest) (providers.Refund, error) {
	const op = "refund"
	target, what, err := refundTarget(op, req)
	if err != nil {
		return providers.Refund{}, err
	}
	if req.Currency != "" && req.Currency != "CNY" {
		return providers.Refund{}, providers.Terminal(op, "unsupported_currency", fmt.Errorf("%s: Alipay refunds CNY, the refund is in %q", what, truncate(req.Currency)))
	}
	// refund_amount is the decimal string; it must say exactly what AmountMinor says.
	if minor, err := money.ToMinor(req.Amount, "CNY"); err != nil || minor != req.AmountMinor || minor <= 0 {
		return providers.Refund{}, providers.Terminal(op, "invalid_amount", fmt.Errorf("%s: amount %q does not match %d fen", what, truncate(req.Amount), req.AmountMinor))
	}
	if req.TotalMinor > 0 && req.AmountMinor > req.TotalMinor {
		return providers.Refund{}, providers.Terminal(op, "refund_exceeds_payment", fmt.Errorf("%w: %s: %s is more than the payment's %d fen", providers.ErrRefundExceedsPayment, what, req.Amount, req.TotalMinor))
	}
	biz := refundBiz{OutTradeNo: target.OutTradeNo, TradeNo: target.TradeNo, RefundAmount: req.Amount, OutRequestNo: req.OutRefundNo, RefundReason: clipRunes(req.Reason, 256)}
	a, err := c.call(ctx, op, "alipay.trade.refund", what, biz)
	if err != nil {
		return c.refundRefused(ctx, op, what, req, a, err)
	}
	var ans refundAnswer
	if err := json.Unmarshal(a.raw, &ans); err != nil {
		return providers.Refund{}, providers.Retryable(op, "bad_response", fmt.Errorf("%s at Alipay %s: decode answer: %w", what, c.endpoint.Host, err))
	}
	if (target.OutTradeNo != "" && ans.OutTradeNo != target.OutTradeNo) || (target.TradeNo != "" && ans.TradeNo != target.TradeNo) {
		// Signed, but about another trade: nothing can be concluded about this refund. Asking
		// again with the same out_request_no is safe.
		return providers.Refund{}, providers.Retryable(op, "mismatch", fmt.Errorf("%s at Alipay %s: answer is about trade %q (trade_no %q)", what, c.endpoint.Host, truncate(ans.OutTradeNo), truncate(ans.TradeNo)))
	}
	if ans.FundChange == "Y" {
		r := providers.Refund{
			ID: req.OutRefundNo, OutRefundNo: req.OutRefundNo, OutTradeNo: ans.OutTradeNo, Status: providers.RefundSucceeded,
			AmountMinor: req.AmountMinor, Currency: "CNY",
		}
		r.RefundedAt, _ = parseTime(ans.GmtRefundPay)
		return r, nil
	}
	// fund_change N or none: a repeat of a refund already made, or one Alipay has not confirmed.
	q, qerr := c.QueryRefund(ctx, req)
	switch {
	case qerr == nil && q.AmountMinor != req.AmountMinor:
		return providers.Refund{}, usedElsewhere(op, what, q)
	case qerr == nil:
		return q, nil
	}
	// Alipay took the request (code 10000) but its refund query does not show the refund yet
	// (Alipay warns its query can lag the refund by seconds), or could not be asked: processing,
	// to be settled by the trade notification or a later QueryRefund; sending the refund again
	// with the same out_request_no is always safe.
	return providers.Refund{
		ID: req.OutRefundNo, OutRefundNo: req.OutRefundNo, OutTradeNo: ans.OutTradeNo, Status: providers.RefundProcessing,
		AmountMinor: req.AmountMinor, Currency: "CNY",
	}, nil
}

// refundRefused classifies a failed alipay.trade.refund. Signed refusals that the refund exceeds
// the payment wrap providers.ErrRefundExceedsPayment. Before any signed business refusal is taken
// as final, the refund number is looked up: if Alipay already refunded that amount under it (a
// retry of a refund whose answer was lost, refused because of the state that refund itself
// caused, such as the trade it closed), the refusal is that refund, succeeded.
func (c *Client) refundRefused(ctx context.Context, op, what string, req providers.RefundRequest, a answer, err error) (providers.Refund, error) {
	if !a.signed || a.Code != codeBusinessFailed || a.SubCode == subTradeNotExist || a.SubCode == subSystemError {
		return providers.Refund{}, err
	}
	q, qerr := c.QueryRefund(ctx, req)
	switch {
	case qerr == nil && q.AmountMinor == req.AmountMinor:
		return q, nil
	case qerr == nil:
		return providers.Refund{}, usedElsewhere(op, what, q)
	case !errors.Is(qerr, providers.ErrNotFound):
		return providers.Refund{}, providers.Retryable(op, a.SubCode, fmt.Errorf("%s: Alipay refused it (%s) and the query to tell a refusal from a refund already made failed: %w", what, a.SubCode, qerr))
	}
	switch a.SubCode {
	case subRefundAmountNotEqualTotal, subRefundFeeErr, subRefundFeeError:
		return providers.Refund{}, providers.Terminal(op, a.SubCode, fmt.Errorf("%w: %w", providers.ErrRefundExceedsPayment, err))
	}
	return providers.Refund{}, err
}

// usedElsewhere is the error for a refund number Alipay already refunded another amount under.
func usedElsewhere(op, what string, q providers.Refund) error {
	return providers.Terminal(op, subDiscordantRepeat, fmt.Errorf("%s: Alipay already refunded %d fen under this out_request_no, not this refund's amount; a refund needs a number of its own", what, q.AmountMinor))
}

// QueryRefund implements providers.Provider with alipay.trade.fastpay.refund.query.
// refund_status REFUND_SUCCESS is the refund, succeeded (Alipay refunds synchronously, so there is
// no pending state); a signed answer without it means Alipay has not refunded under that
// out_request_no (never received, or refused), which is providers.ErrNotFound: Alipay's guide
// says to send the refund again with the same number, which cannot refund twice.
func (c *Client) QueryRefund(ctx context.Context, req providers.RefundRequest) (providers.Refund, error) {
	const op = "query_refund"
	target, what, err := refundTarget(op, req)
	if err != nil {
		return providers.Refund{}, err
	}
	target.QueryOptions = []string{"gmt_refund_pay"}
	a, err := c.call(ctx, op, "alipay.trade.fastpay.refund.query", "query "+what, target)
	if err != nil {
		return providers.Refund{}, err
	}
	var q refundQueryAnswer
	if err := json.Unmarshal(a.raw, &q); err != nil {
		return providers.Refund{}, providers.Retryable(op, "bad_response", fmt.Errorf("query %s at Alipay %s: decode answer: %w", what, c.endpoint.Host, err))
	}
	if (target.OutTradeNo != "" && q.OutTradeNo != "" && q.OutTradeNo != target.OutTradeNo) || (q.OutRequestNo != "" && q.OutRequestNo != req.OutRefundNo) {
		return providers.Refund{}, providers.Retryable(op, "mismatch", fmt.Errorf("query %s at Alipay %s: answer is about refund %q of trade %q", what, c.endpoint.Host, truncate(q.OutRequestNo), truncate(q.OutTradeNo)))
	}
	switch q.RefundStatus {
	case "":
		// Only ever a signed answer: call refuses a success answer without a sign.
		return providers.Refund{}, providers.Terminal(op, "refund_not_exist", fmt.Errorf("%w: query %s at Alipay %s: Alipay has not refunded under this out_request_no", providers.ErrNotFound, what, c.endpoint.Host))
	case refundStatusSuccess:
	default:
		return providers.Refund{}, providers.Retryable(op, "bad_response", fmt.Errorf("query %s at Alipay %s: unknown refund_status %q", what, c.endpoint.Host, truncate(q.RefundStatus)))
	}
	amount, err := decimalField(q.RefundAmount)
	if err != nil {
		return providers.Refund{}, providers.Retryable(op, "bad_response", fmt.Errorf("query %s at Alipay %s: refund_amount: %w", what, c.endpoint.Host, err))
	}
	minor, err := money.ToMinor(amount, "CNY")
	if err != nil || minor <= 0 {
		return providers.Refund{}, providers.Retryable(op, "bad_response", fmt.Errorf("query %s at Alipay %s: refund_amount %q is not a CNY amount", what, c.endpoint.Host, truncate(amount)))
	}
	r := providers.Refund{
		ID: req.OutRefundNo, OutRefundNo: req.OutRefundNo, OutTradeNo: q.OutTradeNo, Status: providers.RefundSucceeded,
		AmountMinor: minor, Currency: "CNY",
	}
	r.RefundedAt, _ = parseTime(q.GmtRefundPay)
	return r, nil
}

// parseTime reads an Alipay time ("yyyy-MM-dd HH:mm:ss", optionally with a fraction of a
// second, as gmt_refund has) in China time; "" is the zero time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.ParseInLocation(timeLayout, s, chinaTime)
}

// printable reports whether s is printable ASCII without spaces.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// clipRunes shortens s to n characters.
func clipRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}
