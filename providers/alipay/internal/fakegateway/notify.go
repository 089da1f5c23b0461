package fakegateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Notification returns the signed form Alipay posts about the trade (trade_status_sync with the
// trade's status), after mutate (may be nil) has changed it; mutate runs before signing, so
// what it changes is validly signed.
func (g *Gateway) Notification(outTradeNo string, mutate func(url.Values)) (url.Values, error) {
	g.mu.Lock()
	t, ok := g.trades[outTradeNo]
	if !ok {
		g.mu.Unlock()
		return nil, fmt.Errorf("no trade %q", outTradeNo)
	}
	v := g.form(t)
	g.mu.Unlock()
	if mutate != nil {
		mutate(v)
	}
	SignNotification(v, g.Key)
	return v, nil
}

// form is the unsigned trade_status_sync form about t as it is now, with a new notify_id.
// Called with g.mu held.
func (g *Gateway) form(t *Trade) url.Values {
	g.seq++
	now := g.now().In(chinaTime)
	v := url.Values{}
	v.Set("notify_time", now.Format(timeLayout))
	v.Set("notify_type", "trade_status_sync")
	v.Set("notify_id", fmt.Sprintf("%s0022%018d", now.Format("20060102"), g.seq))
	v.Set("app_id", g.AppID)
	v.Set("auth_app_id", g.AppID)
	v.Set("charset", "utf-8")
	v.Set("version", "1.0")
	v.Set("seller_id", g.SellerID)
	v.Set("buyer_id", "2088102534368455")
	v.Set("buyer_logon_id", "159****5620")
	v.Set("out_trade_no", t.OutTradeNo)
	v.Set("trade_no", t.TradeNo)
	v.Set("trade_status", t.Status)
	v.Set("total_amount", t.TotalAmount)
	v.Set("receipt_amount", t.TotalAmount)
	v.Set("buyer_pay_amount", t.TotalAmount)
	v.Set("subject", t.Subject)
	v.Set("gmt_create", t.Created.In(chinaTime).Format(timeLayout))
	if !t.PaidAt.IsZero() {
		v.Set("gmt_payment", t.PaidAt.In(chinaTime).Format(timeLayout))
	}
	v.Set("fund_bill_list", `[{"amount":"`+t.TotalAmount+`","fundChannel":"ALIPAYACCOUNT"}]`)
	return v
}

// Post sends a form body to notifyURL as Alipay does and returns the answer's status and body.
func Post(ctx context.Context, notifyURL, body string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, notifyURL, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(b), err
}
