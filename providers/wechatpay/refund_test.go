package wechatpay_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/wechatpay/internal/fakegateway"
)

// refundGateway serves a gateway on the fixed clock holding "otn-paid", 10.50, paid at fixedNow.
func refundGateway(t testing.TB) *fakegateway.Gateway {
	t.Helper()
	g := startGateway(t)
	g.AddOrder(fakegateway.Order{OutTradeNo: "otn-paid", TradeState: fakegateway.NotPay, Channel: "native", Total: 1050})
	if _, err := g.Pay("otn-paid"); err != nil {
		t.Fatal(err)
	}
	return g
}

// refundReq is a refund of minor fen of the 10.50 payment "otn-paid" under number no.
func refundReq(no string, minor int64) providers.RefundRequest {
	return providers.RefundRequest{
		OutTradeNo: "otn-paid", ProviderPaymentID: "otn-paid", OutRefundNo: no,
		AmountMinor: minor, Amount: fmt.Sprintf("%d.%02d", minor/100, minor%100), TotalMinor: 1050, Currency: "CNY",
		Reason: "顾客退货", NotifyURL: "https://kubepay.example/notify/shop/wechatpay",
	}
}

func mustRefund(t testing.TB, c providers.Provider, req providers.RefundRequest) providers.Refund {
	t.Helper()
	r, err := c.Refund(context.Background(), req)
	if err != nil {
		t.Fatalf("setup refund %s: %v", req.OutRefundNo, err)
	}
	return r
}

