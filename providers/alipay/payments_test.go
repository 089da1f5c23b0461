package alipay_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/alipay"
	"github.com/kubepay/kubepay/providers/alipay/internal/fakegateway"
	"github.com/kubepay/kubepay/providers/internal/fakekeys"
)

// openTrade puts an unpaid trade of 10.50 in the gateway.
func openTrade(g *fakegateway.Gateway, otn string) {
	g.AddTrade(fakegateway.Trade{OutTradeNo: otn, Status: fakegateway.WaitBuyerPay, TotalAmount: "10.50", Subject: "tea"})
}

type errWant struct {
	ok        bool
	retryable bool
	is        error
	code      string
}

func checkErr(t *testing.T, why string, err error, w errWant) {
	t.Helper()
	if w.ok {
		if err != nil {
			t.Fatalf("%s: %v", why, err)
		}
		return
	}
	var pe *providers.Error
	if !errors.As(err, &pe) {
		t.Fatalf("%s: got %v, want a classified error", why, err)
	}
	if pe.Retryable != w.retryable {
		t.Errorf("%s: retryable = %v, want %v (%v)", why, pe.Retryable, w.retryable, err)
	}
	if w.is != nil && !errors.Is(err, w.is) {
		t.Errorf("%s: %v does not wrap %v", why, err, w.is)
	}
	// An error claims a fact only when the test expects that fact: each of these sentinels
	// makes the controller act (give up on a payment, settle it, wait for its expiry, refuse a
	// refund), so one wrapped by mistake is as wrong as a wrong status.
	for _, claim := range []error{providers.ErrNotFound, providers.ErrAlreadyPaid, providers.ErrPayableUntilExpiry, providers.ErrRefundExceedsPayment, providers.ErrCredentials} {
		if !errors.Is(claim, w.is) && errors.Is(err, claim) {
			t.Errorf("%s: %v must not claim %q", why, err, claim)
		}
	}
	if w.code != "" && pe.Code != w.code {
		t.Errorf("%s: code = %q, want %q", why, pe.Code, w.code)
	}
}

