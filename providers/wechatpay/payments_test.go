package wechatpay_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/internal/fakekeys"
	"github.com/kubepay/kubepay/providers/wechatpay"
	"github.com/kubepay/kubepay/providers/wechatpay/internal/fakegateway"
)

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

func notPaid(g *fakegateway.Gateway, otn string) {
	g.AddOrder(fakegateway.Order{OutTradeNo: otn, TradeState: fakegateway.NotPay, Description: "tea", Channel: "native", Total: 1050, PayURL: "weixin://wxpay/bizpayurl?pr=X"})
}

func paid(g *fakegateway.Gateway, otn string) {
	notPaid(g, otn)
	if _, err := g.Pay(otn); err != nil {
		panic(err)
	}
}

// TestCreate: the Native and H5 prepay calls, WeChat Pay's idempotency on out_trade_no, and the
// classification of its refusals.
func TestCreate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, why, channel string
		setup              func(g *fakegateway.Gateway)
		fault              *fakegateway.Fault
		status             providers.PaymentStatus
		urlPrefix          string
		err                errWant
	}{
		{"native", "code_url becomes the payment URL", "wechat_native", nil, nil, providers.StatusOpen, "weixin://wxpay/bizpayurl?pr=", errWant{ok: true}},
		{"h5", "h5_url becomes the payment URL; scene_info is sent", "wechat_h5", nil, nil, providers.StatusOpen, "https://wx.tenpay.com/", errWant{ok: true}},
		{"already paid", "ORDERPAID on a replay returns the paid payment from a query", "wechat_native", func(g *fakegateway.Gateway) {
			g.AddOrder(fakegateway.Order{OutTradeNo: "otn-create", TradeState: fakegateway.NotPay, Description: "Image形象店-深圳腾大-QQ公仔", Channel: "native", Total: 1050})
			_, _ = g.Pay("otn-create")
		}, nil, providers.StatusSucceeded, "", errWant{ok: true}},
		{"out_trade_no used", "the number was used for another order: terminal", "wechat_native", func(g *fakegateway.Gateway) { notPaid(g, "otn-create") }, nil, "", "",
			errWant{code: "OUT_TRADE_NO_USED"}},
		{"order closed", "a closed order cannot be paid again: terminal", "wechat_native", nil, &fakegateway.Fault{Status: http.StatusBadRequest, Code: "ORDER_CLOSED"}, "", "",
			errWant{code: "ORDER_CLOSED"}},
		{"system error", "500 SYSTEM_ERROR is retried", "wechat_native", nil, &fakegateway.Fault{Status: http.StatusInternalServerError, Code: "SYSTEM_ERROR"}, "", "",
			errWant{retryable: true, code: "SYSTEM_ERROR"}},
		{"throttled", "429 FREQUENCY_LIMITED is retried", "wechat_native", nil, &fakegateway.Fault{Status: http.StatusTooManyRequests, Code: "FREQUENCY_LIMITED"}, "", "",
			errWant{retryable: true, code: "FREQUENCY_LIMITED"}},
		{"param error", "400 PARAM_ERROR is terminal", "wechat_native", nil, &fakegateway.Fault{Status: http.StatusBadRequest, Code: "PARAM_ERROR"}, "", "",
			errWant{code: "PARAM_ERROR"}},
		{"forged answer", "a 200 signed with another key is not believed", "wechat_native", nil, &fakegateway.Fault{WrongKey: true}, "", "",
			errWant{retryable: true, code: "bad_response"}},
		{"unknown serial", "a 200 signed under a serial the merchant does not know is refused", "wechat_native", nil, &fakegateway.Fault{UnknownSerial: true}, "", "",
			errWant{retryable: true, code: "bad_response"}},
		{"stale answer", "a 200 signed 10 minutes ago may be a replay", "wechat_native", nil, &fakegateway.Fault{Stale: true}, "", "",
			errWant{retryable: true, code: "bad_response"}},
		{"unsigned answer", "a 200 without signature is refused", "wechat_native", nil, &fakegateway.Fault{Unsigned: true}, "", "",
			errWant{retryable: true, code: "bad_response"}},
		{"bare 404", "a proxy's 404 page says nothing about the order: asked again", "wechat_native", nil, &fakegateway.Fault{Status: http.StatusNotFound, Unsigned: true}, "", "",
			errWant{retryable: true, code: "404"}},
		{"unsigned OUT_TRADE_NO_USED", "a refusal nobody vouches for is not final", "wechat_native", nil, &fakegateway.Fault{Status: http.StatusForbidden, Code: "OUT_TRADE_NO_USED", Unsigned: true}, "", "",
			errWant{retryable: true, code: "OUT_TRADE_NO_USED"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := startGateway(t)
			c := newClient(t, g.URL)
			if tc.setup != nil {
				tc.setup(g)
			}
			if tc.fault != nil {
				g.InjectFaults(*tc.fault)
			}
			p, err := c.Create(context.Background(), testOrder("otn-create", tc.channel))
			checkErr(t, tc.why, err, tc.err)
			if !tc.err.ok {
				return
			}
			if p.Status != tc.status || p.ID != "otn-create" || p.AmountMinor != 1050 || p.Currency != "CNY" || !strings.HasPrefix(p.PaymentURL, tc.urlPrefix) {
				t.Errorf("%s: payment %+v", tc.why, p)
			}
			if tc.status == providers.StatusOpen {
				o, _ := g.Order("otn-create")
				if o.Total != 1050 || o.TimeExpire != "2026-03-14T23:39:26+08:00" || o.NotifyURL != "https://kubepay.example/notify/shop/wechatpay" {
					t.Errorf("%s: gateway order %+v", tc.why, o)
				}
				// ExpiresAt is the time_expire sent: the code_url/h5_url is payable until then.
				if want := fixedNow.Add(30 * time.Minute); !p.ExpiresAt.Equal(want) || p.TransactionID != "" {
					t.Errorf("%s: ExpiresAt %v (want %v), TransactionID %q before payment", tc.why, p.ExpiresAt, want, p.TransactionID)
				}
				// H5 payments carry the payer's real IP, which WeChat Pay checks against the
				// device that opens h5_url.
				if wantIP := map[string]string{"wechat_h5": "203.0.113.7"}[tc.channel]; o.PayerClientIP != wantIP {
					t.Errorf("%s: gateway got payer_client_ip %q, want %q", tc.why, o.PayerClientIP, wantIP)
				}
			}
			if tc.status == providers.StatusSucceeded {
				if o, _ := g.Order("otn-create"); p.TransactionID != o.TransactionID || p.TransactionID == "" {
					t.Errorf("%s: TransactionID %q, want transaction_id %q", tc.why, p.TransactionID, o.TransactionID)
				}
			}
		})
	}
}

