package alipay_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/alipay/internal/fakegateway"
	"github.com/kubepay/kubepay/providers/internal/fakekeys"
)

// paidGateway is a gateway holding one paid trade "otn-paid" of 10.50, paid at fixedNow.
func paidGateway(t testing.TB) *fakegateway.Gateway {
	t.Helper()
	g := fakegateway.New(testAppID, testSellerID)
	g.SetClock(func() time.Time { return fixedNow })
	openTrade(g, "otn-paid")
	if _, err := g.Pay("otn-paid"); err != nil {
		t.Fatal(err)
	}
	return g
}

// form builds the notification body; edit runs on the signed values, so what it changes is not
// covered by the signature.
func form(t testing.TB, g *fakegateway.Gateway, mutate, edit func(url.Values)) string {
	t.Helper()
	v, err := g.Notification("otn-paid", mutate)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(v)
	}
	return v.Encode()
}

// TestParseNotification is the bad-notification table. Amount mismatch and another merchant pass
// here (they are validly signed) and are refused by the callback server: see the envtest test.
func TestParseNotification(t *testing.T) {
	t.Parallel()
	g := paidGateway(t)
	c := newClient(t, "https://gateway.invalid/gateway.do")
	valid := form(t, g, nil, nil)
	tests := []struct {
		name, why string
		body      string
		want      error // nil: accepted
		status    providers.PaymentStatus
	}{
		{"valid", "a notification signed by the gateway key is accepted", valid, nil, providers.StatusSucceeded},
		{"reordered params", "the signed string is sorted, so form order does not matter", reverse(valid), nil, providers.StatusSucceeded},
		{"tampered amount", "total_amount changed after signing", form(t, g, nil, func(v url.Values) { v.Set("total_amount", "0.01") }), providers.ErrSignature, ""},
		{"tampered out_trade_no", "pointing a paid notification at another order", form(t, g, nil, func(v url.Values) { v.Set("out_trade_no", "otn-other") }), providers.ErrSignature, ""},
		{"added param", "an extra non-empty parameter is part of the signed string", form(t, g, nil, func(v url.Values) { v.Set("gmt_refund", "2026-03-14 23:10:00") }), providers.ErrSignature, ""},
		{"wrong key", "signed by a key that is not Alipay's", form(t, g, nil, func(v url.Values) { fakegateway.SignNotification(v, fakekeys.Key("other")) }), providers.ErrSignature, ""},
		{"+ in sign lost", "a sign sent with raw + decodes to spaces and cannot verify", rawPlus(t, g), providers.ErrSignature, ""},
		{"sign_type RSA", "SHA-1 RSA signatures are not accepted", form(t, g, nil, func(v url.Values) { v.Set("sign_type", "RSA") }), providers.ErrSignature, ""},
		{"no sign", "an unsigned form", form(t, g, nil, func(v url.Values) { v.Del("sign") }), providers.ErrSignature, ""},
		{"repeated param", "two values for one key make the signed string ambiguous", valid + "&total_amount=0.01", providers.ErrSignature, ""},
		{"not a form", "a bad %-escape", "notify_id=%zz&sign=x", providers.ErrSignature, ""},
		{"empty body", "nothing to verify", "", providers.ErrSignature, ""},
		{"JSON body", "Alipay notifications are forms", `{"notify_id":"1"}`, providers.ErrSignature, ""},
		{"signed bad amount", "verified, but total_amount is not a CNY amount", form(t, g, func(v url.Values) { v.Set("total_amount", "10.505") }, nil), providers.ErrMalformed, ""},
		{"signed without notify_id", "verified, but nothing to deduplicate on", form(t, g, func(v url.Values) { v.Del("notify_id") }, nil), providers.ErrMalformed, ""},
		{"signed bad gmt_payment", "verified, but the time does not parse", form(t, g, func(v url.Values) { v.Set("gmt_payment", "yesterday") }, nil), providers.ErrMalformed, ""},
		{"trade finished", "TRADE_FINISHED is paid too", form(t, g, func(v url.Values) { v.Set("trade_status", "TRADE_FINISHED") }, nil), nil, providers.StatusSucceeded},
		{"trade closed", "TRADE_CLOSED is closed", form(t, g, func(v url.Values) { v.Set("trade_status", "TRADE_CLOSED") }, nil), nil, providers.StatusClosed},
		{"wait buyer pay", "WAIT_BUYER_PAY is acknowledged and ignored", form(t, g, func(v url.Values) { v.Set("trade_status", "WAIT_BUYER_PAY") }, nil), nil, ""},
		{"other notify_type", "not a trade status notification: ignored", form(t, g, func(v url.Values) { v.Set("notify_type", "servicemarket_order_notify") }, nil), nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := c.ParseNotification(context.Background(), httptest.NewRequest(http.MethodPost, "/notify", nil), []byte(tc.body))
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("%s: got %v, want %v", tc.why, err, tc.want)
				}
				if v, _ := url.ParseQuery(tc.body); len(v.Get("sign")) > 16 && strings.Contains(err.Error(), v.Get("sign")[:16]) {
					t.Errorf("error carries the signature: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.why, err)
			}
			if n.Status != tc.status {
				t.Errorf("%s: status %q, want %q", tc.why, n.Status, tc.status)
			}
		})
	}
}

