package fakegateway

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers/internal/fakekeys"
)

const (
	testAppID    = "2021000117600001"
	testSellerID = "2088621900000001"
)

// paidTrade starts a gateway holding trade "otn_paid" of 10.50, paid.
func paidTrade(t *testing.T) *Gateway {
	t.Helper()
	g := New(testAppID, testSellerID)
	g.Start(t)
	g.AddTrade(Trade{OutTradeNo: "otn_paid", Status: WaitBuyerPay, TotalAmount: "10.50", Subject: "tea"})
	if _, err := g.Pay("otn_paid"); err != nil {
		t.Fatal(err)
	}
	return g
}

// call posts one OpenAPI request signed with the app key, as a merchant would, and returns the
// response object after checking the gateway's sign over its exact bytes.
func call(t *testing.T, g *Gateway, method string, biz map[string]any) map[string]string {
	t.Helper()
	// Runs in goroutines: failures are reported with t.Error, never t.Fatal.
	b, err := json.Marshal(biz)
	if err != nil {
		t.Error(err)
		return nil
	}
	v := url.Values{}
	for k, val := range map[string]string{
		"app_id": g.AppID, "method": method, "format": "JSON", "charset": "utf-8", "sign_type": "RSA2",
		"timestamp": time.Now().In(chinaTime).Format(timeLayout), "version": "1.0", "biz_content": string(b),
	} {
		v.Set(k, val)
	}
	v.Set("sign", fakekeys.Sign(fakekeys.Key("app"), []byte(Content(v, false))))
	resp, err := http.PostForm(g.URL, v)
	if err != nil {
		t.Error(err)
		return nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		t.Errorf("%s: answer %q is not JSON", method, body)
		return nil
	}
	key := strings.ReplaceAll(method, ".", "_") + "_response"
	var sign string
	_ = json.Unmarshal(top["sign"], &sign)
	if !fakekeys.Verify(&g.Key.PublicKey, top[key], sign) {
		t.Errorf("%s: answer is not signed with the gateway key: %s", method, body)
	}
	var obj map[string]any
	if err := json.Unmarshal(top[key], &obj); err != nil {
		t.Errorf("%s: %v", method, err)
		return nil
	}
	out := map[string]string{}
	for k, val := range obj {
		out[k] = fmt.Sprint(val)
	}
	return out
}

func refundReq(otn, no, amount string) map[string]any {
	return map[string]any{"out_trade_no": otn, "out_request_no": no, "refund_amount": amount, "refund_reason": "test"}
}

// TestRefundsNeverExceedThePaymentUnderConcurrency: twenty merchants' requests of 1.00 each,
// all different refund numbers, race for a 10.50 payment; Alipay serialises them, so exactly ten
// move money and the other ten are refused as exceeding what is left.
func TestRefundsNeverExceedThePaymentUnderConcurrency(t *testing.T) {
	t.Parallel()
	g := paidTrade(t)
	var wg sync.WaitGroup
	answers := make([]map[string]string, 20)
	for i := range answers {
		wg.Go(func() {
			answers[i] = call(t, g, "alipay.trade.refund", refundReq("otn_paid", fmt.Sprintf("r_%02d", i), "1.00"))
		})
	}
	wg.Wait()
	succeeded, refused := 0, 0
	for i, a := range answers {
		switch {
		case a["code"] == "10000" && a["fund_change"] == "Y":
			succeeded++
		case a["sub_code"] == "ACQ.REASON_TRADE_REFUND_FEE_ERR":
			refused++
		default:
			t.Errorf("refund r_%02d: unexpected answer %v", i, a)
		}
	}
	s := g.RefundStats("otn_paid")
	if succeeded != 10 || refused != 10 || s.RefundedFen != 1000 || s.TotalFen != 1050 {
		t.Errorf("%d succeeded, %d refused, %d of %d fen refunded; want 10, 10, 1000 of 1050", succeeded, refused, s.RefundedFen, s.TotalFen)
	}
	for no, n := range s.Executions {
		if n != 1 {
			t.Errorf("refund %s executed %d times", no, n)
		}
	}
}

