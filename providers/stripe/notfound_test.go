package stripe_test

import (
	"errors"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers"
)

// TestBare404IsNotNotFound (issue case 9): only Stripe's structured resource_missing says a
// session or refund does not exist. A 404 from anything else on the way (a proxy in front of
// the API, a wrong spec.endpoint path) says nothing about the payment; taking it for "no
// session" would let an expiring order go Expired without the expire that ends its link.
func TestBare404IsNotNotFound(t *testing.T) {
	answers := []struct {
		name, body string
	}{
		{"Go's plain-text 404, as a misrouted mux answers", "404 page not found\n"},
		{"an ingress's HTML error page", "<html><body><h1>404 Not Found</h1></body></html>"},
		{"JSON that is not Stripe's error object", `{"message":"no route"}`},
		{"Stripe's error shape without resource_missing (an unrecognised URL)", stripeError("invalid_request_error", "", "Unrecognized request URL (GET: /v2/checkout/sessions/cs_x)")},
	}
	const id, otn = "cs_test_404", "order-404"
	calls := []struct {
		name string
		call func(c providers.Provider) error
	}{
		{"Query", func(c providers.Provider) error { _, err := c.Query(t.Context(), otn, id); return err }},
		{"Close", func(c providers.Provider) error { return c.Close(t.Context(), otn, id) }},
		{"QueryRefund", func(c providers.Provider) error {
			_, err := c.QueryRefund(t.Context(), providers.RefundRequest{OutTradeNo: otn, ProviderPaymentID: id, TransactionID: "pi_test_404", OutRefundNo: "rf-404", Currency: "USD"})
			return err
		}},
		{"Refund", func(c providers.Provider) error {
			_, err := c.Refund(t.Context(), providers.RefundRequest{OutTradeNo: otn, ProviderPaymentID: id, TransactionID: "pi_test_404", OutRefundNo: "rf-404", AmountMinor: 100, Currency: "USD"})
			return err
		}},
		{"Verify", func(c providers.Provider) error { return c.Verify(t.Context()) }},
	}
	for _, a := range answers {
		t.Run(a.name, func(t *testing.T) {
			rec := newRecorder(t, "")
			for _, path := range []string{"/v1/checkout/sessions/" + id, "/v1/checkout/sessions/" + id + "/expire", "/v1/refunds", "/v1/checkout/sessions/cs_kubepay_verify"} {
				rec.answer("GET", path, 404, a.body)
				rec.answer("POST", path, 404, a.body)
			}
			c := newClient(t, rec.URL, time.Now())
			for _, call := range calls {
				err := call.call(c)
				if err == nil || !providers.IsRetryable(err) || errors.Is(err, providers.ErrNotFound) {
					t.Errorf("%s against a bare 404: %v (retryable %v); want a retryable error that does not wrap ErrNotFound", call.name, err, providers.IsRetryable(err))
				}
			}
		})
	}
}
