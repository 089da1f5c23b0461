package sandbox_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/kubepay/kubepay/providers"
)

// TestBare404IsNotNotFound (issue case 9): only the gateway's own structured answer
// (payment_not_found, refund_not_found) says a payment or refund does not exist. A 404 from
// anything else on the way (a misrouted proxy or ingress, a wrong base path) says nothing about
// the payment: treating it as "no payment" would let an expiring order go Expired without the
// close that makes its link unpayable.
func TestBare404IsNotNotFound(t *testing.T) {
	t.Parallel()
	answers := []struct {
		name, contentType, body string
	}{
		{"Go's plain-text 404, as a misrouted mux answers", "text/plain; charset=utf-8", "404 page not found\n"},
		{"an ingress's HTML error page", "text/html", "<html><body><h1>404 Not Found</h1></body></html>"},
		{"JSON that is not the gateway's error object", "application/json", `{"message":"no route"}`},
		{"the gateway's error shape with a code that names no payment or refund", "application/json", `{"error":{"code":"not_found","message":"route not found"}}`},
		{"an empty body", "", ""},
	}
	calls := []struct {
		name string
		call func(p providers.Provider) error
	}{
		{"Query by id", func(p providers.Provider) error {
			_, err := p.Query(context.Background(), "otn-404", "pay_404")
			return err
		}},
		{"Query by out_trade_no", func(p providers.Provider) error { _, err := p.Query(context.Background(), "otn-404", ""); return err }},
		{"Close by id", func(p providers.Provider) error { return p.Close(context.Background(), "otn-404", "pay_404") }},
		{"Close by out_trade_no", func(p providers.Provider) error { return p.Close(context.Background(), "otn-404", "") }},
		{"QueryRefund", func(p providers.Provider) error {
			_, err := p.QueryRefund(context.Background(), providers.RefundRequest{OutTradeNo: "otn-404", ProviderPaymentID: "pay_404", OutRefundNo: "rf-404"})
			return err
		}},
		{"Refund", func(p providers.Provider) error {
			_, err := p.Refund(context.Background(), providers.RefundRequest{OutTradeNo: "otn-404", ProviderPaymentID: "pay_404", OutRefundNo: "rf-404", AmountMinor: 100, Currency: "USD"})
			return err
		}},
	}
	for _, a := range answers {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if a.contentType != "" {
					w.Header().Set("Content-Type", a.contentType)
				}
				w.WriteHeader(http.StatusNotFound)
				_, _ = w.Write([]byte(a.body))
			}))
			t.Cleanup(srv.Close)
			p := clientFor(t, srv.URL, nil)
			for _, c := range calls {
				err := c.call(p)
				if err == nil || !providers.IsRetryable(err) || errors.Is(err, providers.ErrNotFound) {
					t.Errorf("%s against a bare 404: %v (retryable %v); want a retryable error that does not wrap ErrNotFound", c.name, err, providers.IsRetryable(err))
				}
			}
		})
	}
}
