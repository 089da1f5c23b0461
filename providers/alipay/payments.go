package alipay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/kubepay/kubepay/internal/money"
	"github.com/kubepay/kubepay/providers"
)

// tradeRef is the biz_content of alipay.trade.query and alipay.trade.close.
type tradeRef struct {
	OutTradeNo string `json:"out_trade_no"`
}

// tradeQuery is the part of alipay_trade_query_response this client reads.
type tradeQuery struct {
	TradeNo     string          `json:"trade_no"`
	OutTradeNo  string          `json:"out_trade_no"`
	TradeStatus string          `json:"trade_status"`
	TotalAmount json.RawMessage `json:"total_amount"`
	SendPayDate string          `json:"send_pay_date"`
}

// tradeStatus maps Alipay's trade_status. Only TRADE_SUCCESS and TRADE_FINISHED mean paid;
// TRADE_CLOSED is "closed unpaid" or "fully refunded", and the state machine never moves a paid
// order back, so reading it as closed is safe.
var tradeStatus = map[string]providers.PaymentStatus{
	"WAIT_BUYER_PAY": providers.StatusOpen,
	"TRADE_SUCCESS":  providers.StatusSucceeded,
	"TRADE_FINISHED": providers.StatusSucceeded,
	"TRADE_CLOSED":   providers.StatusClosed,
}

// reference picks the out_trade_no to ask about: the payment ID this client hands out is the
// out_trade_no, so either argument will do.
func reference(op, outTradeNo, providerPaymentID string) (string, error) {
	switch {
	case outTradeNo != "":
		return outTradeNo, nil
	case providerPaymentID != "":
		return providerPaymentID, nil
	}
	return "", providers.Terminal(op, "invalid_argument", errors.New(op+" payment: neither out_trade_no nor provider payment id given"))
}

// Query implements providers.Provider with alipay.trade.query. A trade that does not exist yet
// (the customer never opened the checkout) is providers.ErrNotFound.
func (c *Client) Query(ctx context.Context, outTradeNo, providerPaymentID string) (providers.Payment, error) {
	const op = "query"
	otn, err := reference(op, outTradeNo, providerPaymentID)
	if err != nil {
		return providers.Payment{}, err
	}
	what := fmt.Sprintf("query trade %q", otn)
	a, err := c.call(ctx, op, "alipay.trade.query", what, tradeRef{OutTradeNo: otn})
	if err != nil {
		return providers.Payment{}, err
	}
	var q tradeQuery
	if err := json.Unmarshal(a.raw, &q); err != nil {
		return providers.Payment{}, providers.Retryable(op, "bad_response", fmt.Errorf("%s at Alipay %s: decode answer: %w", what, c.endpoint.Host, err))
	}
	if q.OutTradeNo != otn {
		return providers.Payment{}, providers.Terminal(op, "mismatch", fmt.Errorf("%s at Alipay %s: answer is about out_trade_no %q", what, c.endpoint.Host, truncate(q.OutTradeNo)))
	}
	status, ok := tradeStatus[q.TradeStatus]
	if !ok {
		return providers.Payment{}, providers.Retryable(op, "bad_response", fmt.Errorf("%s at Alipay %s: unknown trade_status %q", what, c.endpoint.Host, truncate(q.TradeStatus)))
	}
	amount, err := decimalField(q.TotalAmount)
	if err != nil {
		return providers.Payment{}, providers.Retryable(op, "bad_response", fmt.Errorf("%s at Alipay %s: total_amount: %w", what, c.endpoint.Host, err))
	}
	minor, err := money.ToMinor(amount, "CNY")
	if err != nil {
		return providers.Payment{}, providers.Retryable(op, "bad_response", fmt.Errorf("%s at Alipay %s: total_amount: %w", what, c.endpoint.Host, err))
	}
	p := providers.Payment{ID: otn, OutTradeNo: otn, Status: status, AmountMinor: minor, Currency: "CNY", TransactionID: q.TradeNo}
	if status == providers.StatusSucceeded && q.SendPayDate != "" {
		if t, err := time.ParseInLocation(timeLayout, q.SendPayDate, chinaTime); err == nil {
			p.PaidAt = t
		}
	}
	return p, nil
}

// decimalField reads an amount Alipay documents as a string but some answers show as a JSON
// number; the literal is kept as text, never converted through a float.
func decimalField(raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "", errors.New("missing")
	}
	if raw[0] == '"' {
		s, err := strconv.Unquote(string(raw))
		if err != nil {
			return "", errors.New("not a string")
		}
		return s, nil
	}
	return string(raw), nil
}

// Close implements providers.Provider with alipay.trade.close. A closed trade closes again
// without error; a paid one is providers.ErrAlreadyPaid; one that does not exist yet is
// providers.ErrPayableUntilExpiry (see below), never ErrNotFound. Alipay answers a close of a trade in
// the wrong state with ACQ.TRADE_STATUS_ERROR, which does not say whether it is paid or already
// closed, so the trade is queried to tell.
func (c *Client) Close(ctx context.Context, outTradeNo, providerPaymentID string) error {
	const op = "close"
	otn, err := reference(op, outTradeNo, providerPaymentID)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("close trade %q", otn)
	a, err := c.call(ctx, op, "alipay.trade.close", what, tradeRef{OutTradeNo: otn})
	if err == nil || !a.signed {
		return err
	}
	switch a.SubCode {
	case subTradeNotExist:
		// The page and WAP checkouts create the trade only when the buyer opens the link, and
		// the link stays payable until its time_expire: "no such trade" does not mean nobody
		// can pay, so the payment is not closed and whoever wanted it closed waits for expiry.
		return providers.Terminal(op, a.SubCode, fmt.Errorf("%w: %s at Alipay %s: Alipay has no trade yet (it starts when the buyer opens the checkout link)", providers.ErrPayableUntilExpiry, what, c.endpoint.Host))
	case subTradeHasSuccess:
		return providers.Terminal(op, a.SubCode, fmt.Errorf("%w: %s at Alipay %s", providers.ErrAlreadyPaid, what, c.endpoint.Host))
	case subTradeHasClose:
		return nil
	case subTradeStatusError:
		p, qerr := c.Query(ctx, otn, "")
		if qerr != nil {
			return providers.Retryable(op, a.SubCode, fmt.Errorf("%s: Alipay answered %s and the query to tell paid from closed failed: %w", what, a.SubCode, qerr))
		}
		switch p.Status {
		case providers.StatusSucceeded:
			return providers.Terminal(op, a.SubCode, fmt.Errorf("%w: %s at Alipay %s", providers.ErrAlreadyPaid, what, c.endpoint.Host))
		case providers.StatusClosed:
			return nil
		}
	}
	return err
}
