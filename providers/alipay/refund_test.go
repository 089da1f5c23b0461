package alipay_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/alipay/internal/fakegateway"
)

// paidAt is when the gateway's trades are paid and refunded: the gateway runs on fixedNow.
var paidAt = fixedNow

// refundGateway serves a gateway on the fixed clock holding "otn_paid", 10.50, paid.
func refundGateway(t testing.TB) *fakegateway.Gateway {
	t.Helper()
	g := fakegateway.New(testAppID, testSellerID)
	g.SetClock(func() time.Time { return fixedNow })
	g.Start(t)
	openTrade(g, "otn_paid")
	if _, err := g.Pay("otn_paid"); err != nil {
		t.Fatal(err)
	}
	return g
}

// refundReq is a refund of amount (yuan) of the 10.50 payment "otn_paid" under number no.
func refundReq(no, amount string, minor int64) providers.RefundRequest {
	return providers.RefundRequest{
		OutTradeNo: "otn_paid", ProviderPaymentID: "otn_paid", OutRefundNo: no,
		Amount: amount, AmountMinor: minor, TotalMinor: 1050, Currency: "CNY", Reason: "customer returned the tea",
		NotifyURL: "https://kubepay.example/notify/shop/alipay",
	}
}

// refund makes a refund at the gateway directly through a client, for setups.
func mustRefund(t testing.TB, c providers.Provider, req providers.RefundRequest) {
	t.Helper()
	if r, err := c.Refund(context.Background(), req); err != nil || r.Status != providers.RefundSucceeded {
		t.Fatalf("setup refund %s: %+v, %v", req.OutRefundNo, r, err)
	}
}

