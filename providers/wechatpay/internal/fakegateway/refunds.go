package fakegateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Refund statuses as WeChat Pay names them.
const (
	RefundProcessing = "PROCESSING"
	RefundSuccess    = "SUCCESS"
	RefundClosed     = "CLOSED"
	RefundAbnormal   = "ABNORMAL"
)

// Refund is one refund the gateway keeps.
type Refund struct {
	RefundID, OutRefundNo, OutTradeNo, TransactionID, Status, Reason, NotifyURL string
	// Amount is this refund's, Total the order's, in fen.
	Amount, Total        int64
	Created, SuccessTime time.Time
	// requests counts the verified requests for this refund number; executions the times a
	// refund was accepted under it (never more than one).
	requests, executions int
}

// RefundStats is what happened to one order's refunds, for tests.
type RefundStats struct {
	// TotalFen is the order's amount; RefundedFen the sum of its refunds that are not CLOSED
	// (processing, succeeded or abnormal: money WeChat Pay has committed), never more than
	// TotalFen.
	TotalFen, RefundedFen int64
	// Requests counts the verified refund requests per out_refund_no, refused ones included;
	// Executions the refunds accepted per out_refund_no.
	Requests, Executions map[string]int
}

// RefundStats returns the refunds of the order outTradeNo.
func (g *Gateway) RefundStats(outTradeNo string) RefundStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := RefundStats{RefundedFen: g.refunded[outTradeNo], Requests: map[string]int{}, Executions: map[string]int{}}
	if o, ok := g.orders[outTradeNo]; ok {
		s.TotalFen = o.Total
	}
	for no, r := range g.refunds {
		if r.OutTradeNo == outTradeNo {
			s.Requests[no], s.Executions[no] = r.requests, r.executions
		}
	}
	return s
}

// Refund returns a copy of the refund out_refund_no.
func (g *Gateway) Refund(outRefundNo string) (Refund, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r, ok := g.refunds[outRefundNo]
	if !ok {
		return Refund{}, false
	}
	return *r, true
}

// AutoCompleteRefunds makes the gateway complete each refund it accepts with SUCCESS shortly
// after answering, in the background, as WeChat Pay does; the test waits for it before it ends.
func (g *Gateway) AutoCompleteRefunds(t interface{ Cleanup(func()) }) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.autoComplete = true
	t.Cleanup(g.delivering.Wait)
}

// refundRequest is the body of POST /v3/refund/domestic/refunds.
type refundRequest struct {
	TransactionID string `json:"transaction_id"`
	OutTradeNo    string `json:"out_trade_no"`
	OutRefundNo   string `json:"out_refund_no"`
	Reason        string `json:"reason"`
	NotifyURL     string `json:"notify_url"`
	Amount        *struct {
		Refund   int64  `json:"refund"`
		Total    int64  `json:"total"`
		Currency string `json:"currency"`
	} `json:"amount"`
}