// TestParseNotificationFields: every field the callback server checks comes from the verified form.
func TestParseNotificationFields(t *testing.T) {
	t.Parallel()
	g := paidGateway(t)
	c := newClient(t, "https://gateway.invalid/gateway.do")
	v, err := g.Notification("otn-paid", nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := c.ParseNotification(context.Background(), nil, []byte(v.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	want := providers.Notification{
		ID: v.Get("notify_id"), Type: "TRADE_SUCCESS", OutTradeNo: "otn-paid", ProviderPaymentID: "otn-paid",
		Status: providers.StatusSucceeded, AmountMinor: 1050, Currency: "CNY", AppID: testAppID, MerchantID: testSellerID,
		OccurredAt: fixedNow, TransactionID: v.Get("trade_no"),
	}
	if want.TransactionID == "" {
		t.Fatal("the gateway's paid notification has no trade_no")
	}
	if !n.OccurredAt.Equal(want.OccurredAt) {
		t.Errorf("OccurredAt %v, want %v", n.OccurredAt, want.OccurredAt)
	}
	n.OccurredAt = want.OccurredAt
	if n.Refund != nil {
		t.Errorf("a payment notification carries a refund fact: %+v", n.Refund)
	}
	n.Refund = nil
	if n != want {
		t.Errorf("notification\n%+v\nwant\n%+v", n, want)
	}
}

// TestAck: "success" only on success; "fail" with 400 for notifications that can never verify,
// 500 for everything else; never the error text.
func TestAck(t *testing.T) {
	t.Parallel()
	c := newClient(t, "https://gateway.invalid/gateway.do")
	tests := []struct {
		name, why string
		err       error
		status    int
		body      string
	}{
		{"ok", "only the exact body success stops Alipay's retries", nil, http.StatusOK, "success"},
		{"signature", "a notification that never verifies is a client error", errors.Join(providers.ErrSignature, errors.New("secret detail")), http.StatusBadRequest, "fail"},
		{"malformed", "a verified but unparsable notification is a client error too", providers.ErrMalformed, http.StatusBadRequest, "fail"},
		{"write failed", "anything else is ours, and Alipay must retry", errors.New("conflict secret detail"), http.StatusInternalServerError, "fail"},
	}
	for _, tc := range tests {
		rec := httptest.NewRecorder()
		c.Ack(rec, tc.err)
		if rec.Code != tc.status || rec.Body.String() != tc.body {
			t.Errorf("%s: %s: %d %q, want %d %q", tc.name, tc.why, rec.Code, rec.Body.String(), tc.status, tc.body)
		}
	}
}

// rawPlus is a signed notification whose sign contains "+" sent unescaped; it retries until the
// signature has a "+" (most do).
func rawPlus(t testing.TB, g *fakegateway.Gateway) string {
	t.Helper()
	for i := 0; i < 20; i++ {
		v, err := g.Notification("otn-paid", func(v url.Values) { v.Set("passback_params", strings.Repeat("x", i)) })
		if err != nil {
			t.Fatal(err)
		}
		sign := v.Get("sign")
		if !strings.Contains(sign, "+") {
			continue
		}
		v.Del("sign")
		return v.Encode() + "&sign=" + strings.ReplaceAll(url.QueryEscape(sign), "%2B", "+")
	}
	t.Fatal("no signature with a + in 20 tries")
	return ""
}

func reverse(body string) string {
	pairs := strings.Split(body, "&")
	for i, j := 0, len(pairs)-1; i < j; i, j = i+1, j-1 {
		pairs[i], pairs[j] = pairs[j], pairs[i]
	}
	return strings.Join(pairs, "&")
}

// refundedGateway is paidGateway after refunds r_1 (3.00) and r_2 (7.50, completing the
// payment) of "otn-paid", made at the fixed clock.
func refundedGateway(t testing.TB) *fakegateway.Gateway {
	t.Helper()
	g := paidGateway(t)
	g.Start(t)
	c := newClient(t, g.URL)
	mustRefund(t, c, providers.RefundRequest{OutTradeNo: "otn-paid", OutRefundNo: "r_1", Amount: "3.00", AmountMinor: 300, Currency: "CNY"})
	mustRefund(t, c, providers.RefundRequest{OutTradeNo: "otn-paid", OutRefundNo: "r_2", Amount: "7.50", AmountMinor: 750, Currency: "CNY"})
	return g
}

// refundForm is the signed notification about refund no; mutate runs before signing, edit after.
func refundForm(t testing.TB, g *fakegateway.Gateway, no string, mutate, edit func(url.Values)) string {
	t.Helper()
	v, err := g.RefundNotification("otn-paid", no, mutate)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(v)
	}
	return v.Encode()
}

// TestParseRefundNotification: after refunds Alipay sends trade_status_sync notifications that
// carry refund_fee (cumulative), gmt_refund and out_biz_no (= out_request_no): TRADE_SUCCESS
// after a partial refund, TRADE_CLOSED after the refund that completes it. Each is a refund
// fact with an empty Status, never a payment, a failure or an expiry; forged and tampered ones
// are refused before anything is read.
func TestParseRefundNotification(t *testing.T) {
	t.Parallel()
	g := refundedGateway(t)
	c := newClient(t, "https://gateway.invalid/gateway.do")
	refundedAt := fixedNow // the gateway's clock; gmt_refund carries milliseconds, here .000
	tests := []struct {
		name, why string
		body      string
		want      error // nil: accepted
		fact      *providers.RefundFact
		tradeType string
	}{
		{"partial", "TRADE_SUCCESS with refund fields is the refund r_1, 3.00 refunded so far, not a second payment",
			refundForm(t, g, "r_1", nil, nil), nil,
			&providers.RefundFact{OutRefundNo: "r_1", Status: providers.RefundSucceeded, TotalRefundedMinor: 300, Currency: "CNY", RefundedAt: refundedAt}, "TRADE_SUCCESS"},
		{"full", "TRADE_CLOSED after the refund that completes the payment is the refund r_2, never an expiry",
			refundForm(t, g, "r_2", nil, nil), nil,
			&providers.RefundFact{OutRefundNo: "r_2", Status: providers.RefundSucceeded, TotalRefundedMinor: 1050, Currency: "CNY", RefundedAt: refundedAt}, "TRADE_CLOSED"},
		{"finished with refund fields", "TRADE_FINISHED carrying refund fields reports a refund too, not a payment",
			refundForm(t, g, "r_1", func(v url.Values) { v.Set("trade_status", "TRADE_FINISHED") }, nil), nil,
			&providers.RefundFact{OutRefundNo: "r_1", Status: providers.RefundSucceeded, TotalRefundedMinor: 300, Currency: "CNY", RefundedAt: refundedAt}, "TRADE_FINISHED"},
		{"gmt_refund without fraction", "gmt_refund in plain yyyy-MM-dd HH:mm:ss reads the same",
			refundForm(t, g, "r_1", func(v url.Values) { v.Set("gmt_refund", "2026-03-14 23:09:26") }, nil), nil,
			&providers.RefundFact{OutRefundNo: "r_1", Status: providers.RefundSucceeded, TotalRefundedMinor: 300, Currency: "CNY", RefundedAt: refundedAt}, "TRADE_SUCCESS"},
		{"forged", "signed by a key that is not Alipay's", refundForm(t, g, "r_2", nil, func(v url.Values) { fakegateway.SignNotification(v, fakekeys.Key("other")) }), providers.ErrSignature, nil, ""},
		{"tampered refund_fee", "refund_fee changed after signing", refundForm(t, g, "r_1", nil, func(v url.Values) { v.Set("refund_fee", "0.30") }), providers.ErrSignature, nil, ""},
		{"tampered out_biz_no", "pointing the refund at another refund number", refundForm(t, g, "r_1", nil, func(v url.Values) { v.Set("out_biz_no", "r_9") }), providers.ErrSignature, nil, ""},
		{"refund fields added", "refund fields added to a payment notification are not signed", form(t, g, nil, func(v url.Values) { v.Set("refund_fee", "10.50"); v.Set("out_biz_no", "r_9") }), providers.ErrSignature, nil, ""},
		{"refund fields removed", "dropping the refund fields to turn a full refund into a \"closed\" must not verify", refundForm(t, g, "r_2", nil, func(v url.Values) {
			v.Del("refund_fee")
			v.Del("out_biz_no")
			v.Del("gmt_refund")
		}), providers.ErrSignature, nil, ""},
		{"signed without out_biz_no", "verified, but no refund number to settle", refundForm(t, g, "r_1", func(v url.Values) { v.Del("out_biz_no") }, nil), providers.ErrMalformed, nil, ""},
		{"signed bad refund_fee", "verified, but refund_fee is not a CNY amount", refundForm(t, g, "r_1", func(v url.Values) { v.Set("refund_fee", "3.005") }, nil), providers.ErrMalformed, nil, ""},
		{"signed zero refund_fee", "verified, but a refund of nothing", refundForm(t, g, "r_1", func(v url.Values) { v.Set("refund_fee", "0.00") }, nil), providers.ErrMalformed, nil, ""},
		{"signed refund_fee over total", "verified, but more refunded than paid", refundForm(t, g, "r_1", func(v url.Values) { v.Set("refund_fee", "10.51") }, nil), providers.ErrMalformed, nil, ""},
		{"signed bad gmt_refund", "verified, but the refund time does not parse", refundForm(t, g, "r_1", func(v url.Values) { v.Set("gmt_refund", "yesterday") }, nil), providers.ErrMalformed, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := c.ParseNotification(context.Background(), nil, []byte(tc.body))
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("%s: got %v, want %v", tc.why, err, tc.want)
				}
				if v, _ := url.ParseQuery(tc.body); len(v.Get("sign")) > 16 && strings.Contains(err.Error(), v.Get("sign")[:16]) {
					t.Errorf("error carries the signature: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.why, err)
			}
			if n.Status != "" {
				t.Errorf("%s: Status %q, want empty: a refund is never a payment outcome", tc.why, n.Status)
			}
			if n.Refund == nil {
				t.Fatalf("%s: no refund fact", tc.why)
			}
			if !n.Refund.RefundedAt.Equal(tc.fact.RefundedAt) {
				t.Errorf("%s: RefundedAt %v, want %v", tc.why, n.Refund.RefundedAt, tc.fact.RefundedAt)
			}
			got := *n.Refund
			got.RefundedAt = tc.fact.RefundedAt
			if got != *tc.fact {
				t.Errorf("%s: refund fact\n%+v\nwant\n%+v", tc.why, got, *tc.fact)
			}
			// The rest names the payment, so the callback server finds and checks the order.
			v, _ := url.ParseQuery(tc.body)
			if n.Type != tc.tradeType || n.ID != v.Get("notify_id") || n.OutTradeNo != "otn-paid" || n.ProviderPaymentID != "otn-paid" ||
				n.TransactionID != v.Get("trade_no") || n.AppID != testAppID || n.MerchantID != testSellerID || n.AmountMinor != 1050 || n.Currency != "CNY" {
				t.Errorf("%s: notification %+v", tc.why, n)
			}
		})
	}
}