// TestCreateIsIdempotent: a replay after a crash gets the same code_url, not a second order.
func TestCreateIsIdempotent(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	c := newClient(t, g.URL)
	a, err := c.Create(context.Background(), testOrder("otn-replay", "wechat_native"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Create(context.Background(), testOrder("otn-replay", "wechat_native"))
	if err != nil {
		t.Fatal(err)
	}
	if a.PaymentURL != b.PaymentURL || g.Calls("native") != 2 {
		t.Errorf("replay gave %q then %q after %d calls", a.PaymentURL, b.PaymentURL, g.Calls("native"))
	}
}

// TestCreateRefusedLocally: orders WeChat Pay cannot take fail terminally without a request.
func TestCreateRefusedLocally(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	c := newClient(t, g.URL)
	tests := []struct {
		name, why, code string
		mutate          func(*providers.Order)
	}{
		{"alipay channel", "another provider's channel", "unsupported_channel", func(o *providers.Order) { o.Channel = "alipay_page" }},
		{"USD", "API v3 domestic payments are in CNY", "unsupported_currency", func(o *providers.Order) { o.Currency = "USD" }},
		{"no notify URL", "WeChat Pay requires notify_url", "invalid_request", func(o *providers.Order) { o.NotifyURL = "" }},
		{"bad out_trade_no", "it becomes part of request paths", "invalid_request", func(o *providers.Order) { o.OutTradeNo = "../x/y" }},
		{"h5 without payer IP", "wechat_h5 needs the payer's real IP; a made-up one fails at WeChat Pay's check", "missing_payer_client_ip", func(o *providers.Order) {
			o.Channel, o.PayerClientIP = "wechat_h5", ""
		}},
		{"h5 payer IP from metadata only", "the IP comes from Order.PayerClientIP, not from metadata anyone can set", "missing_payer_client_ip", func(o *providers.Order) {
			o.Channel, o.PayerClientIP, o.Metadata = "wechat_h5", "", map[string]string{"payer_client_ip": "203.0.113.7"}
		}},
		{"h5 payer IP not an IP", "payer_client_ip must be an IPv4 or IPv6 address", "invalid_payer_client_ip", func(o *providers.Order) {
			o.Channel, o.PayerClientIP = "wechat_h5", "203.0.113.7, 10.0.0.1"
		}},
	}
	for _, tc := range tests {
		o := testOrder("otn-local", "wechat_native")
		tc.mutate(&o)
		_, err := c.Create(context.Background(), o)
		checkErr(t, tc.name+": "+tc.why, err, errWant{code: tc.code})
	}
	if g.Calls("native")+g.Calls("h5") != 0 {
		t.Errorf("%d requests reached the gateway", g.Calls("native")+g.Calls("h5"))
	}
}

// TestQuery: trade states, not found and failures.
func TestQuery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, why string
		setup     func(g *fakegateway.Gateway, otn string)
		fault     *fakegateway.Fault
		status    providers.PaymentStatus
		err       errWant
	}{
		{"not paid", "NOTPAY is open", notPaid, nil, providers.StatusOpen, errWant{ok: true}},
		{"paid", "SUCCESS is succeeded with success_time", paid, nil, providers.StatusSucceeded, errWant{ok: true}},
		{"closed", "CLOSED is closed", func(g *fakegateway.Gateway, otn string) {
			g.AddOrder(fakegateway.Order{OutTradeNo: otn, TradeState: fakegateway.Closed, Total: 1050})
		}, nil, providers.StatusClosed, errWant{ok: true}},
		{"pay error", "PAYERROR is not final: the payer can still pay with another method, so the order stays open until it expires", func(g *fakegateway.Gateway, otn string) {
			g.AddOrder(fakegateway.Order{OutTradeNo: otn, TradeState: fakegateway.PayError, Total: 1050})
		}, nil, providers.StatusOpen, errWant{ok: true}},
		{"refund", "REFUND (paid, then refunded) is not a payment success: settling an order on it could count refunded money as paid", func(g *fakegateway.Gateway, otn string) {
			paid(g, otn)
			g.AddOrder(func() fakegateway.Order { o, _ := g.Order(otn); o.TradeState = fakegateway.TradeRefund; return o }())
		}, nil, "", errWant{code: "REFUND"}},
		{"not found", "signed 404 ORDER_NOT_EXIST is ErrNotFound", nil, nil, "", errWant{is: providers.ErrNotFound, code: "ORDER_NOT_EXIST"}},
		{"unsigned not found", "an unsigned 404 is not trusted: asked again", notPaid, &fakegateway.Fault{Status: http.StatusNotFound, Code: "ORDER_NOT_EXIST", Unsigned: true}, "",
			errWant{retryable: true, code: "ORDER_NOT_EXIST"}},
		{"bare 404", "a 404 without WeChat Pay's signed answer is a proxy's page, not \"no order\": asked again", notPaid, &fakegateway.Fault{Status: http.StatusNotFound, Unsigned: true}, "",
			errWant{retryable: true, code: "404"}},
		{"unsigned 400", "an unsigned refusal proves nothing: asked again", notPaid, &fakegateway.Fault{Status: http.StatusBadRequest, Code: "PARAM_ERROR", Unsigned: true}, "",
			errWant{retryable: true, code: "PARAM_ERROR"}},
		{"forged not found", "a 404 signed with another key is not believed", notPaid, &fakegateway.Fault{Status: http.StatusNotFound, Code: "ORDER_NOT_EXIST", WrongKey: true}, "",
			errWant{retryable: true, code: "bad_response"}},
		{"unavailable", "503 without body is retried", notPaid, &fakegateway.Fault{Status: http.StatusServiceUnavailable}, "", errWant{retryable: true, code: "503"}},
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
			if tc.fault != nil {
				g.InjectFaults(*tc.fault)
			}
			p, err := c.Query(context.Background(), "", otn)
			checkErr(t, tc.why, err, tc.err)
			if !tc.err.ok {
				return
			}
			if p.Status != tc.status || p.ID != otn || p.AmountMinor != 1050 || p.Currency != "CNY" {
				t.Errorf("%s: payment %+v", tc.why, p)
			}
			if tc.status == providers.StatusSucceeded && !p.PaidAt.Equal(fixedNow) {
				t.Errorf("%s: PaidAt %v, want %v", tc.why, p.PaidAt, fixedNow)
			}
			// transaction_id is WeChat Pay's id of the money movement; refunds name it.
			if o, _ := g.Order(otn); p.TransactionID != o.TransactionID {
				t.Errorf("%s: TransactionID %q, want transaction_id %q", tc.why, p.TransactionID, o.TransactionID)
			}
		})
	}
}