// TestQuery: trade states map to payment states; failures are classified.
func TestQuery(t *testing.T) {
	t.Parallel()
	paidAt := time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC)
	tests := []struct {
		name, why string
		setup     func(g *fakegateway.Gateway, otn string)
		status    providers.PaymentStatus
		err       errWant
	}{
		{"unpaid", "WAIT_BUYER_PAY is open", openTrade, providers.StatusOpen, errWant{ok: true}},
		{"paid", "TRADE_SUCCESS is succeeded, with send_pay_date", func(g *fakegateway.Gateway, otn string) {
			g.AddTrade(fakegateway.Trade{OutTradeNo: otn, Status: fakegateway.TradeSuccess, TradeNo: "2026031422001", TotalAmount: "10.50", PaidAt: paidAt})
		}, providers.StatusSucceeded, errWant{ok: true}},
		{"finished", "TRADE_FINISHED is paid and past its refund period", func(g *fakegateway.Gateway, otn string) {
			g.AddTrade(fakegateway.Trade{OutTradeNo: otn, Status: fakegateway.TradeFinished, TradeNo: "2026031422002", TotalAmount: "10.50", PaidAt: paidAt})
		}, providers.StatusSucceeded, errWant{ok: true}},
		{"closed", "TRADE_CLOSED is closed", func(g *fakegateway.Gateway, otn string) {
			g.AddTrade(fakegateway.Trade{OutTradeNo: otn, Status: fakegateway.TradeClosed, TotalAmount: "10.50"})
		}, providers.StatusClosed, errWant{ok: true}},
		{"never opened", "ACQ.TRADE_NOT_EXIST (signed) is ErrNotFound", nil, "", errWant{is: providers.ErrNotFound, code: "ACQ.TRADE_NOT_EXIST"}},
		{"unsigned not-exist", "an unsigned claim that the trade does not exist is not trusted: asked again", openTrade, "",
			errWant{retryable: true, code: "ACQ.TRADE_NOT_EXIST"}},
		{"bare 404", "a 404 without Alipay's signed answer is a proxy's page, not \"no trade\": asked again", openTrade, "",
			errWant{retryable: true, code: "404"}},
		{"bare 400", "Alipay answers every call with HTTP 200; any other status is from something in between", openTrade, "",
			errWant{retryable: true, code: "400"}},
		{"service unavailable", "code 20000 asks to try again", openTrade, "", errWant{retryable: true, code: "isp.unknow-error"}},
		{"system error", "ACQ.SYSTEM_ERROR asks to try again", openTrade, "", errWant{retryable: true, code: "ACQ.SYSTEM_ERROR"}},
		{"HTTP 502", "a proxy's 5xx is retried", openTrade, "", errWant{retryable: true, code: "502"}},
		{"invalid parameter", "40002 is the request's fault", openTrade, "", errWant{code: "isv.invalid-parameter"}},
		{"forged answer", "an answer signed with another key is not believed", openTrade, "", errWant{retryable: true, code: "bad_response"}},
		{"unsigned success", "a success must be signed", openTrade, "", errWant{retryable: true, code: "bad_response"}},
	}
	faults := map[string]fakegateway.Fault{
		"unsigned not-exist":  {Code: "40004", SubCode: "ACQ.TRADE_NOT_EXIST", Unsigned: true},
		"service unavailable": {Code: "20000", SubCode: "isp.unknow-error"},
		"system error":        {Code: "40004", SubCode: "ACQ.SYSTEM_ERROR"},
		"HTTP 502":            {HTTPStatus: http.StatusBadGateway},
		"bare 404":            {HTTPStatus: http.StatusNotFound},
		"bare 400":            {HTTPStatus: http.StatusBadRequest},
		"invalid parameter":   {Code: "40002", SubCode: "isv.invalid-parameter"},
		"forged answer":       {Code: "40004", SubCode: "ACQ.TRADE_NOT_EXIST", WrongKey: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := startGateway(t)
			c := newClient(t, g.URL)
			otn := "otn-query"
			if tc.setup != nil {
				tc.setup(g, otn)
			}
			if f, ok := faults[tc.name]; ok {
				g.InjectFaults(f)
			}
			if tc.name == "unsigned success" {
				g.InjectFaults(fakegateway.Fault{Unsigned: true})
			}
			p, err := c.Query(context.Background(), otn, "")
			checkErr(t, tc.why, err, tc.err)
			if !tc.err.ok {
				return
			}
			if p.Status != tc.status || p.ID != otn || p.OutTradeNo != otn || p.AmountMinor != 1050 || p.Currency != "CNY" {
				t.Errorf("%s: payment = %+v", tc.why, p)
			}
			if tc.status == providers.StatusSucceeded && !p.PaidAt.Equal(paidAt) {
				t.Errorf("%s: PaidAt = %v, want %v", tc.why, p.PaidAt, paidAt)
			}
			// trade_no is Alipay's id of the money movement; refunds and support name it.
			if tr, _ := g.Trade(otn); p.TransactionID != tr.TradeNo {
				t.Errorf("%s: TransactionID = %q, want trade_no %q", tc.why, p.TransactionID, tr.TradeNo)
			}
		})
	}
}