// TestRefund: alipay.trade.refund's answers and refusals, and what each becomes.
func TestRefund(t *testing.T) {
	t.Parallel()
	flip := func(b []byte) []byte {
		return bytes.Replace(b, []byte(`"fund_change": "N"`), []byte(`"fund_change": "Y"`), 1)
	}
	tests := []struct {
		name, why string
		setup     func(t *testing.T, g *fakegateway.Gateway, c providers.Provider)
		req       func() providers.RefundRequest
		faults    []fakegateway.Fault
		err       errWant
		amount    int64 // the refund's amount when it succeeds
		// executed is the number of times the gateway moved money under the number; refunded
		// the trade's total refunded afterwards, in fen.
		executed int
		refunded int64
	}{
		{name: "partial", why: "fund_change Y: the money went back now", req: func() providers.RefundRequest { return refundReq("r_1", "3.00", 300) },
			err: errWant{ok: true}, amount: 300, executed: 1, refunded: 300},
		{name: "full", why: "the whole payment, which closes the trade at Alipay", req: func() providers.RefundRequest { return refundReq("r_1", "10.50", 1050) },
			err: errWant{ok: true}, amount: 1050, executed: 1, refunded: 1050},
		{name: "by trade_no", why: "Alipay's trade_no names the trade when the out_trade_no is not given", req: func() providers.RefundRequest {
			r := refundReq("r_1", "1.00", 100)
			r.OutTradeNo, r.ProviderPaymentID, r.TransactionID = "", "", "2026031422001000000000000001"
			return r
		}, err: errWant{ok: true}, amount: 100, executed: 1, refunded: 100},
		{name: "repeat", why: "the same number again answers fund_change N; the refund query shows it is the refund already made, not a second one",
			setup: func(t *testing.T, _ *fakegateway.Gateway, c providers.Provider) {
				mustRefund(t, c, refundReq("r_1", "3.00", 300))
			},
			req: func() providers.RefundRequest { return refundReq("r_1", "3.00", 300) }, err: errWant{ok: true}, amount: 300, executed: 1, refunded: 300},
		{name: "repeat of the full refund", why: "a refusal (here because the refund itself closed the trade) of a number already refunded with that amount is that refund",
			setup: func(t *testing.T, g *fakegateway.Gateway, c providers.Provider) {
				mustRefund(t, c, refundReq("r_1", "10.50", 1050))
				g.InjectFaults(fakegateway.Fault{Code: "40004", SubCode: "ACQ.TRADE_STATUS_ERROR"})
			},
			req: func() providers.RefundRequest { return refundReq("r_1", "10.50", 1050) }, err: errWant{ok: true}, amount: 1050, executed: 1, refunded: 1050},
		{name: "repeat with another amount", why: "a number already refunded for another amount is Alipay's ACQ.DISCORDANT_REPEAT_REQUEST, terminal, and not a refund",
			setup: func(t *testing.T, _ *fakegateway.Gateway, c providers.Provider) {
				mustRefund(t, c, refundReq("r_1", "3.00", 300))
			},
			req: func() providers.RefundRequest { return refundReq("r_1", "4.00", 400) }, err: errWant{code: "ACQ.DISCORDANT_REPEAT_REQUEST"}, executed: 1, refunded: 300},
		{name: "fund_change N not confirmed", why: "Alipay took the request but its query does not show the refund yet: processing, not failed",
			faults: []fakegateway.Fault{{Set: map[string]any{"fund_change": "N"}}, {Set: map[string]any{"refund_status": nil, "refund_amount": nil}}},
			req:    func() providers.RefundRequest { return refundReq("r_1", "3.00", 300) }, err: errWant{ok: true}, amount: 300, executed: 1, refunded: 300},
		{name: "beyond what is left", why: "earlier refunds leave 0.50; Alipay's ACQ.REASON_TRADE_REFUND_FEE_ERR is ErrRefundExceedsPayment",
			setup: func(t *testing.T, _ *fakegateway.Gateway, c providers.Provider) {
				mustRefund(t, c, refundReq("r_0", "10.00", 1000))
			},
			req: func() providers.RefundRequest { return refundReq("r_1", "1.00", 100) },
			err: errWant{is: providers.ErrRefundExceedsPayment, code: "ACQ.REASON_TRADE_REFUND_FEE_ERR"}, refunded: 1000},
		{name: "more than the payment", why: "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL, \"exceeds the total payment amount\", is ErrRefundExceedsPayment", req: func() providers.RefundRequest {
			r := refundReq("r_1", "10.51", 1051)
			r.TotalMinor = 0 // the payment's total unknown here: Alipay decides
			return r
		}, err: errWant{is: providers.ErrRefundExceedsPayment, code: "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"}},
		{name: "refused as exceeding", why: "ACQ.REFUND_FEE_ERROR, in the SDKs' code lists, is ErrRefundExceedsPayment too", req: func() providers.RefundRequest { return refundReq("r_1", "1.00", 100) },
			faults: []fakegateway.Fault{{Code: "40004", SubCode: "ACQ.REFUND_FEE_ERROR"}}, err: errWant{is: providers.ErrRefundExceedsPayment, code: "ACQ.REFUND_FEE_ERROR"}},
		{name: "not allowed", why: "ACQ.TRADE_NOT_ALLOW_REFUND is terminal with Alipay's sub_code", req: func() providers.RefundRequest { return refundReq("r_1", "1.00", 100) },
			faults: []fakegateway.Fault{{Code: "40004", SubCode: "ACQ.TRADE_NOT_ALLOW_REFUND"}}, err: errWant{code: "ACQ.TRADE_NOT_ALLOW_REFUND"}},
		{name: "seller balance", why: "ACQ.SELLER_BALANCE_NOT_ENOUGH is terminal: nothing moved, and the reason says why", req: func() providers.RefundRequest { return refundReq("r_1", "1.00", 100) },
			faults: []fakegateway.Fault{{Code: "40004", SubCode: "ACQ.SELLER_BALANCE_NOT_ENOUGH"}}, err: errWant{code: "ACQ.SELLER_BALANCE_NOT_ENOUGH"}},
		{name: "finished", why: "a TRADE_FINISHED trade is past its refund period: ACQ.TRADE_HAS_FINISHED, terminal",
			setup: func(_ *testing.T, g *fakegateway.Gateway, _ providers.Provider) {
				g.AddTrade(fakegateway.Trade{OutTradeNo: "otn_paid", TradeNo: "2026031422001000000000000001", Status: fakegateway.TradeFinished, TotalAmount: "10.50"})
			},
			req: func() providers.RefundRequest { return refundReq("r_1", "1.00", 100) }, err: errWant{code: "ACQ.TRADE_HAS_FINISHED"}},
		{name: "unpaid", why: "nothing was paid: ACQ.TRADE_STATUS_ERROR, terminal",
			setup: func(_ *testing.T, g *fakegateway.Gateway, _ providers.Provider) { openTrade(g, "otn_paid") },
			req:   func() providers.RefundRequest { return refundReq("r_1", "1.00", 100) }, err: errWant{code: "ACQ.TRADE_STATUS_ERROR"}},
		{name: "no trade", why: "a signed ACQ.TRADE_NOT_EXIST is ErrNotFound", req: func() providers.RefundRequest {
			r := refundReq("r_1", "1.00", 100)
			r.OutTradeNo, r.ProviderPaymentID = "otn_none", "otn_none"
			return r
		}, err: errWant{is: providers.ErrNotFound, code: "ACQ.TRADE_NOT_EXIST"}},
		{name: "system error", why: "ACQ.SYSTEM_ERROR asks for the same request again", req: func() providers.RefundRequest { return refundReq("r_1", "1.00", 100) },
			faults: []fakegateway.Fault{{Code: "40004", SubCode: "ACQ.SYSTEM_ERROR"}}, err: errWant{retryable: true, code: "ACQ.SYSTEM_ERROR"}},
		{name: "unsigned exceeds", why: "an unsigned refusal proves nothing, not even that no money moved: asked again", req: func() providers.RefundRequest { return refundReq("r_1", "1.00", 100) },
			faults: []fakegateway.Fault{{Code: "40004", SubCode: "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", Unsigned: true}}, err: errWant{retryable: true, code: "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"}},
		{name: "bare 404", why: "a proxy's 404 page is not Alipay's answer: asked again", req: func() providers.RefundRequest { return refundReq("r_1", "1.00", 100) },
			faults: []fakegateway.Fault{{HTTPStatus: http.StatusNotFound}}, err: errWant{retryable: true, code: "404"}},
		{name: "answer lost", why: "the refund happened but its answer did not arrive: asked again, and the retry finds it (see TestRefundRetryAfterLostAnswer)", req: func() providers.RefundRequest { return refundReq("r_1", "1.00", 100) },
			faults: []fakegateway.Fault{{HTTPStatus: http.StatusBadGateway, AfterExecution: true}}, err: errWant{retryable: true, code: "502"}, executed: 1, refunded: 100},
		{name: "forged answer", why: "an answer signed with another key is not believed, even though the refund happened", req: func() providers.RefundRequest { return refundReq("r_1", "1.00", 100) },
			faults: []fakegateway.Fault{{WrongKey: true}}, err: errWant{retryable: true, code: "bad_response"}, executed: 1, refunded: 100},
		{name: "tampered answer", why: "a repeat's fund_change N turned into Y on the way must not verify",
			setup: func(t *testing.T, g *fakegateway.Gateway, c providers.Provider) {
				mustRefund(t, c, refundReq("r_1", "1.00", 100))
				g.InjectFaults(fakegateway.Fault{Tamper: flip})
			},
			req: func() providers.RefundRequest { return refundReq("r_1", "1.00", 100) }, err: errWant{retryable: true, code: "bad_response"}, executed: 1, refunded: 100},
		{name: "about another trade", why: "a signed answer about another trade says nothing about this refund: asked again", req: func() providers.RefundRequest { return refundReq("r_1", "1.00", 100) },
			faults: []fakegateway.Fault{{Set: map[string]any{"out_trade_no": "otn_other"}}}, err: errWant{retryable: true, code: "mismatch"}, executed: 1, refunded: 100},
		{name: "more than the payment, locally", why: "a refund larger than the payment's total is refused before any call", req: func() providers.RefundRequest { return refundReq("r_1", "10.51", 1051) },
			err: errWant{is: providers.ErrRefundExceedsPayment, code: "refund_exceeds_payment"}},
		{name: "amount disagrees", why: "refund_amount must say what AmountMinor says", req: func() providers.RefundRequest { return refundReq("r_1", "1.00", 101) },
			err: errWant{code: "invalid_amount"}},
		{name: "USD", why: "Alipay's domestic trades are in CNY", req: func() providers.RefundRequest { r := refundReq("r_1", "1.00", 100); r.Currency = "USD"; return r },
			err: errWant{code: "unsupported_currency"}},
		{name: "no refund number", why: "out_request_no is what makes a retry the same refund", req: func() providers.RefundRequest { return refundReq("", "1.00", 100) },
			err: errWant{code: "invalid_out_request_no"}},
		{name: "no trade named", why: "nothing to refund", req: func() providers.RefundRequest {
			r := refundReq("r_1", "1.00", 100)
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
			if err != nil && req.OutRefundNo != "" && !strings.Contains(err.Error(), req.OutRefundNo) {
				t.Errorf("%s: error %q does not name the refund %s", tc.why, err, req.OutRefundNo)
			}
			if tc.err.ok {
				want := providers.RefundSucceeded
				if tc.name == "fund_change N not confirmed" {
					want = providers.RefundProcessing
				}
				if r.Status != want || r.OutRefundNo != req.OutRefundNo || r.ID != req.OutRefundNo || r.OutTradeNo != "otn_paid" || r.AmountMinor != tc.amount || r.Currency != "CNY" {
					t.Errorf("%s: refund %+v", tc.why, r)
				}
				if want == providers.RefundSucceeded && !r.RefundedAt.Equal(paidAt) {
					t.Errorf("%s: RefundedAt %v, want %v", tc.why, r.RefundedAt, paidAt)
				}
			}
			s := g.RefundStats("otn_paid")
			if s.Executions[req.OutRefundNo] != tc.executed || s.RefundedFen != tc.refunded {
				t.Errorf("%s: gateway executed %q %d times, refunded %d fen; want %d and %d", tc.why, req.OutRefundNo, s.Executions[req.OutRefundNo], s.RefundedFen, tc.executed, tc.refunded)
			}
		})
	}
}

