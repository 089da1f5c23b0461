package fakegateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// refund is one executed refund of a trade: money went back once, under OutRequestNo.
type refund struct {
	OutRequestNo, Amount, Reason string
	AmountFen                    int64
	At                           time.Time
	// RefundedAfterFen is the trade's cumulative refund_fee once this refund was made, and
	// ClosedTrade whether it made the trade TRADE_CLOSED (the payment was refunded in full):
	// the notification about this refund says what was true then.
	RefundedAfterFen int64
	ClosedTrade      bool
	// requests counts the verified alipay.trade.refund requests for this number, executions
	// the times money moved for it (never more than one).
	requests, executions int
}

// RefundStats is what happened to one trade's refunds, for tests.
type RefundStats struct {
	// TotalFen is the trade's total_amount; RefundedFen the sum of its executed refunds, which
	// never exceeds TotalFen.
	TotalFen, RefundedFen int64
	// Requests counts the verified alipay.trade.refund requests per out_request_no, refused ones
	// included; Executions counts the times money moved per out_request_no.
	Requests, Executions map[string]int
}

// RefundStats returns the refunds of the trade for outTradeNo.
func (g *Gateway) RefundStats(outTradeNo string) RefundStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := RefundStats{Requests: map[string]int{}, Executions: map[string]int{}}
	t, ok := g.trades[outTradeNo]
	if !ok {
		return s
	}
	s.TotalFen, _ = fen(t.TotalAmount)
	s.RefundedFen = t.refundedFen
	for no, r := range t.refunds {
		s.Requests[no], s.Executions[no] = r.requests, r.executions
	}
	return s
}

// refundBiz is biz_content of alipay.trade.refund.
type refundBiz struct {
	tradeRef
	RefundAmount json.RawMessage `json:"refund_amount"`
	RefundReason string          `json:"refund_reason"`
	OutRequestNo string          `json:"out_request_no"`
}