// TestClose: closing open, closed, paid and unknown trades, and gateway failures.
func TestClose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, why  string
		setup      func(g *fakegateway.Gateway, otn string)
		fault      *fakegateway.Fault
		err        errWant
		afterState string
	}{
		{"open", "an unpaid trade closes", openTrade, nil, errWant{ok: true}, fakegateway.TradeClosed},
		{"already closed", "closing a closed trade succeeds (ACQ.TRADE_STATUS_ERROR, then the query says closed)", func(g *fakegateway.Gateway, otn string) {
			g.AddTrade(fakegateway.Trade{OutTradeNo: otn, Status: fakegateway.TradeClosed, TotalAmount: "10.50"})
		}, nil, errWant{ok: true}, fakegateway.TradeClosed},
		{"paid", "ACQ.TRADE_STATUS_ERROR on a paid trade is ErrAlreadyPaid", func(g *fakegateway.Gateway, otn string) {
			g.AddTrade(fakegateway.Trade{OutTradeNo: otn, Status: fakegateway.TradeSuccess, TradeNo: "2026031422003", TotalAmount: "10.50"})
		}, nil, errWant{is: providers.ErrAlreadyPaid, code: "ACQ.TRADE_STATUS_ERROR"}, fakegateway.TradeSuccess},
		{"has success", "ACQ.TRADE_HAS_SUCCESS says paid outright", openTrade, &fakegateway.Fault{Code: "40004", SubCode: "ACQ.TRADE_HAS_SUCCESS"},
			errWant{is: providers.ErrAlreadyPaid, code: "ACQ.TRADE_HAS_SUCCESS"}, fakegateway.WaitBuyerPay},
		{"never opened", "page/WAP trades exist only once the buyer opens the link, which stays payable until time_expire: a signed ACQ.TRADE_NOT_EXIST is ErrPayableUntilExpiry, never \"nothing to close\"",
			nil, nil, errWant{is: providers.ErrPayableUntilExpiry, code: "ACQ.TRADE_NOT_EXIST"}, ""},
		{"unsigned not-exist", "an unsigned ACQ.TRADE_NOT_EXIST proves nothing: asked again", openTrade, &fakegateway.Fault{Code: "40004", SubCode: "ACQ.TRADE_NOT_EXIST", Unsigned: true},
			errWant{retryable: true, code: "ACQ.TRADE_NOT_EXIST"}, fakegateway.WaitBuyerPay},
		{"bare 404", "a 404 page from a proxy is not Alipay's answer: asked again", openTrade, &fakegateway.Fault{HTTPStatus: http.StatusNotFound},
			errWant{retryable: true, code: "404"}, fakegateway.WaitBuyerPay},
		{"HTTP 503", "retried", openTrade, &fakegateway.Fault{HTTPStatus: http.StatusServiceUnavailable}, errWant{retryable: true, code: "503"}, fakegateway.WaitBuyerPay},
		{"unsigned has-success", "an unsigned claim of payment is not trusted either way: asked again", openTrade, &fakegateway.Fault{Code: "40004", SubCode: "ACQ.TRADE_HAS_SUCCESS", Unsigned: true},
			errWant{retryable: true, code: "ACQ.TRADE_HAS_SUCCESS"}, fakegateway.WaitBuyerPay},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := startGateway(t)
			c := newClient(t, g.URL)
			otn := "otn-close"
			if tc.setup != nil {
				tc.setup(g, otn)
			}
			if tc.fault != nil {
				g.InjectFaults(*tc.fault)
			}
			checkErr(t, tc.why, c.Close(context.Background(), otn, ""), tc.err)
			if tr, _ := g.Trade(otn); tr.Status != tc.afterState {
				t.Errorf("%s: gateway trade is %q, want %q", tc.why, tr.Status, tc.afterState)
			}
		})
	}
}

// TestRequestsTheGatewayRefuses: a request signed with a key Alipay does not know is refused
// (unsigned 40002 isv.invalid-signature) and reported as a credentials problem; an unreachable
// gateway is retryable.
func TestRequestsTheGatewayRefuses(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	openTrade(g, "otn-1")
	s := secret()
	s[alipay.SecretAppPrivateKey] = fakekeys.PrivatePEM(fakekeys.Key("other"))
	c, err := providers.New(alipay.Type, providers.Config{Namespace: "shop", Name: "alipay", Endpoint: g.URL, AppID: testAppID, Secret: s})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Query(context.Background(), "otn-1", "")
	checkErr(t, "wrong app key", err, errWant{is: providers.ErrCredentials, code: "isv.invalid-signature"})
	if g.Rejected() != 1 || g.Calls("alipay.trade.query") != 0 {
		t.Errorf("gateway rejected %d, answered %d queries; want 1 and 0", g.Rejected(), g.Calls("alipay.trade.query"))
	}

	down := newClient(t, "http://127.0.0.1:1/gateway.do")
	_, err = down.Query(context.Background(), "otn-1", "")
	checkErr(t, "connection refused", err, errWant{retryable: true, code: "network"})
	checkErr(t, "close without reference", down.Close(context.Background(), "", ""), errWant{code: "invalid_argument"})
}