// TestClose: open, closed, paid and unknown orders, and failures.
func TestClose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, why string
		setup     func(g *fakegateway.Gateway, otn string)
		fault     *fakegateway.Fault
		err       errWant
		after     string
	}{
		{"open", "204: closed", notPaid, nil, errWant{ok: true}, fakegateway.Closed},
		{"closed", "ORDER_CLOSED: closing again succeeds", func(g *fakegateway.Gateway, otn string) {
			g.AddOrder(fakegateway.Order{OutTradeNo: otn, TradeState: fakegateway.Closed, Total: 1050})
		}, nil, errWant{ok: true}, fakegateway.Closed},
		{"paid", "ORDERPAID is ErrAlreadyPaid", paid, nil, errWant{is: providers.ErrAlreadyPaid, code: "ORDERPAID"}, fakegateway.Success},
		{"unsigned paid", "an unsigned ORDERPAID is not trusted: asked again", notPaid, &fakegateway.Fault{Status: http.StatusBadRequest, Code: "ORDERPAID", Unsigned: true},
			errWant{retryable: true, code: "ORDERPAID"}, fakegateway.NotPay},
		{"bare 404", "a proxy's 404 page is not WeChat Pay's \"no such order\": asked again", notPaid, &fakegateway.Fault{Status: http.StatusNotFound, Unsigned: true},
			errWant{retryable: true, code: "404"}, fakegateway.NotPay},
		{"unknown", "ORDER_NOT_EXIST is ErrNotFound", nil, nil, errWant{is: providers.ErrNotFound, code: "ORDER_NOT_EXIST"}, ""},
		{"system error", "SYSTEM_ERROR is retried", notPaid, &fakegateway.Fault{Status: http.StatusInternalServerError, Code: "SYSTEM_ERROR"}, errWant{retryable: true, code: "SYSTEM_ERROR"}, fakegateway.NotPay},
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
			if o, _ := g.Order(otn); o.TradeState != tc.after {
				t.Errorf("%s: gateway order is %q, want %q", tc.why, o.TradeState, tc.after)
			}
		})
	}
}