// refund accepts a refund as WeChat Pay documents POST /v3/refund/domestic/refunds: one
// out_refund_no per refund ("the same refund number requested many times refunds once"); a
// repeat answers the refund as it is; the refunds of an order never add up to more than it
// (requests are served one at a time, under g.mu, so concurrent ones cannot either); accepted
// refunds are PROCESSING, completed later.
func (g *Gateway) refund(w http.ResponseWriter, _ *http.Request, body []byte, f Fault) {
	var req refundRequest
	if err := json.Unmarshal(body, &req); err != nil {
		g.reply(w, http.StatusBadRequest, errorBody("PARAM_ERROR", "body is not JSON"), f)
		return
	}
	switch {
	case !validRefundNo(req.OutRefundNo):
		g.reply(w, http.StatusBadRequest, errorBody("PARAM_ERROR", "out_refund_no 格式错误"), f)
		return
	case req.OutTradeNo == "" && req.TransactionID == "":
		g.reply(w, http.StatusBadRequest, errorBody("PARAM_ERROR", "transaction_id和out_trade_no必须二选一"), f)
		return
	case req.Amount == nil || req.Amount.Refund <= 0 || req.Amount.Total <= 0 || req.Amount.Currency != "CNY":
		g.reply(w, http.StatusBadRequest, errorBody("PARAM_ERROR", "amount 参数错误"), f)
		return
	}
	o := g.findOrder(req.OutTradeNo, req.TransactionID)
	if r, ok := g.refunds[req.OutRefundNo]; ok {
		r.requests++
		if o == nil || r.OutTradeNo != o.OutTradeNo || r.Amount != req.Amount.Refund || r.Total != req.Amount.Total {
			g.reply(w, http.StatusBadRequest, errorBody("INVALID_REQUEST", "订单金额或退款金额与之前请求不一致，请核实后再试"), f)
			return
		}
		g.reply(w, http.StatusOK, g.refundJSON(r), f)
		return
	}
	switch {
	case o == nil || (o.TradeState != Success && o.TradeState != TradeRefund):
		// Unknown, or never paid: "请检查你的订单号是否正确且是否已支付，未支付的订单不能发起退款".
		g.reply(w, http.StatusNotFound, errorBody("RESOURCE_NOT_EXISTS", "订单不存在"), f)
		return
	case req.Amount.Total != o.Total:
		g.reply(w, http.StatusBadRequest, errorBody("INVALID_REQUEST", "订单金额与原订单金额不一致"), f)
		return
	case g.refunded[o.OutTradeNo]+req.Amount.Refund > o.Total:
		g.reply(w, http.StatusBadRequest, errorBody("INVALID_REQUEST", "申请退款金额超过订单可退金额"), f)
		return
	}
	g.seq++
	r := &Refund{
		RefundID: fmt.Sprintf("50300%s%013d", g.now().In(chinaTime).Format("20060102"), g.seq), OutRefundNo: req.OutRefundNo,
		OutTradeNo: o.OutTradeNo, TransactionID: o.TransactionID, Status: RefundProcessing, Reason: req.Reason, NotifyURL: req.NotifyURL,
		Amount: req.Amount.Refund, Total: o.Total, Created: g.now(), requests: 1, executions: 1,
	}
	g.refunds[r.OutRefundNo] = r
	g.refunded[o.OutTradeNo] += r.Amount
	o.TradeState = TradeRefund
	g.reply(w, http.StatusOK, g.refundJSON(r), f)
	if g.autoComplete {
		g.delivering.Add(1)
		go func() {
			defer g.delivering.Done()
			_ = g.CompleteRefund(r.OutRefundNo, RefundSuccess)
		}()
	}
}

// refundQuery answers GET /v3/refund/domestic/refunds/{out_refund_no}.
func (g *Gateway) refundQuery(w http.ResponseWriter, r *http.Request, _ []byte, f Fault) {
	ref, ok := g.refunds[r.PathValue("no")]
	if !ok {
		g.reply(w, http.StatusNotFound, errorBody("RESOURCE_NOT_EXISTS", "退款单不存在"), f)
		return
	}
	g.reply(w, http.StatusOK, g.refundJSON(ref), f)
}

// CompleteRefund ends a PROCESSING (or ABNORMAL) refund with status SUCCESS, CLOSED or
// ABNORMAL, as WeChat Pay does after it accepted it, and sends the REFUND.<status>
// notification. A CLOSED refund moved no money: its amount is refundable again.
func (g *Gateway) CompleteRefund(outRefundNo, status string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	r, ok := g.refunds[outRefundNo]
	switch {
	case !ok:
		return fmt.Errorf("no refund %q", outRefundNo)
	case r.Status != RefundProcessing && r.Status != RefundAbnormal:
		return fmt.Errorf("refund %q is %s already", outRefundNo, r.Status)
	case status != RefundSuccess && status != RefundClosed && status != RefundAbnormal:
		return fmt.Errorf("refund %q cannot end %q", outRefundNo, status)
	}
	r.Status = status
	switch status {
	case RefundSuccess:
		r.SuccessTime = g.now()
	case RefundClosed:
		g.refunded[r.OutTradeNo] -= r.Amount
	}
	h, body := g.refundNotification(r, nil)
	g.queue(Sent{NotifyURL: r.NotifyURL, Header: h, Body: body})
	return nil
}

// refundJSON is a refund as the refund API answers it.
func (g *Gateway) refundJSON(r *Refund) map[string]any {
	a := map[string]any{
		"refund_id": r.RefundID, "out_refund_no": r.OutRefundNo, "transaction_id": r.TransactionID, "out_trade_no": r.OutTradeNo,
		"channel": "ORIGINAL", "user_received_account": "支付用户零钱", "create_time": r.Created.In(chinaTime).Format(time.RFC3339),
		"status": r.Status, "funds_account": "AVAILABLE", "promotion_detail": []any{},
		"amount": map[string]any{
			"total": r.Total, "refund": r.Amount, "from": []any{}, "payer_total": r.Total, "payer_refund": r.Amount,
			"settlement_refund": r.Amount, "settlement_total": r.Total, "discount_refund": 0, "currency": "CNY", "refund_fee": 0,
		},
	}
	if r.Status == RefundSuccess {
		a["success_time"] = r.SuccessTime.In(chinaTime).Format(time.RFC3339)
	}
	return a
}