// tradeRefund refunds part or all of a paid trade, as Alipay documents alipay.trade.refund: one
// out_request_no per refund; a repeat of one already made answers success with fund_change N
// (no money moved this time) and the same refund; a repeat with another amount is
// ACQ.DISCORDANT_REPEAT_REQUEST; the refunds of a trade never add up to more than its total.
func (g *Gateway) tradeRefund(biz []byte) map[string]any {
	var req refundBiz
	if json.Unmarshal(biz, &req) != nil {
		return failure("40002", "Invalid Arguments", "isv.invalid-biz-content", "biz_content is not JSON")
	}
	// refund_amount is a Price: the SDKs send it as a string or a number, never more than two
	// decimals.
	amount := strings.Trim(string(req.RefundAmount), `"`)
	amountFen, err := fen(amount)
	if err != nil || amountFen <= 0 {
		return failure("40004", "Business Failed", "ACQ.INVALID_PARAMETER", "参数无效: refund_amount")
	}
	t, fail := g.find(req.tradeRef)
	if fail != nil {
		return fail
	}
	totalFen, _ := fen(t.TotalAmount)
	no := req.OutRequestNo
	if no == "" {
		// Without out_request_no Alipay takes the refund as the full one, numbered by the trade.
		no = t.OutTradeNo
		if amountFen != totalFen {
			return failure("40004", "Business Failed", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
		}
	}
	if r, done := t.refunds[no]; done {
		r.requests++
		if r.AmountFen != amountFen {
			return failure("40004", "Business Failed", "ACQ.DISCORDANT_REPEAT_REQUEST", "不一致的请求")
		}
		return refundAnswer(t, r, "N")
	}
	switch {
	case t.Status == TradeFinished:
		return failure("40004", "Business Failed", "ACQ.TRADE_HAS_FINISHED", "交易已完结")
	case t.Status != TradeSuccess:
		// Unpaid, closed unpaid, or closed by a full refund.
		return failure("40004", "Business Failed", "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
	case amountFen > totalFen:
		return failure("40004", "Business Failed", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
	case t.refundedFen+amountFen > totalFen:
		return failure("40004", "Business Failed", "ACQ.REASON_TRADE_REFUND_FEE_ERR", "退款金额无效")
	}
	// Executed: money goes back now, and the trade's notification reports it.
	t.refundedFen += amountFen
	r := &refund{
		OutRequestNo: no, Amount: formatFen(amountFen), Reason: req.RefundReason, AmountFen: amountFen,
		At: g.now(), RefundedAfterFen: t.refundedFen, ClosedTrade: t.refundedFen == totalFen,
		requests: 1, executions: 1,
	}
	if t.refunds == nil {
		t.refunds = map[string]*refund{}
	}
	t.refunds[no] = r
	t.refundOrder = append(t.refundOrder, no)
	if r.ClosedTrade {
		t.Status = TradeClosed
	}
	g.queueNotification(t, r)
	return refundAnswer(t, r, "Y")
}

// refundAnswer is the success answer of alipay.trade.refund; refund_fee is the trade's
// cumulative refunded amount, as Alipay documents it.
func refundAnswer(t *Trade, r *refund, fundChange string) map[string]any {
	return map[string]any{
		"code": "10000", "msg": "Success", "trade_no": t.TradeNo, "out_trade_no": t.OutTradeNo,
		"buyer_logon_id": "159****5620", "buyer_user_id": "2088102534368455", "fund_change": fundChange,
		"refund_fee": formatFen(t.refundedFen), "gmt_refund_pay": r.At.In(chinaTime).Format(timeLayout),
	}
}

// refundQuery answers alipay.trade.fastpay.refund.query: the refund with refund_status
// REFUND_SUCCESS when it was made, and a bare success answer without refund_status when the
// trade has no refund with that out_request_no (Alipay's "not refunded").
func (g *Gateway) refundQuery(biz []byte) map[string]any {
	var req struct {
		tradeRef
		OutRequestNo string   `json:"out_request_no"`
		QueryOptions []string `json:"query_options"`
	}
	if json.Unmarshal(biz, &req) != nil {
		return failure("40002", "Invalid Arguments", "isv.invalid-biz-content", "biz_content is not JSON")
	}
	if req.OutRequestNo == "" {
		return failure("40001", "Missing Required Arguments", "isv.missing-out-request-no", "out_request_no missing")
	}
	t, fail := g.find(req.tradeRef)
	if fail != nil {
		return fail
	}
	a := map[string]any{"code": "10000", "msg": "Success", "trade_no": t.TradeNo, "out_trade_no": t.OutTradeNo}
	r, ok := t.refunds[req.OutRequestNo]
	if !ok {
		return a
	}
	a["out_request_no"] = r.OutRequestNo
	a["refund_amount"] = r.Amount
	a["total_amount"] = t.TotalAmount
	a["refund_status"] = "REFUND_SUCCESS"
	if slices.Contains(req.QueryOptions, "gmt_refund_pay") {
		a["gmt_refund_pay"] = r.At.In(chinaTime).Format(timeLayout)
	}
	return a
}

// RefundNotification returns the signed trade notification Alipay posts after the refund
// outRequestNo of the trade: trade_status_sync with refund_fee (cumulative then), gmt_refund and
// out_biz_no = out_request_no; TRADE_CLOSED when that refund completed a full refund. mutate (may be
// nil) changes it before signing.
func (g *Gateway) RefundNotification(outTradeNo, outRequestNo string, mutate func(url.Values)) (url.Values, error) {
	g.mu.Lock()
	t, ok := g.trades[outTradeNo]
	var r *refund
	if ok {
		r = t.refunds[outRequestNo]
	}
	if r == nil {
		g.mu.Unlock()
		return nil, fmt.Errorf("trade %q has no refund %q", outTradeNo, outRequestNo)
	}
	v := g.refundForm(t, r)
	g.mu.Unlock()
	if mutate != nil {
		mutate(v)
	}
	SignNotification(v, g.Key)
	return v, nil
}

// refundForm is the unsigned notification about refund r of t. Called with g.mu held.
func (g *Gateway) refundForm(t *Trade, r *refund) url.Values {
	v := g.form(t)
	v.Set("refund_fee", formatFen(r.RefundedAfterFen))
	v.Set("gmt_refund", r.At.In(chinaTime).Format("2006-01-02 15:04:05.000"))
	v.Set("out_biz_no", r.OutRequestNo)
	v.Set("trade_status", TradeSuccess)
	if r.ClosedTrade {
		v.Set("trade_status", TradeClosed)
		v.Set("gmt_close", r.At.In(chinaTime).Format(timeLayout))
	}
	return v
}

// Delivery is one notification the gateway posted by itself and the answer it got.
type Delivery struct {
	NotifyID   string
	StatusCode int
	Body       string
	Err        error
}

// DeliverNotifications makes the gateway post the notifications it sends of its own accord
// (after refunds) to the trade's notify_url, once each, in the background; Deliveries reports
// the answers. The test waits for deliveries in flight before it ends.
func (g *Gateway) DeliverNotifications(t interface{ Cleanup(func()) }) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.deliver = true
	t.Cleanup(g.delivering.Wait)
}

// Outbox returns the notifications the gateway sent of its own accord, oldest first.
func (g *Gateway) Outbox() []url.Values {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]url.Values, len(g.outbox))
	for i, v := range g.outbox {
		out[i] = cloneValues(v)
	}
	return out
}

// Deliveries returns the answers to the notifications posted so far.
func (g *Gateway) Deliveries() []Delivery {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.deliveries)
}

// queueNotification signs the notification about refund r of t, keeps it in the outbox and,
// when delivering, posts it. Called with g.mu held; the post runs without it.
func (g *Gateway) queueNotification(t *Trade, r *refund) {
	v := g.refundForm(t, r)
	SignNotification(v, g.Key)
	g.outbox = append(g.outbox, v)
	if !g.deliver || t.NotifyURL == "" {
		return
	}
	notifyURL, body, id := t.NotifyURL, v.Encode(), v.Get("notify_id")
	g.delivering.Add(1)
	go func() {
		defer g.delivering.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		status, answer, err := Post(ctx, notifyURL, body)
		g.mu.Lock()
		defer g.mu.Unlock()
		g.deliveries = append(g.deliveries, Delivery{NotifyID: id, StatusCode: status, Body: answer, Err: err})
	}()
}

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = slices.Clone(vs)
	}
	return c
}

// fen parses a CNY amount ("10.50", "3", "0.5") into fen; it is written apart from the
// client's money package, so the two are checked against each other.
func fen(s string) (int64, error) {
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || len(frac) > 2 || (dot && frac == "") || strings.Trim(whole+frac, "0123456789") != "" || len(whole) > 12 {
		return 0, fmt.Errorf("%q is not an amount in yuan", s)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	return strconv.ParseInt(whole+frac, 10, 64)
}

// formatFen is fen as Alipay writes amounts: yuan with two decimals.
func formatFen(f int64) string {
	return fmt.Sprintf("%d.%02d", f/100, f%100)
}