// TestRefund: the refund API's answers and refusals, and what each becomes.
func TestRefund(t *testing.T) {
	t.Parallel()
	type setupFn func(t *testing.T, g *fakegateway.Gateway, c providers.Provider)
	complete := func(no, status string) setupFn {
		return func(t *testing.T, g *fakegateway.Gateway, c providers.Provider) {
			mustRefund(t, c, refundReq(no, 300))
			if err := g.CompleteRefund(no, status); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name, why string
		setup     setupFn
		req       func() providers.RefundRequest
		faults    []fakegateway.Fault
		err       errWant
		status    providers.RefundStatus
		// executed is how many refunds the gateway accepted under the number; committed the
		// order's refunded total afterwards, in fen.
		executed  int
		committed int64
	}{
		{name: "accepted", why: "WeChat Pay accepts the refund as PROCESSING; the result comes later", req: func() providers.RefundRequest { return refundReq("r-1", 300) },
			err: errWant{ok: true}, status: providers.RefundProcessing, executed: 1, committed: 300},
		{name: "by transaction_id", why: "transaction_id names the order when out_trade_no is not given", req: func() providers.RefundRequest {
			r := refundReq("r-1", 300)
			r.OutTradeNo, r.ProviderPaymentID, r.TransactionID = "", "", "42000202603140000000000001"
			return r
		}, err: errWant{ok: true}, status: providers.RefundProcessing, executed: 1, committed: 300},
		{name: "repeat, succeeded", why: "the same number again answers the refund it holds, now SUCCESS: that refund, not a second one",
			setup: complete("r-1", fakegateway.RefundSuccess), req: func() providers.RefundRequest { return refundReq("r-1", 300) },
			err: errWant{ok: true}, status: providers.RefundSucceeded, executed: 1, committed: 300},
		{name: "repeat, closed", why: "a CLOSED refund is failed: nothing moved", setup: complete("r-1", fakegateway.RefundClosed), req: func() providers.RefundRequest { return refundReq("r-1", 300) },
			err: errWant{ok: true}, status: providers.RefundFailed, executed: 1, committed: 0},
		{name: "repeat, abnormal", why: "an ABNORMAL refund stays in flight (its money left the merchant), with the reason that a person must handle it", setup: complete("r-1", fakegateway.RefundAbnormal), req: func() providers.RefundRequest { return refundReq("r-1", 300) },
			err: errWant{ok: true}, status: providers.RefundProcessing, executed: 1, committed: 300},
		{name: "repeat with another amount", why: "the number already holds a refund of 3.00: terminal, and not that refund",
			setup: func(t *testing.T, _ *fakegateway.Gateway, c providers.Provider) {
				mustRefund(t, c, refundReq("r-1", 300))
			},
			req: func() providers.RefundRequest { return refundReq("r-1", 400) }, err: errWant{code: "out_refund_no_used"}, executed: 1, committed: 300},
		{name: "refused replay of a refund made", why: "a signed refusal of a number that holds this very refund is that refund",
			setup: func(t *testing.T, g *fakegateway.Gateway, c providers.Provider) {
				mustRefund(t, c, refundReq("r-1", 1050))
				g.InjectFaults(fakegateway.Fault{Status: http.StatusBadRequest, Code: "INVALID_REQUEST", Message: "申请退款金额超过订单可退金额"})
			},
			req: func() providers.RefundRequest { return refundReq("r-1", 1050) }, err: errWant{ok: true}, status: providers.RefundProcessing, executed: 1, committed: 1050},
		{name: "beyond what is left", why: "earlier refunds leave 0.50: INVALID_REQUEST \"申请退款金额超过订单可退金额\" is ErrRefundExceedsPayment",
			setup: func(t *testing.T, _ *fakegateway.Gateway, c providers.Provider) {
				mustRefund(t, c, refundReq("r-0", 1000))
			},
			req: func() providers.RefundRequest { return refundReq("r-1", 100) }, err: errWant{is: providers.ErrRefundExceedsPayment, code: "INVALID_REQUEST"}, committed: 1000},
		{name: "fully refunded", why: "\"订单已全额退款\" is ErrRefundExceedsPayment too", req: func() providers.RefundRequest { return refundReq("r-1", 100) },
			faults: []fakegateway.Fault{{Status: http.StatusBadRequest, Code: "INVALID_REQUEST", Message: "订单已全额退款"}}, err: errWant{is: providers.ErrRefundExceedsPayment, code: "INVALID_REQUEST"}},
		{name: "other business rule", why: "an INVALID_REQUEST about something else is terminal, not an over-refund", req: func() providers.RefundRequest { return refundReq("r-1", 100) },
			faults: []fakegateway.Fault{{Status: http.StatusBadRequest, Code: "INVALID_REQUEST", Message: "订单已经超过退款期限"}}, err: errWant{code: "INVALID_REQUEST"}},
		{name: "merchant balance", why: "403 NOT_ENOUGH is the merchant's balance, not the order's: terminal, not ErrRefundExceedsPayment", req: func() providers.RefundRequest { return refundReq("r-1", 100) },
			faults: []fakegateway.Fault{{Status: http.StatusForbidden, Code: "NOT_ENOUGH", Message: "余额不足"}}, err: errWant{code: "NOT_ENOUGH"}},
		{name: "user account abnormal", why: "403 USER_ACCOUNT_ABNORMAL: WeChat Pay will not refund to that account", req: func() providers.RefundRequest { return refundReq("r-1", 100) },
			faults: []fakegateway.Fault{{Status: http.StatusForbidden, Code: "USER_ACCOUNT_ABNORMAL", Message: "退款请求失败"}}, err: errWant{code: "USER_ACCOUNT_ABNORMAL"}},
		{name: "no order", why: "a signed 404 RESOURCE_NOT_EXISTS is ErrNotFound", req: func() providers.RefundRequest {
			r := refundReq("r-1", 100)
			r.OutTradeNo, r.ProviderPaymentID = "otn-none", "otn-none"
			return r
		}, err: errWant{is: providers.ErrNotFound, code: "RESOURCE_NOT_EXISTS"}},
		{name: "unpaid order", why: "WeChat Pay answers RESOURCE_NOT_EXISTS for an order never paid", setup: func(_ *testing.T, g *fakegateway.Gateway, _ providers.Provider) { notPaid(g, "otn-paid") },
			req: func() providers.RefundRequest { return refundReq("r-1", 100) }, err: errWant{is: providers.ErrNotFound, code: "RESOURCE_NOT_EXISTS"}},
		{name: "system error", why: "500 SYSTEM_ERROR asks for the same request again", req: func() providers.RefundRequest { return refundReq("r-1", 100) },
			faults: []fakegateway.Fault{{Status: http.StatusInternalServerError, Code: "SYSTEM_ERROR"}}, err: errWant{retryable: true, code: "SYSTEM_ERROR"}},
		{name: "throttled", why: "429 FREQUENCY_LIMITED: not accepted, ask again later", req: func() providers.RefundRequest { return refundReq("r-1", 100) },
			faults: []fakegateway.Fault{{Status: http.StatusTooManyRequests, Code: "FREQUENCY_LIMITED"}}, err: errWant{retryable: true, code: "FREQUENCY_LIMITED"}},
		{name: "unsigned exceeds", why: "an unsigned refusal proves nothing, not even that no money moved", req: func() providers.RefundRequest { return refundReq("r-1", 100) },
			faults: []fakegateway.Fault{{Status: http.StatusBadRequest, Code: "INVALID_REQUEST", Message: "申请退款金额超过订单可退金额", Unsigned: true}}, err: errWant{retryable: true, code: "INVALID_REQUEST"}},
		{name: "bare 404", why: "a proxy's 404 page is not WeChat Pay's \"no such order\"", req: func() providers.RefundRequest { return refundReq("r-1", 100) },
			faults: []fakegateway.Fault{{Status: http.StatusNotFound, Unsigned: true}}, err: errWant{retryable: true, code: "404"}},
		{name: "answer lost", why: "the refund was accepted but its answer did not arrive: asked again (see TestRefundRetryAfterLostAnswer)", req: func() providers.RefundRequest { return refundReq("r-1", 100) },
			faults: []fakegateway.Fault{{Status: http.StatusBadGateway, Unsigned: true, AfterExecution: true}}, err: errWant{retryable: true, code: "502"}, executed: 1, committed: 100},
		{name: "forged answer", why: "a 200 signed with another key is not believed", req: func() providers.RefundRequest { return refundReq("r-1", 100) },
			faults: []fakegateway.Fault{{WrongKey: true}}, err: errWant{retryable: true, code: "bad_response"}, executed: 1, committed: 100},
		{name: "tampered answer", why: "PROCESSING turned into SUCCESS on the way must not verify", req: func() providers.RefundRequest { return refundReq("r-1", 100) },
			faults: []fakegateway.Fault{{Tamper: func(b []byte) []byte { return bytes.Replace(b, []byte(`"PROCESSING"`), []byte(`"SUCCESS"`), 1) }}},
			err:    errWant{retryable: true, code: "bad_response"}, executed: 1, committed: 100},
		{name: "about another refund", why: "a signed answer about another refund number says nothing about this one", req: func() providers.RefundRequest { return refundReq("r-1", 100) },
			faults: []fakegateway.Fault{{Set: map[string]any{"out_refund_no": "r-9"}}}, err: errWant{retryable: true, code: "mismatch"}, executed: 1, committed: 100},
		{name: "unknown status", why: "a status WeChat Pay does not document is asked about again", req: func() providers.RefundRequest { return refundReq("r-1", 100) },
			faults: []fakegateway.Fault{{Set: map[string]any{"status": "PENDING"}}}, err: errWant{retryable: true, code: "bad_response"}, executed: 1, committed: 100},
		{name: "more than the payment, locally", why: "a refund larger than the payment is refused before any call", req: func() providers.RefundRequest { return refundReq("r-1", 1051) },
			err: errWant{is: providers.ErrRefundExceedsPayment, code: "refund_exceeds_payment"}},
		{name: "no total", why: "amount.total is required by WeChat Pay", req: func() providers.RefundRequest { r := refundReq("r-1", 100); r.TotalMinor = 0; return r },
			err: errWant{code: "invalid_request"}},
		{name: "amount disagrees", why: "Amount must say what AmountMinor says", req: func() providers.RefundRequest { r := refundReq("r-1", 100); r.Amount = "1.01"; return r },
			err: errWant{code: "invalid_amount"}},
		{name: "USD", why: "WeChat Pay domestic refunds are in CNY", req: func() providers.RefundRequest { r := refundReq("r-1", 100); r.Currency = "USD"; return r },
			err: errWant{code: "unsupported_currency"}},
		{name: "bad refund number", why: "out_refund_no is digits, letters and _-|*@ (and goes into the query's path)", req: func() providers.RefundRequest { return refundReq("r/1", 100) },
			err: errWant{code: "invalid_out_refund_no"}},
		{name: "no order named", why: "nothing to refund", req: func() providers.RefundRequest {
			r := refundReq("r-1", 100)
			r.OutTradeNo, r.ProviderPaymentID = "", ""
			return r
		}, err: errWant{code: "invalid_argument"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := refundGateway(t)
			c := newClient(t, g.URL)
			if tc.setup != nil {
				tc.setup(t, g, c)
			}
			g.InjectFaults(tc.faults...)
			req := tc.req()
			r, err := c.Refund(context.Background(), req)
			checkErr(t, tc.why, err, tc.err)
			if err != nil && !strings.Contains(err.Error(), req.OutRefundNo) {
				t.Errorf("%s: error %q does not name the refund %s", tc.why, err, req.OutRefundNo)
			}
			if tc.err.ok {
				held, _ := g.Refund(req.OutRefundNo)
				if r.Status != tc.status || r.ID != held.RefundID || r.ID == "" || r.OutRefundNo != req.OutRefundNo || r.OutTradeNo != "otn-paid" || r.AmountMinor != req.AmountMinor || r.Currency != "CNY" {
					t.Errorf("%s: refund %+v (gateway holds %+v)", tc.why, r, held)
				}
				if (r.Status == providers.RefundSucceeded) != !r.RefundedAt.IsZero() || (r.Status == providers.RefundFailed || tc.name == "repeat, abnormal") != (r.FailureReason != "") {
					t.Errorf("%s: RefundedAt %v, FailureReason %q for %s", tc.why, r.RefundedAt, r.FailureReason, r.Status)
				}
			}
			s := g.RefundStats("otn-paid")
			if s.Executions[req.OutRefundNo] != tc.executed || s.RefundedFen != tc.committed {
				t.Errorf("%s: gateway accepted %q %d times, committed %d fen; want %d and %d", tc.why, req.OutRefundNo, s.Executions[req.OutRefundNo], s.RefundedFen, tc.executed, tc.committed)
			}
		})
	}
}

// TestRefundRetryAfterLostAnswer: a refund whose answer was lost, retried with the same number,
// is the refund that was accepted; WeChat Pay accepts no second one.
func TestRefundRetryAfterLostAnswer(t *testing.T) {
	t.Parallel()
	g := refundGateway(t)
	c := newClient(t, g.URL)
	g.InjectFaults(fakegateway.Fault{Status: http.StatusBadGateway, Unsigned: true, AfterExecution: true})
	req := refundReq("r-1", 250)
	if _, err := c.Refund(context.Background(), req); !providers.IsRetryable(err) {
		t.Fatalf("lost answer: %v, want retryable", err)
	}
	r, err := c.Refund(context.Background(), req)
	held, _ := g.Refund("r-1")
	if err != nil || r.ID != held.RefundID || r.Status != providers.RefundProcessing || r.AmountMinor != 250 {
		t.Fatalf("retry: %+v, %v; want the accepted refund %s", r, err, held.RefundID)
	}
	if s := g.RefundStats("otn-paid"); s.Executions["r-1"] != 1 || s.Requests["r-1"] != 2 || s.RefundedFen != 250 {
		t.Errorf("gateway stats %+v: want one refund of two requests, 250 fen", s)
	}
}

// TestConcurrentRefundsThroughTheClient: concurrent refunds of one payment never exceed it (the
// refused ones are ErrRefundExceedsPayment) and concurrent retries of one refund are one refund.
func TestConcurrentRefundsThroughTheClient(t *testing.T) {
	t.Parallel()
	g := refundGateway(t)
	c := newClient(t, g.URL)
	var wg sync.WaitGroup
	errs := make([]error, 12)
	for i := range errs {
		wg.Go(func() { _, errs[i] = c.Refund(context.Background(), refundReq(fmt.Sprintf("r-%02d", i), 100)) })
	}
	same := make([]providers.Refund, 6)
	sameErrs := make([]error, 6)
	for i := range same {
		wg.Go(func() { same[i], sameErrs[i] = c.Refund(context.Background(), refundReq("r-same", 50)) })
	}
	wg.Wait()
	exceeded := 0
	for i, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, providers.ErrRefundExceedsPayment):
			exceeded++
		default:
			t.Errorf("refund r-%02d: %v", i, err)
		}
	}
	held, _ := g.Refund("r-same")
	for i, err := range sameErrs {
		if err != nil || same[i].ID != held.RefundID {
			t.Errorf("retry %d of r-same: %+v, %v; want the one refund %s", i, same[i], err, held.RefundID)
		}
	}
	s := g.RefundStats("otn-paid")
	if s.RefundedFen != 1050 || exceeded != 2 || s.Executions["r-same"] != 1 {
		t.Errorf("committed %d fen, %d refused as exceeding, r-same accepted %d times; want 1050, 2, 1", s.RefundedFen, exceeded, s.Executions["r-same"])
	}
}