// RefundNotification returns the headers and body WeChat Pay posts about the refund in its
// current state (REFUND.SUCCESS, REFUND.CLOSED or REFUND.ABNORMAL). mutate may change the
// resource before it is encrypted and signed, so what it changes is validly signed.
func (g *Gateway) RefundNotification(outRefundNo string, mutate func(resource map[string]any)) (http.Header, []byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r, ok := g.refunds[outRefundNo]
	if !ok {
		return nil, nil, fmt.Errorf("no refund %q", outRefundNo)
	}
	h, body := g.refundNotification(r, mutate)
	return h, body, nil
}

// refundNotification builds the signed notification about r. Called with g.mu held.
func (g *Gateway) refundNotification(r *Refund, mutate func(map[string]any)) (http.Header, []byte) {
	res := map[string]any{
		"mchid": g.MchID, "out_trade_no": r.OutTradeNo, "transaction_id": r.TransactionID, "out_refund_no": r.OutRefundNo,
		"refund_id": r.RefundID, "refund_status": r.Status, "user_received_account": "支付用户零钱",
		"amount": map[string]any{"total": r.Total, "refund": r.Amount, "payer_total": r.Total, "payer_refund": r.Amount},
	}
	if r.Status == RefundSuccess {
		res["success_time"] = r.SuccessTime.In(chinaTime).Format(time.RFC3339)
	}
	if mutate != nil {
		mutate(res)
	}
	plain, err := json.Marshal(res)
	if err != nil {
		panic(err)
	}
	g.seq++
	now := g.now()
	id := fmt.Sprintf("EV-%s-%06d", RandomString(8), g.seq)
	body := g.Envelope(id, "REFUND."+fmt.Sprint(res["refund_status"]), "refund", plain, g.APIv3Key, now)
	return SignedHeaders(g.PlatformKey, g.PlatformKeyID, now, body), body
}

// Sent is a notification the gateway sent of its own accord.
type Sent struct {
	NotifyURL string
	Header    http.Header
	Body      []byte
}

// Delivery is one notification the gateway posted by itself and the answer it got.
type Delivery struct {
	NotifyURL  string
	StatusCode int
	Body       string
	Err        error
}

// DeliverNotifications makes the gateway post the notifications it sends of its own accord
// (refund results) to their notify_url, once each, in the background; Deliveries reports the
// answers. The test waits for deliveries in flight before it ends.
func (g *Gateway) DeliverNotifications(t interface{ Cleanup(func()) }) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.deliver = true
	t.Cleanup(g.delivering.Wait)
}

// Outbox returns the notifications the gateway sent of its own accord, oldest first.
func (g *Gateway) Outbox() []Sent {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]Sent, len(g.outbox))
	for i, s := range g.outbox {
		out[i] = Sent{NotifyURL: s.NotifyURL, Header: s.Header.Clone(), Body: slices.Clone(s.Body)}
	}
	return out
}

// Deliveries returns the answers to the notifications posted so far.
func (g *Gateway) Deliveries() []Delivery {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.deliveries)
}

// queue keeps s in the outbox and, when delivering, posts it. Called with g.mu held; the post
// runs without it.
func (g *Gateway) queue(s Sent) {
	g.outbox = append(g.outbox, s)
	if !g.deliver || s.NotifyURL == "" {
		return
	}
	g.delivering.Add(1)
	go func() {
		defer g.delivering.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		status, answer, err := Post(ctx, s.NotifyURL, s.Header, s.Body)
		g.mu.Lock()
		defer g.mu.Unlock()
		g.deliveries = append(g.deliveries, Delivery{NotifyURL: s.NotifyURL, StatusCode: status, Body: answer, Err: err})
	}()
}

// findOrder returns the order named by out_trade_no or transaction_id, or nil.
func (g *Gateway) findOrder(outTradeNo, transactionID string) *Order {
	if outTradeNo != "" {
		o := g.orders[outTradeNo]
		if o != nil && transactionID != "" && o.TransactionID != transactionID {
			return nil
		}
		return o
	}
	for _, o := range g.orders {
		if o.TransactionID != "" && o.TransactionID == transactionID {
			return o
		}
	}
	return nil
}

// validRefundNo is WeChat Pay's rule for out_refund_no: 1 to 64 of digits, letters and _-|*@.
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