// TestRequestsTheGatewayRefuses: a merchant key WeChat Pay does not know, or a clock far off, is
// refused with an unsigned 401 SIGN_ERROR, a credentials problem; an unreachable API is retryable.
func TestRequestsTheGatewayRefuses(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	notPaid(g, "otn-auth")
	s := fakegateway.Secret()
	s[wechatpay.SecretMerchantPrivateKey] = fakekeys.PrivatePEM(fakekeys.Key("other"))
	wrongKey, err := providers.New(wechatpay.Type, providers.Config{Namespace: "shop", Name: "wechatpay", Endpoint: g.URL, AppID: testAppID, MerchantID: testMchID, Secret: s, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	_, err = wrongKey.Query(context.Background(), "otn-auth", "")
	checkErr(t, "wrong merchant key", err, errWant{is: providers.ErrCredentials, code: "SIGN_ERROR"})

	skewed, err := providers.New(wechatpay.Type, providers.Config{Namespace: "shop", Name: "wechatpay", Endpoint: g.URL, AppID: testAppID, MerchantID: testMchID,
		Secret: fakegateway.Secret(), Now: func() time.Time { return fixedNow.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = skewed.Query(context.Background(), "otn-auth", "")
	checkErr(t, "clock an hour ahead", err, errWant{is: providers.ErrCredentials, code: "SIGN_ERROR"})
	if g.Rejected() != 2 || g.Calls("query") != 0 {
		t.Errorf("gateway rejected %d and answered %d queries, want 2 and 0", g.Rejected(), g.Calls("query"))
	}

	down := newClient(t, "http://127.0.0.1:1")
	_, err = down.Query(context.Background(), "otn-auth", "")
	checkErr(t, "connection refused", err, errWant{retryable: true, code: "network"})
}