// TestRefundReplaysAreOneRefund: the same refund number sent ten times at once (a merchant
// retrying after timeouts) moves money once; every answer is a success, exactly one with
// fund_change Y, and all report the same cumulative refund_fee.
func TestRefundReplaysAreOneRefund(t *testing.T) {
	t.Parallel()
	g := paidTrade(t)
	var wg sync.WaitGroup
	answers := make([]map[string]string, 10)
	for i := range answers {
		wg.Go(func() { answers[i] = call(t, g, "alipay.trade.refund", refundReq("otn_paid", "r_same", "5.00")) })
	}
	wg.Wait()
	moved := 0
	for _, a := range answers {
		if a["code"] != "10000" || a["refund_fee"] != "5.00" {
			t.Errorf("replay answered %v, want success with refund_fee 5.00", a)
		}
		if a["fund_change"] == "Y" {
			moved++
		}
	}
	s := g.RefundStats("otn_paid")
	if moved != 1 || s.Executions["r_same"] != 1 || s.Requests["r_same"] != 10 || s.RefundedFen != 500 {
		t.Errorf("fund_change Y %d times, stats %+v; want once, 1 execution of 10 requests, 500 fen", moved, s)
	}
	if a := call(t, g, "alipay.trade.refund", refundReq("otn_paid", "r_same", "5.01")); a["sub_code"] != "ACQ.DISCORDANT_REPEAT_REQUEST" {
		t.Errorf("the same number with another amount answered %v, want ACQ.DISCORDANT_REPEAT_REQUEST", a)
	}
}

// TestRefundRefusals: what Alipay refuses, by its documented sub_codes, and that a refusal moves
// nothing.
func TestRefundRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, why, status, amount, sub string
	}{
		{"unpaid", "WAIT_BUYER_PAY has nothing to refund", WaitBuyerPay, "1.00", "ACQ.TRADE_STATUS_ERROR"},
		{"closed", "a trade closed unpaid has nothing to refund", TradeClosed, "1.00", "ACQ.TRADE_STATUS_ERROR"},
		{"finished", "TRADE_FINISHED is past its refund period", TradeFinished, "1.00", "ACQ.TRADE_HAS_FINISHED"},
		{"more than the total", "one refund larger than the payment", TradeSuccess, "10.51", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"},
		{"three decimals", "a Price has at most two decimals", TradeSuccess, "1.005", "ACQ.INVALID_PARAMETER"},
		{"zero", "a refund moves money", TradeSuccess, "0.00", "ACQ.INVALID_PARAMETER"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := New(testAppID, testSellerID)
			g.Start(t)
			g.AddTrade(Trade{OutTradeNo: "otn_x", TradeNo: "2026031422001000000000000009", Status: tc.status, TotalAmount: "10.50"})
			a := call(t, g, "alipay.trade.refund", refundReq("otn_x", "r_1", tc.amount))
			if a["sub_code"] != tc.sub {
				t.Errorf("%s: answered %v, want %s", tc.why, a, tc.sub)
			}
			if s := g.RefundStats("otn_x"); s.RefundedFen != 0 || s.Executions["r_1"] != 0 {
				t.Errorf("%s: a refusal moved money: %+v", tc.why, s)
			}
		})
	}
	g := New(testAppID, testSellerID)
	g.Start(t)
	if a := call(t, g, "alipay.trade.refund", refundReq("otn_none", "r_1", "1.00")); a["sub_code"] != "ACQ.TRADE_NOT_EXIST" {
		t.Errorf("refund of an unknown trade answered %v, want ACQ.TRADE_NOT_EXIST", a)
	}
}

// TestFullRefundClosesTheTradeAndNotifies: refunds report the cumulative refund_fee; the one
// that completes the payment closes the trade; each refund queues the trade notification
// Alipay sends, carrying refund_fee, gmt_refund and out_biz_no, signed like every notification.
func TestFullRefundClosesTheTradeAndNotifies(t *testing.T) {
	t.Parallel()
	g := paidTrade(t)
	if a := call(t, g, "alipay.trade.refund", refundReq("otn_paid", "r_1", "0.50")); a["refund_fee"] != "0.50" || a["fund_change"] != "Y" {
		t.Fatalf("first refund answered %v", a)
	}
	if a := call(t, g, "alipay.trade.refund", refundReq("otn_paid", "r_2", "10")); a["refund_fee"] != "10.50" || a["fund_change"] != "Y" {
		t.Fatalf("second refund answered %v", a)
	}
	if tr, _ := g.Trade("otn_paid"); tr.Status != TradeClosed {
		t.Errorf("trade is %s after a full refund, want TRADE_CLOSED", tr.Status)
	}
	out := g.Outbox()
	if len(out) != 2 {
		t.Fatalf("outbox has %d notifications, want 2", len(out))
	}
	want := []map[string]string{
		{"trade_status": TradeSuccess, "refund_fee": "0.50", "out_biz_no": "r_1"},
		{"trade_status": TradeClosed, "refund_fee": "10.50", "out_biz_no": "r_2"},
	}
	for i, v := range out {
		for k, val := range want[i] {
			if v.Get(k) != val {
				t.Errorf("notification %d: %s = %q, want %q", i, k, v.Get(k), val)
			}
		}
		if v.Get("gmt_refund") == "" || !fakekeys.Verify(&g.Key.PublicKey, []byte(Content(v, true)), v.Get("sign")) {
			t.Errorf("notification %d has no gmt_refund or does not verify: %v", i, v)
		}
	}
	if a := call(t, g, "alipay.trade.refund", refundReq("otn_paid", "r_1", "0.50")); a["code"] != "10000" || a["fund_change"] != "N" {
		t.Errorf("a replay after the full refund answered %v, want the same refund, fund_change N", a)
	}
}