// TestQueryRefund: the refund query's answers and what each becomes.
func TestQueryRefund(t *testing.T) {
	t.Parallel()
	made := func(status string) func(t *testing.T, g *fakegateway.Gateway, c providers.Provider) {
		return func(t *testing.T, g *fakegateway.Gateway, c providers.Provider) {
			mustRefund(t, c, refundReq("r-1", 300))
			if status != fakegateway.RefundProcessing {
				if err := g.CompleteRefund("r-1", status); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	tests := []struct {
		name, why string
		setup     func(t *testing.T, g *fakegateway.Gateway, c providers.Provider)
		faults    []fakegateway.Fault
		status    providers.RefundStatus
		err       errWant
	}{
		{"processing", "PROCESSING: accepted, not done", made(fakegateway.RefundProcessing), nil, providers.RefundProcessing, errWant{ok: true}},
		{"success", "SUCCESS: the money went back, at success_time", made(fakegateway.RefundSuccess), nil, providers.RefundSucceeded, errWant{ok: true}},
		{"closed", "CLOSED: failed, nothing moved", made(fakegateway.RefundClosed), nil, providers.RefundFailed, errWant{ok: true}},
		{"abnormal", "ABNORMAL: still in flight (the money left the merchant), for a person to handle", made(fakegateway.RefundAbnormal), nil, providers.RefundProcessing, errWant{ok: true}},
		{"never made", "a signed 404 RESOURCE_NOT_EXISTS is ErrNotFound", nil, nil, "", errWant{is: providers.ErrNotFound, code: "RESOURCE_NOT_EXISTS"}},
		{"unsigned not found", "an unsigned 404 proves nothing", made(fakegateway.RefundProcessing),
			[]fakegateway.Fault{{Status: http.StatusNotFound, Code: "RESOURCE_NOT_EXISTS", Unsigned: true}}, "", errWant{retryable: true, code: "RESOURCE_NOT_EXISTS"}},
		{"bare 404", "a proxy's 404 page is not \"no refund\"", made(fakegateway.RefundProcessing),
			[]fakegateway.Fault{{Status: http.StatusNotFound, Unsigned: true}}, "", errWant{retryable: true, code: "404"}},
		{"forged", "an answer signed with another key is not believed", made(fakegateway.RefundSuccess), []fakegateway.Fault{{WrongKey: true}}, "", errWant{retryable: true, code: "bad_response"}},
		{"stale", "an answer signed 10 minutes ago may be a replay", made(fakegateway.RefundSuccess), []fakegateway.Fault{{Stale: true}}, "", errWant{retryable: true, code: "bad_response"}},
		{"tampered", "CLOSED turned into SUCCESS after signing", made(fakegateway.RefundClosed), []fakegateway.Fault{{Tamper: func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"CLOSED"`), []byte(`"SUCCESS"`), 1)
		}}}, "", errWant{retryable: true, code: "bad_response"}},
		{"another order's refund", "the number holds a refund of another order: not this refund, terminal", made(fakegateway.RefundSuccess),
			[]fakegateway.Fault{{Set: map[string]any{"out_trade_no": "otn-other"}}}, "", errWant{code: "out_refund_no_used"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := refundGateway(t)
			c := newClient(t, g.URL)
			if tc.setup != nil {
				tc.setup(t, g, c)
			}
			g.InjectFaults(tc.faults...)
			r, err := c.QueryRefund(context.Background(), refundReq("r-1", 300))
			checkErr(t, tc.why, err, tc.err)
			if err != nil && (!strings.Contains(err.Error(), "r-1") || !strings.Contains(err.Error(), "otn-paid")) {
				t.Errorf("%s: error %q does not name the refund and the order", tc.why, err)
			}
			if !tc.err.ok {
				return
			}
			held, _ := g.Refund("r-1")
			if r.Status != tc.status || r.ID != held.RefundID || r.AmountMinor != 300 || r.OutTradeNo != "otn-paid" {
				t.Errorf("%s: refund %+v", tc.why, r)
			}
			if tc.status == providers.RefundSucceeded && !r.RefundedAt.Equal(fixedNow) {
				t.Errorf("%s: RefundedAt %v, want %v", tc.why, r.RefundedAt, fixedNow)
			}
			if tc.name == "abnormal" && !strings.Contains(r.FailureReason, "ABNORMAL") {
				t.Errorf("%s: FailureReason %q does not say ABNORMAL", tc.why, r.FailureReason)
			}
		})
	}
}
