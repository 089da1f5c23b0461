package alipay_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/alipay/internal/fakegateway"
	"github.com/kubepay/kubepay/providers/internal/fakekeys"
)

// TestCreateBuildsSignedCheckoutURL: the page and WAP payment URLs carry the documented common
// parameters and biz_content, and the gateway accepts their signature when the customer opens them.
func TestCreateBuildsSignedCheckoutURL(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	c := newClient(t, g.URL)
	tests := []struct {
		channel, method, product string
	}{
		{"alipay_page", "alipay.trade.page.pay", "FAST_INSTANT_TRADE_PAY"},
		{"alipay_wap", "alipay.trade.wap.pay", "QUICK_WAP_WAY"},
	}
	for _, tc := range tests {
		t.Run(tc.channel, func(t *testing.T) {
			otn := "otn_" + tc.channel
			p, err := c.Create(context.Background(), testOrder(otn, tc.channel))
			if err != nil {
				t.Fatal(err)
			}
			if p.ID != otn || p.OutTradeNo != otn || p.Status != providers.StatusOpen || p.AmountMinor != 1050 || p.Currency != "CNY" {
				t.Errorf("payment = %+v", p)
			}
			// ExpiresAt is the time_expire sent, to the second (Alipay's format has no fraction):
			// the link is payable until then, whatever happens to the order.
			if want := fixedNow.Add(30 * time.Minute); !p.ExpiresAt.Equal(want) {
				t.Errorf("ExpiresAt = %v, want the time_expire sent, %v", p.ExpiresAt, want)
			}
			if p.TransactionID != "" {
				t.Errorf("TransactionID = %q before anyone paid", p.TransactionID)
			}
			u, err := url.Parse(p.PaymentURL)
			if err != nil || !strings.HasPrefix(p.PaymentURL, g.URL+"?") {
				t.Fatalf("payment URL %q is not on the gateway %s", p.PaymentURL, g.URL)
			}
			q := u.Query()
			want := map[string]string{
				"app_id": testAppID, "method": tc.method, "format": "JSON", "charset": "utf-8", "sign_type": "RSA2",
				"timestamp": "2026-03-14 23:09:26", "version": "1.0",
				"notify_url": "https://kubepay.example/notify/shop/alipay", "return_url": "https://shop.example/return",
			}
			for k, v := range want {
				if q.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, q.Get(k), v)
				}
			}
			var biz map[string]string
			if err := json.Unmarshal([]byte(q.Get("biz_content")), &biz); err != nil {
				t.Fatal(err)
			}
			wantBiz := map[string]string{"out_trade_no": otn, "total_amount": "10.50", "subject": "绿茶 & Co", "product_code": tc.product, "time_expire": "2026-03-14 23:39:26"}
			for k, v := range wantBiz {
				if biz[k] != v {
					t.Errorf("biz_content %s = %q, want %q", k, biz[k], v)
				}
			}
			if !fakekeys.Verify(&fakekeys.Key("app").PublicKey, []byte(fakegateway.Content(q, false)), q.Get("sign")) {
				t.Error("sign does not verify over the parameters without sign")
			}
			resp, err := http.Get(p.PaymentURL)
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("gateway refused the checkout URL: %d %s", resp.StatusCode, page)
			}
			if tr, ok := g.Trade(otn); !ok || tr.Status != fakegateway.WaitBuyerPay || tr.TotalAmount != "10.50" {
				t.Errorf("gateway trade = %+v, %v", tr, ok)
			}
		})
	}
}

// TestCreateRefusesWhatAlipayCannotTake: terminal errors, before anything is sent.
func TestCreateRefusesWhatAlipayCannotTake(t *testing.T) {
	t.Parallel()
	c := newClient(t, "https://gateway.invalid/gateway.do")
	tests := []struct {
		name, why, code string
		mutate          func(*providers.Order)
	}{
		{"wechat channel", "the channel belongs to another provider", "unsupported_channel", func(o *providers.Order) { o.Channel = "wechat_native" }},
		{"USD", "Alipay's domestic checkout takes CNY only", "unsupported_currency", func(o *providers.Order) { o.Currency = "USD" }},
		{"amount disagrees", "total_amount must say what amountMinor says", "invalid_amount", func(o *providers.Order) { o.Amount = "10.51" }},
		{"no subject", "subject is a required biz_content field", "invalid_request", func(o *providers.Order) { o.Subject = "" }},
		{"dash in out_trade_no", "Alipay takes letters, digits and _ only", "invalid_out_trade_no", func(o *providers.Order) { o.OutTradeNo = "kp-1001" }},
		{"dot in out_trade_no", "not a letter, digit or _", "invalid_out_trade_no", func(o *providers.Order) { o.OutTradeNo = "kp.1001" }},
		{"non-ASCII out_trade_no", "letters means ASCII letters", "invalid_out_trade_no", func(o *providers.Order) { o.OutTradeNo = "订单1001" }},
		{"65 characters", "out_trade_no is at most 64 characters", "invalid_out_trade_no", func(o *providers.Order) { o.OutTradeNo = strings.Repeat("a", 65) }},
		{"empty out_trade_no", "nothing to key the trade on", "invalid_out_trade_no", func(o *providers.Order) { o.OutTradeNo = "" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := testOrder("otn_bad", "alipay_page")
			tc.mutate(&o)
			_, err := c.Create(context.Background(), o)
			var pe *providers.Error
			if !errors.As(err, &pe) || pe.Retryable || pe.Code != tc.code {
				t.Fatalf("%s: got %v, want terminal %s", tc.why, err, tc.code)
			}
			// The refusal names the rule, so whoever reads the order's condition can fix it.
			if tc.code == "invalid_out_trade_no" && !strings.Contains(err.Error(), "letters, digits and _") {
				t.Errorf("%s: %v does not name the rule", tc.why, err)
			}
		})
	}
}

// TestCreateIsDeterministicButForTheTimestamp: a replay after a crash builds the same biz_content,
// which Alipay keys on out_trade_no.
func TestCreateIsDeterministicButForTheTimestamp(t *testing.T) {
	t.Parallel()
	c := newClient(t, "https://gateway.invalid/gateway.do")
	a, err := c.Create(context.Background(), testOrder("otn_replay", "alipay_wap"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Create(context.Background(), testOrder("otn_replay", "alipay_wap"))
	if err != nil {
		t.Fatal(err)
	}
	if a.PaymentURL != b.PaymentURL {
		t.Errorf("same order and clock gave two URLs:\n%s\n%s", a.PaymentURL, b.PaymentURL)
	}
}
