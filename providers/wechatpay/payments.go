package wechatpay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/kubepay/kubepay/providers"
)

// transaction is the order as query answers and decrypted notifications describe it.
type transaction struct {
	AppID         string `json:"appid"`
	MchID         string `json:"mchid"`
	OutTradeNo    string `json:"out_trade_no"`
	TransactionID string `json:"transaction_id"`
	TradeState    string `json:"trade_state"`
	SuccessTime   string `json:"success_time"`
	Amount        struct {
		Total    int64  `json:"total"`
		Currency string `json:"currency"`
	} `json:"amount"`
}

// queryState maps trade_state in query answers. PAYERROR is not final: the payer can still pay
// the same order another way until it expires, so it stays open (and is closed at expiry).
// REFUND (paid, then refunded in part or in full) is not here: see Query.
var queryState = map[string]providers.PaymentStatus{
	"SUCCESS":    providers.StatusSucceeded,
	"NOTPAY":     providers.StatusOpen,
	"USERPAYING": providers.StatusOpen,
	"PAYERROR":   providers.StatusOpen,
	"CLOSED":     providers.StatusClosed,
	"REVOKED":    providers.StatusClosed,
}

// Query implements providers.Provider: GET /v3/pay/transactions/out-trade-no/{out_trade_no}.
func (c *Client) Query(ctx context.Context, outTradeNo, providerPaymentID string) (providers.Payment, error) {
	const op = "query"
	otn, err := reference(op, outTradeNo, providerPaymentID)
	if err != nil {
		return providers.Payment{}, err
	}
	u := c.endpoint.JoinPath("/v3/pay/transactions/out-trade-no", otn)
	u.RawQuery = url.Values{"mchid": {c.mchID}}.Encode()
	what := fmt.Sprintf("query order %q", otn)
	r, err := c.do(ctx, op, what, http.MethodGet, u, nil)
	if err != nil {
		return providers.Payment{}, err
	}
	if r.status != http.StatusOK {
		return providers.Payment{}, c.answerError(op, what, r)
	}
	var tx transaction
	if err := json.Unmarshal(r.body, &tx); err != nil {
		return providers.Payment{}, providers.Retryable(op, "bad_response", fmt.Errorf("%s at WeChat Pay %s: decode answer: %w", what, c.endpoint.Host, err))
	}
	if tx.OutTradeNo != otn || tx.MchID != c.mchID {
		return providers.Payment{}, providers.Terminal(op, "mismatch", fmt.Errorf("%s at WeChat Pay %s: answer is about order %q of merchant %q", what, c.endpoint.Host, truncate(tx.OutTradeNo), truncate(tx.MchID)))
	}
	if tx.TradeState == tradeStateRefund {
		// Paid, then refunded (in part or in full). It is no payment success to settle an
		// order on: an order that never saw its payment would become Paid for money that went
		// back, or count it twice with its refunds. The refunds say what happened to it.
		return providers.Payment{}, providers.Terminal(op, tradeStateRefund, fmt.Errorf("%s at WeChat Pay %s: trade_state REFUND: order was paid (transaction_id %q) and has refunds; not a payment state kubepay settles an order on", what, c.endpoint.Host, truncate(tx.TransactionID)))
	}
	status, ok := queryState[tx.TradeState]
	if !ok {
		return providers.Payment{}, providers.Retryable(op, "bad_response", fmt.Errorf("%s at WeChat Pay %s: unknown trade_state %q", what, c.endpoint.Host, truncate(tx.TradeState)))
	}
	p := providers.Payment{ID: otn, OutTradeNo: otn, Status: status, AmountMinor: tx.Amount.Total, Currency: tx.Amount.Currency, TransactionID: tx.TransactionID}
	if status == providers.StatusSucceeded {
		if tx.Amount.Total <= 0 || tx.Amount.Currency == "" {
			return providers.Payment{}, providers.Retryable(op, "bad_response", fmt.Errorf("%s at WeChat Pay %s: paid order without amount", what, c.endpoint.Host))
		}
		if t, err := time.Parse(time.RFC3339, tx.SuccessTime); err == nil {
			p.PaidAt = t
		}
	}
	return p, nil
}

// Close implements providers.Provider: POST .../out-trade-no/{out_trade_no}/close, 204 when
// closed. A closed order (ORDER_CLOSED) closes again without error; a paid one (ORDERPAID) is
// providers.ErrAlreadyPaid; both only when the answer is signed.
func (c *Client) Close(ctx context.Context, outTradeNo, providerPaymentID string) error {
	const op = "close"
	otn, err := reference(op, outTradeNo, providerPaymentID)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("close order %q", otn)
	r, err := c.do(ctx, op, what, http.MethodPost, c.endpoint.JoinPath("/v3/pay/transactions/out-trade-no", otn, "close"), map[string]string{"mchid": c.mchID})
	if err != nil {
		return err
	}
	switch {
	case r.status == http.StatusNoContent || r.status == http.StatusOK:
		return nil
	case r.signed && r.errorCode() == codeOrderClosed:
		return nil
	case r.signed && r.errorCode() == codeOrderPaid:
		return providers.Terminal(op, codeOrderPaid, fmt.Errorf("%w: %s at WeChat Pay %s", providers.ErrAlreadyPaid, what, c.endpoint.Host))
	}
	return c.answerError(op, what, r)
}

// reference picks the out_trade_no to ask about; the payment ID this client hands out is the
// out_trade_no, so either argument will do. It must be a valid out_trade_no, since it becomes
// part of the request path.
func reference(op, outTradeNo, providerPaymentID string) (string, error) {
	otn := outTradeNo
	if otn == "" {
		otn = providerPaymentID
	}
	if otn == "" {
		return "", providers.Terminal(op, "invalid_argument", errors.New(op+" payment: neither out_trade_no nor provider payment id given"))
	}
	if !validOutTradeNo(otn) {
		return "", providers.Terminal(op, "invalid_argument", fmt.Errorf("%s payment: %q is not a WeChat Pay out_trade_no", op, truncate(otn)))
	}
	return otn, nil
}

// validOutTradeNo: 6 to 32 of [A-Za-z0-9_-|*], WeChat Pay's rule, which also keeps the value
// from changing a request path.
func validOutTradeNo(s string) bool {
	if len(s) < 6 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-' || b == '|' || b == '*') {
			return false
		}
	}
	return true
}
