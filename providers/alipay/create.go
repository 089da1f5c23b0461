package alipay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kubepay/kubepay/internal/money"
	"github.com/kubepay/kubepay/providers"
)

// Channels and the OpenAPI method and product code each one uses.
var channels = map[string]struct{ method, productCode string }{
	"alipay_page": {"alipay.trade.page.pay", "FAST_INSTANT_TRADE_PAY"},
	"alipay_wap":  {"alipay.trade.wap.pay", "QUICK_WAP_WAY"},
}

// payBiz is biz_content of alipay.trade.page.pay / alipay.trade.wap.pay. A struct keeps the JSON
// field order fixed, so the same order always gives the same biz_content.
type payBiz struct {
	OutTradeNo  string `json:"out_trade_no"`
	TotalAmount string `json:"total_amount"`
	Subject     string `json:"subject"`
	ProductCode string `json:"product_code"`
	TimeExpire  string `json:"time_expire,omitempty"`
}

// Create implements providers.Provider. The page and WAP checkouts are not API calls: the payment
// is the signed gateway URL the customer opens, and Alipay creates the trade when they do. Alipay
// keys trades on out_trade_no, so opening a URL built again for the same order (only the
// timestamp differs) reaches the same trade; Create is idempotent without a request. The trade
// number (trade_no) does not exist yet, so the payment's ID is the out_trade_no, which identifies
// the trade uniquely within the app.
func (c *Client) Create(_ context.Context, order providers.Order) (providers.Payment, error) {
	const op = "create"
	ch, ok := channels[order.Channel]
	if !ok {
		return providers.Payment{}, providers.Terminal(op, "unsupported_channel", fmt.Errorf("create payment %q: channel %q is not an Alipay channel (alipay_page, alipay_wap)", order.OutTradeNo, order.Channel))
	}
	if order.Currency != "CNY" {
		return providers.Payment{}, providers.Terminal(op, "unsupported_currency", fmt.Errorf("create payment %q: Alipay takes CNY, the order is in %q", order.OutTradeNo, order.Currency))
	}
	if !validOutTradeNo(order.OutTradeNo) {
		return providers.Payment{}, providers.Terminal(op, "invalid_out_trade_no", fmt.Errorf("create payment %q: Alipay's out_trade_no is 1 to %d letters, digits and _ (no - or other characters); set spec.orderID accordingly", truncate(order.OutTradeNo), maxOutTradeNo))
	}
	if order.Subject == "" {
		return providers.Payment{}, providers.Terminal(op, "invalid_request", fmt.Errorf("create payment %q: subject is required", order.OutTradeNo))
	}
	// total_amount is the decimal string; it must say exactly what amountMinor says.
	if minor, err := money.ToMinor(order.Amount, "CNY"); err != nil || minor != order.AmountMinor || minor <= 0 {
		return providers.Payment{}, providers.Terminal(op, "invalid_amount", fmt.Errorf("create payment %q: amount %q does not match %d fen", order.OutTradeNo, order.Amount, order.AmountMinor))
	}
	biz := payBiz{OutTradeNo: order.OutTradeNo, TotalAmount: order.Amount, Subject: order.Subject, ProductCode: ch.productCode}
	var expiresAt time.Time
	if !order.ExpiresAt.IsZero() {
		biz.TimeExpire = order.ExpiresAt.In(chinaTime).Format(timeLayout)
		// The time Alipay will read: whole seconds, as sent.
		expiresAt, _ = time.ParseInLocation(timeLayout, biz.TimeExpire, chinaTime)
	}
	bizJSON, err := compactJSON(biz)
	if err != nil {
		return providers.Payment{}, providers.Terminal(op, "invalid_request", fmt.Errorf("create payment %q: encode biz_content: %w", order.OutTradeNo, err))
	}
	params := c.commonParams(ch.method)
	params["notify_url"] = order.NotifyURL
	params["return_url"] = order.ReturnURL
	params["biz_content"] = bizJSON
	values, err := c.signed(params)
	if err != nil {
		return providers.Payment{}, providers.Terminal(op, "sign", fmt.Errorf("create payment %q: %w", order.OutTradeNo, err))
	}
	u := *c.endpoint
	u.RawQuery = values.Encode()
	return providers.Payment{
		ID: order.OutTradeNo, OutTradeNo: order.OutTradeNo, Status: providers.StatusOpen,
		AmountMinor: order.AmountMinor, Currency: "CNY", PaymentURL: u.String(), ExpiresAt: expiresAt,
	}, nil
}

// maxOutTradeNo is the length limit of Alipay's out_trade_no.
const maxOutTradeNo = 64

// validOutTradeNo is Alipay's documented rule for out_trade_no: up to 64 characters, letters,
// digits and underscores only. Only Create enforces it: trades Alipay already holds (the genuine
// vector's out_trade_no has dashes) are still queried, closed and refunded by their number.
func validOutTradeNo(s string) bool {
	if s == "" || len(s) > maxOutTradeNo {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_') {
			return false
		}
	}
	return true
}

// compactJSON marshals v without HTML escaping, so subjects with "&" or "<" read as written.
func compactJSON(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return string(bytes.TrimRight(b.Bytes(), "\n")), nil
}