// TestRefundRetryAfterLostAnswer: the controller retries a refund whose answer was lost with
// the same number; the retry is reported as the refund that happened, and no money moves twice.
func TestRefundRetryAfterLostAnswer(t *testing.T) {
	t.Parallel()
	g := refundGateway(t)
	c := newClient(t, g.URL)
	g.InjectFaults(fakegateway.Fault{HTTPStatus: http.StatusBadGateway, AfterExecution: true})
	req := refundReq("r_1", "2.50", 250)
	if _, err := c.Refund(context.Background(), req); !providers.IsRetryable(err) {
		t.Fatalf("lost answer: %v, want retryable", err)
	}
	r, err := c.Refund(context.Background(), req)
	if err != nil || r.Status != providers.RefundSucceeded || r.AmountMinor != 250 {
		t.Fatalf("retry: %+v, %v; want the refund made, succeeded", r, err)
	}
	if s := g.RefundStats("otn_paid"); s.Executions["r_1"] != 1 || s.Requests["r_1"] != 2 || s.RefundedFen != 250 {
		t.Errorf("gateway stats %+v: want one execution of two requests, 250 fen", s)
	}
}

// TestConcurrentRefundsThroughTheClient: concurrent refunds of one payment through the client
// never exceed it (the refused ones are ErrRefundExceedsPayment), and concurrent retries of one
// refund are that one refund.
func TestConcurrentRefundsThroughTheClient(t *testing.T) {
	t.Parallel()
	g := refundGateway(t)
	c := newClient(t, g.URL)
	var wg sync.WaitGroup
	errs := make([]error, 12)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = c.Refund(context.Background(), refundReq(fmt.Sprintf("r_%02d", i), "1.00", 100))
		})
	}
	same := make([]providers.Refund, 6)
	sameErrs := make([]error, 6)
	for i := range same {
		wg.Go(func() { same[i], sameErrs[i] = c.Refund(context.Background(), refundReq("r_same", "0.50", 50)) })
	}
	wg.Wait()
	// Refused: beyond what is left while the trade is open (ErrRefundExceedsPayment), or
	// ACQ.TRADE_STATUS_ERROR once a full refund has closed it; terminal either way, and nothing
	// moved.
	refused := 0
	for i, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, providers.ErrRefundExceedsPayment), providers.Code(err) == "ACQ.TRADE_STATUS_ERROR" && !providers.IsRetryable(err):
			refused++
		default:
			t.Errorf("refund r_%02d: %v", i, err)
		}
	}
	for i, err := range sameErrs {
		if err != nil || same[i].Status != providers.RefundSucceeded || same[i].AmountMinor != 50 {
			t.Errorf("retry %d of r_same: %+v, %v; want the one refund, succeeded", i, same[i], err)
		}
	}
	s := g.RefundStats("otn_paid")
	if s.RefundedFen != 1050 || refused != 2 || s.Executions["r_same"] != 1 {
		t.Errorf("refunded %d fen, %d refused, r_same executed %d times; want 1050, 2, 1", s.RefundedFen, refused, s.Executions["r_same"])
	}
}

