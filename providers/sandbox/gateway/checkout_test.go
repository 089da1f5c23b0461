package gateway_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kubepay/kubepay/providers/sandbox/gateway"
	"github.com/kubepay/kubepay/providers/sandbox/gatewaytest"
)

func TestCheckoutPageShowsThePayment(t *testing.T) {
	t.Parallel()
	_, srv := gatewaytest.StartTest(t, gateway.Options{})
	c := newClient(t, srv)
	tests := []struct {
		name     string
		amount   int64
		currency string
		want     string
	}{
		{"two-decimal currencies show cents", 1050, "USD", "10.50"},
		{"amounts below one unit keep the leading zero", 5, "EUR", "0.05"},
		{"JPY has no minor unit", 500, "JPY", "500"},
		{"KWD has three decimals", 1234, "KWD", "1.234"},
		{"BHD has three decimals", 1000, "BHD", "1.000"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := order("otn-page-"+strconv.Itoa(i), noNotify)
			req.Amount, req.Currency = tc.amount, tc.currency
			req.Subject = `Tea & <script>alert("x")</script>`
			p := c.mustCreate(req)
			status, body, h := c.do(http.MethodGet, "/checkout/"+p.ID, nil)
			page := string(body)
			if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
				t.Fatalf("checkout: HTTP %d %s", status, h.Get("Content-Type"))
			}
			for _, want := range []string{
				`<p class="amount">` + tc.want + ` <span>` + tc.currency + `</span></p>`,
				`Tea &amp; &lt;script&gt;`,
				`<button name="outcome" value="succeeded">Pay</button>`,
				`<button name="outcome" value="failed">Fail</button>`,
				`<form method="post" action="/v1/payments/` + p.ID + `/pay">`,
			} {
				if !strings.Contains(page, want) {
					t.Errorf("checkout page lacks %q:\n%s", want, page)
				}
			}
			// The subject is the merchant's text: it must never reach the page unescaped.
			if strings.Contains(page, "<script>") {
				t.Errorf("checkout page contains an unescaped script tag")
			}
			if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
				t.Errorf("checkout page CSP %q, want default-src 'none'", h.Get("Content-Security-Policy"))
			}
		})
	}
	if status, _, _ := c.do(http.MethodGet, "/checkout/pay_nope", nil); status != http.StatusNotFound {
		t.Errorf("checkout of an unknown payment: HTTP %d, want 404", status)
	}
}

// payForm matches a checkout form and its single button.
var payForm = regexp.MustCompile(`<form method="post" action="([^"]+)"><button name="([^"]+)" value="([^"]+)">([^<]+)</button></form>`)

func TestCheckoutFormCompletesThePayment(t *testing.T) {
	t.Parallel()
	rc := gatewaytest.NewReceiver(t, nil)
	g, srv := gatewaytest.StartTest(t, gateway.Options{})
	c := newClient(t, srv)
	p := c.mustCreate(order("otn-form", rc.URL))

	_, body, _ := c.do(http.MethodGet, "/checkout/"+p.ID, nil)
	var action, field, value string
	for _, m := range payForm.FindAllStringSubmatch(string(body), -1) {
		if m[4] == "Pay" {
			action, field, value = html.UnescapeString(m[1]), html.UnescapeString(m[2]), html.UnescapeString(m[3])
		}
	}
	if action == "" {
		t.Fatalf("no Pay form in the checkout page:\n%s", body)
	}
	// Submit it as a browser would.
	form := url.Values{field: {value}}.Encode()
	status, result, h := c.do(http.MethodPost, action, []byte(form), "Content-Type", "application/x-www-form-urlencoded")
	if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("submit Pay form: HTTP %d %s %s", status, h.Get("Content-Type"), result)
	}
	for _, want := range []string{"Payment succeeded", "10.50 USD", `<a href="https://shop.example/return">`} {
		if !strings.Contains(string(result), want) {
			t.Errorf("result page lacks %q:\n%s", want, result)
		}
	}
	_, b := c.get("/v1/payments/" + p.ID)
	var got gateway.Payment
	mustDecode(t, b, &got)
	if got.Status != gateway.StatusSucceeded || got.PaidAt.IsZero() {
		t.Fatalf("after the Pay form the payment is %+v, want succeeded with paid_at", got)
	}
	s := gatewaytest.WaitStats(t, g, waitTimeout, func(s gateway.Stats) bool { return s.DeliveriesAcked == 1 })
	if d := s.Deliveries[0]; d.Type != gateway.EventPaymentSucceeded || d.PaymentID != p.ID {
		t.Errorf("delivery %+v, want payment.succeeded for %s", d, p.ID)
	}

	// Submitting again shows an error page, not a second payment.
	status, again, _ := c.do(http.MethodPost, action, []byte(form), "Content-Type", "application/x-www-form-urlencoded")
	if status != http.StatusConflict || !strings.Contains(string(again), "already paid") {
		t.Errorf("second submit: HTTP %d %s, want 409 with an explanation", status, again)
	}
	// A paid payment's page offers no buttons any more.
	_, page, _ := c.do(http.MethodGet, "/checkout/"+p.ID, nil)
	if strings.Contains(string(page), "<button") {
		t.Errorf("checkout page of a paid payment still has buttons:\n%s", page)
	}
}
