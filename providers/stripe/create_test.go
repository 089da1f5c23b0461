package stripe_test

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/stripe"
)

// TestCreateSendsACheckoutSession creates a session at stripe-mock (which validates the request
// against Stripe's OpenAPI spec) and checks every field kubepay relies on in what was sent.
func TestCreateSendsACheckoutSession(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	rec := newRecorder(t, stripeMockURL(t))
	c := newClient(t, rec.URL, now)
	order := testOrder("order-create-1", now)

	p, err := c.Create(t.Context(), order)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.ID, "cs_") || !strings.HasPrefix(p.PaymentURL, "https://") || p.Status != providers.StatusOpen {
		t.Errorf("payment %+v: want a cs_ id, an https URL and status open", p)
	}
	reqs := rec.requests("POST", "/v1/checkout/sessions")
	if len(reqs) != 1 {
		t.Fatalf("requests %v: want one create", rec.all())
	}
	r := reqs[0]
	if got := r.Header.Get("Idempotency-Key"); got != order.OutTradeNo {
		t.Errorf("Idempotency-Key %q, want the out_trade_no %q", got, order.OutTradeNo)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+testAPIKey {
		t.Errorf("Authorization %q: want the provider's own key", got)
	}
	want := map[string]string{
		"mode":                                                   "payment",
		"client_reference_id":                                    order.OutTradeNo,
		"payment_method_types[0]":                                "card",
		"line_items[0][quantity]":                                "1",
		"line_items[0][price_data][currency]":                    "usd",
		"line_items[0][price_data][unit_amount]":                 "1250",
		"line_items[0][price_data][product_data][name]":          "Latte",
		"line_items[0][price_data][product_data][description]":   "one large latte",
		"success_url":                                            order.ReturnURL,
		"cancel_url":                                             order.ReturnURL,
		"expires_at":                                             strconv.FormatInt(order.ExpiresAt.Add(31*time.Minute).Unix(), 10),
		"adaptive_pricing[enabled]":                              "false",
		"metadata[kubepay.io/namespace]":                         testNS,
		"metadata[kubepay.io/name]":                              "latte",
		"metadata[kubepay.io/provider]":                          testProvider,
		"metadata[kubepay.io/out_trade_no]":                      order.OutTradeNo,
		"metadata[cart]":                                         "42",
		"payment_intent_data[description]":                       "one large latte",
		"payment_intent_data[metadata][kubepay.io/namespace]":    testNS,
		"payment_intent_data[metadata][kubepay.io/name]":         "latte",
		"payment_intent_data[metadata][kubepay.io/out_trade_no]": order.OutTradeNo,
		"payment_intent_data[metadata][cart]":                    "42",
	}
	for k, v := range want {
		if got := r.Form.Get(k); got != v {
			t.Errorf("form %s = %q, want %q", k, got, v)
		}
	}
}

// TestCreateReplayIsIdentical: Stripe returns the first session for a replayed Idempotency-Key
// only when the parameters are identical, so a create repeated ten minutes later (after a crash)
// must send the same bytes.
func TestCreateReplayIsIdentical(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	rec := newRecorder(t, stripeMockURL(t))
	order := testOrder("order-replay-1", now)
	for _, at := range []time.Time{now.Add(10 * time.Second), now.Add(10 * time.Minute)} {
		if _, err := newClient(t, rec.URL, at).Create(t.Context(), order); err != nil {
			t.Fatal(err)
		}
	}
	reqs := rec.requests("POST", "/v1/checkout/sessions")
	if len(reqs) != 2 {
		t.Fatalf("requests %v: want two creates", rec.all())
	}
	if !bytes.Equal(reqs[0].Body, reqs[1].Body) || reqs[0].Header.Get("Idempotency-Key") != reqs[1].Header.Get("Idempotency-Key") {
		t.Errorf("replayed create differs:\n%s\n%s", reqs[0].Body, reqs[1].Body)
	}
}

// TestSessionExpiry: expires_at derives from the order alone and always lies within the 30 min
// .. 24 h Stripe accepts at the moment of the create.
func TestSessionExpiry(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	tests := []struct {
		name    string
		expires time.Time
		want    time.Time // zero: no expires_at
	}{
		{"the default 30 min order, created a few seconds after the object, is pushed past Stripe's minimum", now.Add(29*time.Minute + 50*time.Second), now.Add(60*time.Minute + 50*time.Second)},
		{"a 5 min order gets a session Stripe accepts; the controller closes it at the order's expiry", now.Add(5 * time.Minute), now.Add(36 * time.Minute)},
		{"a 2 h order keeps its expiry plus the fixed 31 min, the same on every replay", now.Add(2 * time.Hour), now.Add(2*time.Hour + 31*time.Minute)},
		{"a create replayed one second before the order's expiry still meets Stripe's minimum", now.Add(time.Second), now.Add(31*time.Minute + time.Second)},
		{"a 23 h order stays within Stripe's 24 h maximum", now.Add(23 * time.Hour), now.Add(23*time.Hour + 31*time.Minute)},
		{"a 30 h order cannot be expressed, so Stripe's default of 24 h applies", now.Add(30 * time.Hour), time.Time{}},
		{"an order without expiry sends none", time.Time{}, time.Time{}},
	}
	rec := newRecorder(t, stripeMockURL(t))
	c := newClient(t, rec.URL, now)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			order := testOrder("order-expiry-"+strconv.Itoa(i), now)
			order.ExpiresAt = tt.expires
			if _, err := c.Create(t.Context(), order); err != nil {
				t.Fatal(err)
			}
			reqs := rec.requests("POST", "/v1/checkout/sessions")
			got := reqs[len(reqs)-1].Form.Get("expires_at")
			if tt.want.IsZero() {
				if got != "" {
					t.Errorf("expires_at = %s, want none", got)
				}
				return
			}
			at, _ := strconv.ParseInt(got, 10, 64)
			if at != tt.want.Unix() {
				t.Errorf("expires_at = %s, want %d", got, tt.want.Unix())
			}
			if lead := time.Unix(at, 0).Sub(now); lead < 30*time.Minute || lead > 24*time.Hour {
				t.Errorf("expires_at is %v after the create, outside Stripe's 30 min .. 24 h", lead)
			}
		})
	}
}