// TestRefundQuery: a refund made is REFUND_SUCCESS with its amount; one never made answers
// success without refund_status, Alipay's "not refunded".
func TestRefundQuery(t *testing.T) {
	t.Parallel()
	g := paidTrade(t)
	call(t, g, "alipay.trade.refund", refundReq("otn_paid", "r_1", "2.00"))
	a := call(t, g, "alipay.trade.fastpay.refund.query", map[string]any{"out_trade_no": "otn_paid", "out_request_no": "r_1", "query_options": []string{"gmt_refund_pay"}})
	if a["refund_status"] != "REFUND_SUCCESS" || a["refund_amount"] != "2.00" || a["out_request_no"] != "r_1" || a["gmt_refund_pay"] == "" {
		t.Errorf("query of a refund made answered %v", a)
	}
	a = call(t, g, "alipay.trade.fastpay.refund.query", map[string]any{"out_trade_no": "otn_paid", "out_request_no": "r_2"})
	if _, has := a["refund_status"]; has || a["code"] != "10000" {
		t.Errorf("query of a refund never made answered %v, want success without refund_status", a)
	}
}

// TestAfterExecutionFault: the refund happens, only its answer is lost; the replay finds it.
func TestAfterExecutionFault(t *testing.T) {
	t.Parallel()
	g := paidTrade(t)
	g.InjectFaults(Fault{HTTPStatus: http.StatusBadGateway, AfterExecution: true})
	b, _ := json.Marshal(refundReq("otn_paid", "r_1", "1.00"))
	v := url.Values{"app_id": {testAppID}, "method": {"alipay.trade.refund"}, "format": {"JSON"}, "charset": {"utf-8"}, "sign_type": {"RSA2"},
		"timestamp": {time.Now().In(chinaTime).Format(timeLayout)}, "version": {"1.0"}, "biz_content": {string(b)}}
	v.Set("sign", fakekeys.Sign(fakekeys.Key("app"), []byte(Content(v, false))))
	resp, err := http.PostForm(g.URL, v)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("answered %d, want the injected 502", resp.StatusCode)
	}
	if s := g.RefundStats("otn_paid"); s.Executions["r_1"] != 1 || s.RefundedFen != 100 {
		t.Errorf("the refund behind the lost answer did not happen: %+v", s)
	}
}

// TestDeliverNotifications: with delivery on, the refund's notification reaches the trade's
// notify_url once, and the answer is recorded.
func TestDeliverNotifications(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []url.Values
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		v, _ := url.ParseQuery(string(b))
		mu.Lock()
		got = append(got, v)
		mu.Unlock()
		_, _ = io.WriteString(w, "success")
	}))
	t.Cleanup(receiver.Close)
	g := New(testAppID, testSellerID)
	g.Start(t)
	g.DeliverNotifications(t)
	g.AddTrade(Trade{OutTradeNo: "otn_paid", Status: WaitBuyerPay, TotalAmount: "10.50", NotifyURL: receiver.URL})
	if _, err := g.Pay("otn_paid"); err != nil {
		t.Fatal(err)
	}
	call(t, g, "alipay.trade.refund", refundReq("otn_paid", "r_1", "1.00"))
	deadline := time.Now().Add(10 * time.Second)
	for len(g.Deliveries()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no delivery within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	d := g.Deliveries()[0]
	mu.Lock()
	defer mu.Unlock()
	if d.Err != nil || d.StatusCode != http.StatusOK || d.Body != "success" || len(got) != 1 || got[0].Get("out_biz_no") != "r_1" || got[0].Get("notify_id") != d.NotifyID {
		t.Errorf("delivery %+v, received %v", d, got)
	}
}
