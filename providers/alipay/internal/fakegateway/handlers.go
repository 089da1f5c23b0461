package fakegateway

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"strings"
	"time"

	"github.com/kubepay/kubepay/providers/internal/fakekeys"
)

// checkout opens a trade from a signed page/WAP URL, as Alipay's cashier does.
func (g *Gateway) checkout(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	g.mu.Lock()
	defer g.mu.Unlock()
	sub, ok := g.verifyRequest(v)
	products := map[string]string{"alipay.trade.page.pay": "FAST_INSTANT_TRADE_PAY", "alipay.trade.wap.pay": "QUICK_WAP_WAY"}
	var biz struct {
		OutTradeNo  string `json:"out_trade_no"`
		TotalAmount string `json:"total_amount"`
		Subject     string `json:"subject"`
		ProductCode string `json:"product_code"`
		TimeExpire  string `json:"time_expire"`
	}
	switch {
	case !ok:
	case products[v.Get("method")] == "":
		sub = "isv.invalid-method"
	case json.Unmarshal([]byte(v.Get("biz_content")), &biz) != nil || biz.OutTradeNo == "" || biz.Subject == "" || biz.TotalAmount == "":
		sub = "isv.missing-biz-content"
	case biz.ProductCode != products[v.Get("method")]:
		sub = "isv.invalid-product-code"
	}
	if biz.TimeExpire != "" && sub == "" {
		if _, err := time.ParseInLocation(timeLayout, biz.TimeExpire, chinaTime); err != nil {
			sub = "isv.invalid-time-expire"
		}
	}
	if sub != "" {
		g.rejected++
		http.Error(w, "checkout refused: "+sub, http.StatusBadRequest)
		return
	}
	t, exists := g.trades[biz.OutTradeNo]
	if exists && t.TotalAmount != biz.TotalAmount {
		http.Error(w, "checkout refused: out_trade_no used with another amount", http.StatusBadRequest)
		return
	}
	if !exists {
		t = &Trade{OutTradeNo: biz.OutTradeNo, Status: WaitBuyerPay, TotalAmount: biz.TotalAmount,
			Subject: biz.Subject, NotifyURL: v.Get("notify_url"), Created: g.now()}
		g.trades[biz.OutTradeNo] = t
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// A failed write means the client went away; there is nobody left to tell.
	_, _ = fmt.Fprintf(w, "<!doctype html><title>Alipay checkout</title><p>%s: %s CNY, %s</p>",
		html.EscapeString(t.Subject), html.EscapeString(t.TotalAmount), html.EscapeString(t.Status))
}

// api answers the OpenAPI methods the gateway knows: alipay.trade.query, alipay.trade.close,
// alipay.trade.refund and alipay.trade.fastpay.refund.query. Requests are served one at a time
// (under g.mu), as Alipay serialises the refunds of one trade: concurrent refunds can never
// together exceed the payment.
func (g *Gateway) api(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	v := r.PostForm
	method := v.Get("method")
	key := strings.ReplaceAll(method, ".", "_") + "_response"
	g.mu.Lock()
	defer g.mu.Unlock()
	if sub, ok := g.verifyRequest(v); !ok {
		// Alipay answers refused requests without a sign.
		g.rejected++
		g.answer(w, key, failure("40002", "Invalid Arguments", sub, "request refused"), Fault{Unsigned: true})
		return
	}
	g.calls[method]++
	var f Fault
	if len(g.faults) > 0 {
		f, g.faults = g.faults[0], g.faults[1:]
	}
	if !f.AfterExecution {
		switch {
		case f.HTTPStatus != 0:
			w.WriteHeader(f.HTTPStatus)
			return
		case f.Code != "":
			g.answer(w, key, failure(f.Code, "Business Failed", f.SubCode, f.SubMsg), f)
			return
		}
	}
	handler, known := map[string]func(biz []byte) map[string]any{
		"alipay.trade.query":                g.tradeQuery,
		"alipay.trade.close":                g.tradeClose,
		"alipay.trade.refund":               g.tradeRefund,
		"alipay.trade.fastpay.refund.query": g.refundQuery,
	}[method]
	if !known {
		g.answer(w, key, failure("40002", "Invalid Arguments", "isv.invalid-method", "unknown method"), f)
		return
	}
	obj := handler([]byte(v.Get("biz_content")))
	switch {
	case f.AfterExecution && f.HTTPStatus != 0:
		// The call took effect; its answer is lost on the way back.
		w.WriteHeader(f.HTTPStatus)
	case f.AfterExecution && f.Code != "":
		g.answer(w, key, failure(f.Code, "Business Failed", f.SubCode, f.SubMsg), f)
	default:
		g.answer(w, key, obj, f)
	}
}

// tradeRef is the part of biz_content that names a trade.
type tradeRef struct {
	OutTradeNo string `json:"out_trade_no"`
	TradeNo    string `json:"trade_no"`
}

// find returns the trade ref names, by trade_no first as Alipay does, and the failure answer
// when there is none or ref names nothing.
func (g *Gateway) find(ref tradeRef) (*Trade, map[string]any) {
	if ref.OutTradeNo == "" && ref.TradeNo == "" {
		return nil, failure("40001", "Missing Required Arguments", "isv.missing-out-trade-no", "out_trade_no and trade_no are both missing")
	}
	if ref.TradeNo != "" {
		for _, t := range g.trades {
			if t.TradeNo == ref.TradeNo && (ref.OutTradeNo == "" || ref.OutTradeNo == t.OutTradeNo) {
				return t, nil
			}
		}
	} else if t, ok := g.trades[ref.OutTradeNo]; ok {
		return t, nil
	}
	return nil, failure("40004", "Business Failed", "ACQ.TRADE_NOT_EXIST", "交易不存在")
}

func (g *Gateway) tradeQuery(biz []byte) map[string]any {
	var ref tradeRef
	if json.Unmarshal(biz, &ref) != nil {
		return failure("40002", "Invalid Arguments", "isv.invalid-biz-content", "biz_content is not JSON")
	}
	t, fail := g.find(ref)
	if fail != nil {
		return fail
	}
	return queryAnswer(t)
}

func (g *Gateway) tradeClose(biz []byte) map[string]any {
	var ref tradeRef
	if json.Unmarshal(biz, &ref) != nil {
		return failure("40002", "Invalid Arguments", "isv.invalid-biz-content", "biz_content is not JSON")
	}
	t, fail := g.find(ref)
	switch {
	case fail != nil:
		return fail
	case t.Status != WaitBuyerPay:
		return failure("40004", "Business Failed", "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
	}
	t.Status = TradeClosed
	return map[string]any{"code": "10000", "msg": "Success", "out_trade_no": t.OutTradeNo, "trade_no": t.TradeNo}
}

func failure(code, msg, sub, subMsg string) map[string]any {
	return map[string]any{"code": code, "msg": msg, "sub_code": sub, "sub_msg": subMsg}
}

func queryAnswer(t *Trade) map[string]any {
	a := map[string]any{
		"code": "10000", "msg": "Success", "out_trade_no": t.OutTradeNo, "trade_status": t.Status,
		"total_amount": t.TotalAmount, "buyer_logon_id": "159****5620",
	}
	if t.TradeNo != "" {
		a["trade_no"] = t.TradeNo
	}
	if !t.PaidAt.IsZero() {
		a["send_pay_date"] = t.PaidAt.In(chinaTime).Format(timeLayout)
	}
	return a
}

// answer writes {"<key>":<object>,"sign":"..."}. The object is indented and keeps non-ASCII
// text unescaped, so a client that re-encoded it instead of verifying the received bytes fails.
func (g *Gateway) answer(w http.ResponseWriter, key string, obj map[string]any, f Fault) {
	for k, v := range f.Set {
		obj[k] = v
	}
	inner, err := json.MarshalIndent(obj, "", "  ")
	if err != nil {
		panic(err)
	}
	sign := ""
	if !f.Unsigned {
		signer := g.Key
		if f.WrongKey {
			signer = fakekeys.Key("other")
		}
		sign = fakekeys.Sign(signer, inner)
	}
	if f.Tamper != nil {
		inner = f.Tamper(inner)
	}
	var b strings.Builder
	b.WriteString(`{"` + key + `":`)
	b.Write(inner)
	if sign != "" {
		b.WriteString(`,"sign":"` + sign + `"`)
	}
	b.WriteString("}")
	w.Header().Set("Content-Type", "text/html;charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}