// TestCreateSuccessURL: Stripe requires a success_url; the order's returnURL comes first.
func TestCreateSuccessURL(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	tests := []struct {
		name, returnURL, notifyURL string
		wantSuccess, wantCancel    string
	}{
		{"the order's returnURL is where the customer goes, paid or not", "https://shop.example/done", "https://pay.example/notify/shop/stripe", "https://shop.example/done", "https://shop.example/done"},
		{"without one, the customer lands on the merchant's own callback host", "", "https://pay.example/notify/shop/stripe", "https://pay.example/", ""},
		{"with neither, a fixed documented default", "", "", stripe.DefaultSuccessURL, ""},
	}
	rec := newRecorder(t, stripeMockURL(t))
	c := newClient(t, rec.URL, now)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			order := testOrder("order-success-"+strconv.Itoa(i), now)
			order.ReturnURL, order.NotifyURL = tt.returnURL, tt.notifyURL
			if _, err := c.Create(t.Context(), order); err != nil {
				t.Fatal(err)
			}
			reqs := rec.requests("POST", "/v1/checkout/sessions")
			form := reqs[len(reqs)-1].Form
			if form.Get("success_url") != tt.wantSuccess || form.Get("cancel_url") != tt.wantCancel {
				t.Errorf("success_url %q cancel_url %q, want %q and %q", form.Get("success_url"), form.Get("cancel_url"), tt.wantSuccess, tt.wantCancel)
			}
		})
	}
}

// TestCreateConvertsToStripeUnits: the unit_amount is Stripe's count of the same money.
func TestCreateConvertsToStripeUnits(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	tests := []struct {
		name     string
		currency string
		minor    int64
		want     string
	}{
		{"two-decimal currencies pass through", "EUR", 1999, "1999"},
		{"zero-decimal in both", "JPY", 500, "500"},
		{"ISK is whole krónur in kubepay but two-decimal in Stripe's API", "ISK", 500, "50000"},
		{"MGA has two decimals in ISO 4217 but none in Stripe's API", "MGA", 100000, "1000"},
		{"three-decimal currencies pass through when the last digit is 0", "KWD", 1250, "1250"},
	}
	rec := newRecorder(t, stripeMockURL(t))
	c := newClient(t, rec.URL, now)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			order := testOrder("order-units-"+strconv.Itoa(i), now)
			order.Currency, order.AmountMinor = tt.currency, tt.minor
			if _, err := c.Create(t.Context(), order); err != nil {
				t.Fatal(err)
			}
			reqs := rec.requests("POST", "/v1/checkout/sessions")
			form := reqs[len(reqs)-1].Form
			if got := form.Get("line_items[0][price_data][unit_amount]"); got != tt.want {
				t.Errorf("unit_amount %s, want %s", got, tt.want)
			}
			if got := form.Get("line_items[0][price_data][currency]"); got != strings.ToLower(tt.currency) {
				t.Errorf("currency %q, want lower-case %q", got, tt.currency)
			}
		})
	}
}

// TestCreateRefusesWhatStripeCannotTake: refused before any request, as terminal errors.
func TestCreateRefusesWhatStripeCannotTake(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	tests := []struct {
		name string
		edit func(*providers.Order)
	}{
		{"a channel of another provider is not a Stripe payment method", func(o *providers.Order) { o.Channel = "alipay_wap" }},
		{"a fraction of an MGA ariary would need rounding in Stripe's units", func(o *providers.Order) { o.Currency, o.AmountMinor = "MGA", 100050 }},
		{"Stripe refuses a last KWD decimal other than 0", func(o *providers.Order) { o.Currency, o.AmountMinor = "KWD", 1005 }},
		{"an amount too large to express in Stripe's units", func(o *providers.Order) { o.Currency, o.AmountMinor = "ISK", math.MaxInt64/10 }},
		{"a session needs a product name", func(o *providers.Order) { o.Subject = " " }},
		{"without an out_trade_no there is no idempotency key", func(o *providers.Order) { o.OutTradeNo = "" }},
	}
	rec := newRecorder(t, "")
	c := newClient(t, rec.URL, now)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			order := testOrder("order-refused", now)
			tt.edit(&order)
			_, err := c.Create(t.Context(), order)
			if err == nil || providers.IsRetryable(err) {
				t.Fatalf("Create = %v, want a terminal error", err)
			}
			if n := len(rec.all()); n != 0 {
				t.Errorf("%d requests sent, want none", n)
			}
		})
	}
}