// TestQueryRefund: alipay.trade.fastpay.refund.query's answers and what each becomes.
func TestQueryRefund(t *testing.T) {
	t.Parallel()
	made := func(t *testing.T, _ *fakegateway.Gateway, c providers.Provider) {
		mustRefund(t, c, refundReq("r_1", "3.00", 300))
	}
	tests := []struct {
		name, why string
		setup     func(t *testing.T, g *fakegateway.Gateway, c providers.Provider)
		otn       string
		faults    []fakegateway.Fault
		err       errWant
	}{
		{"made", "REFUND_SUCCESS is the refund, succeeded, with its amount and time", made, "otn_paid", nil, errWant{ok: true}},
		{"never made", "a signed answer without refund_status: Alipay has not refunded under that number, ErrNotFound", nil, "otn_paid", nil,
			errWant{is: providers.ErrNotFound, code: "refund_not_exist"}},
		{"no trade", "a signed ACQ.TRADE_NOT_EXIST: no trade, no refund", nil, "otn_none", nil, errWant{is: providers.ErrNotFound, code: "ACQ.TRADE_NOT_EXIST"}},
		{"unsigned not-exist", "an unsigned ACQ.TRADE_NOT_EXIST proves nothing", made, "otn_paid",
			[]fakegateway.Fault{{Code: "40004", SubCode: "ACQ.TRADE_NOT_EXIST", Unsigned: true}}, errWant{retryable: true, code: "ACQ.TRADE_NOT_EXIST"}},
		{"unsigned success", "a success must be signed, above all one without refund_status", nil, "otn_paid",
			[]fakegateway.Fault{{Unsigned: true}}, errWant{retryable: true, code: "bad_response"}},
		{"bare 404", "a proxy's 404 page is not \"no refund\"", made, "otn_paid", []fakegateway.Fault{{HTTPStatus: http.StatusNotFound}}, errWant{retryable: true, code: "404"}},
		{"forged", "an answer signed with another key is not believed", made, "otn_paid", []fakegateway.Fault{{WrongKey: true}}, errWant{retryable: true, code: "bad_response"}},
		{"tampered", "refund_amount changed after signing", made, "otn_paid", []fakegateway.Fault{{Tamper: func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"3.00"`), []byte(`"0.03"`), 1)
		}}}, errWant{retryable: true, code: "bad_response"}},
		{"unknown status", "a refund_status Alipay does not document is asked about again", made, "otn_paid",
			[]fakegateway.Fault{{Set: map[string]any{"refund_status": "REFUND_PROCESSING"}}}, errWant{retryable: true, code: "bad_response"}},
		{"another refund", "a signed answer about another refund number says nothing about this one", made, "otn_paid",
			[]fakegateway.Fault{{Set: map[string]any{"out_request_no": "r_2"}}}, errWant{retryable: true, code: "mismatch"}},
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
			req := refundReq("r_1", "3.00", 300)
			req.OutTradeNo, req.ProviderPaymentID = tc.otn, tc.otn
			r, err := c.QueryRefund(context.Background(), req)
			checkErr(t, tc.why, err, tc.err)
			if err != nil && !containsAll(err.Error(), "r_1", tc.otn) {
				t.Errorf("%s: error %q does not name the refund and the trade", tc.why, err)
			}
			if tc.err.ok && (r.Status != providers.RefundSucceeded || r.AmountMinor != 300 || r.OutRefundNo != "r_1" || r.OutTradeNo != "otn_paid" || !r.RefundedAt.Equal(paidAt)) {
				t.Errorf("%s: refund %+v", tc.why, r)
			}
			if g.RefundStats("otn_paid").Executions["r_1"] > 1 {
				t.Errorf("%s: money moved twice", tc.why)
			}
		})
	}
}
