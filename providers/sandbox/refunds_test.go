package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/sandbox"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
	"github.com/kubepay/kubepay/providers/sandbox/gatewaytest"
)

// paid creates and pays an order of 10.50 USD and returns the payment as Query reports it.
func paid(t *testing.T, p providers.Provider, srv *httptest.Server, otn, notifyURL string) providers.Payment {
	t.Helper()
	created, err := p.Create(context.Background(), testOrder(otn, notifyURL))
	if err != nil {
		t.Fatal(err)
	}
	payViaGateway(t, srv, created.ID, "succeeded")
	got, err := p.Query(context.Background(), otn, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func completeViaGateway(t *testing.T, srv *httptest.Server, refundID, outcome, reason string) {
	t.Helper()
	resp, err := srv.Client().Post(srv.URL+"/v1/refunds/"+refundID+"/complete", "application/json", strings.NewReader(fmt.Sprintf(`{"outcome":%q,"reason":%q}`, outcome, reason)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("complete refund %s: HTTP %d", refundID, resp.StatusCode)
	}
}

// TestRefundEndToEnd: a refund made through the client is made once however often it is asked
// for, reported processing, and its result arrives as a verified refund fact that is not a
// payment status.
func TestRefundEndToEnd(t *testing.T) {
	t.Parallel()
	g, srv := gatewaytest.StartTest(t, gateway.Options{RefundDelay: -1})
	p := newProvider(t, g, srv)
	rc := newNotifications(t, p)
	ctx := context.Background()
	pay := paid(t, p, srv, "otn-client-refund", rc.URL)
	if pay.TransactionID != pay.ID || pay.ExpiresAt.IsZero() {
		t.Fatalf("paid payment %+v: want TransactionID = the payment id and the gateway's expires_at", pay)
	}
	req := providers.RefundRequest{
		OutTradeNo: "otn-client-refund", ProviderPaymentID: pay.ID, TransactionID: pay.TransactionID,
		OutRefundNo: "rf-client-1", AmountMinor: 400, Amount: "4.00", TotalMinor: 1050, Currency: "USD", Reason: "one cup broken",
	}
	first, err := p.Refund(ctx, req)
	if err != nil {
		t.Fatalf("refund: %v", err)
	}
	if !strings.HasPrefix(first.ID, "re_") || first.Status != providers.RefundProcessing || first.AmountMinor != 400 || first.Currency != "USD" ||
		first.OutRefundNo != "rf-client-1" || first.OutTradeNo != "otn-client-refund" {
		t.Fatalf("refund %+v: want a processing refund of 400 USD", first)
	}
	// A retry after a crash between the provider call and the status write.
	again, err := p.Refund(ctx, req)
	if err != nil || again != first {
		t.Fatalf("repeated refund: %+v, %v; want %+v", again, err, first)
	}
	if got, err := p.QueryRefund(ctx, req); err != nil || got != first {
		t.Fatalf("query refund: %+v, %v; want %+v", got, err, first)
	}
	completeViaGateway(t, srv, first.ID, "succeeded", "")
	s := gatewaytest.WaitStats(t, g, waitTimeout, func(s gateway.Stats) bool { return s.DeliveriesAcked == 2 })
	if pr := s.RefundsFor("otn-client-refund"); pr.Executions["rf-client-1"] != 1 || pr.Count != 1 || pr.RefundedTotal != 400 {
		t.Errorf("gateway refunds %+v: want rf-client-1 executed once, 400 refunded", pr)
	}
	parsed, errs := rc.Parsed()
	if len(errs) != 0 || len(parsed) != 2 {
		t.Fatalf("receiver parsed %+v with errors %v; want payment.succeeded then refund.succeeded", parsed, errs)
	}
	// The gateway's workers deliver concurrently: the two may arrive in either order.
	if parsed[0].Type == "refund.succeeded" {
		parsed[0], parsed[1] = parsed[1], parsed[0]
	}
	n := parsed[1]
	if n.Type != "refund.succeeded" || n.Status != "" || n.OutTradeNo != "otn-client-refund" || n.ProviderPaymentID != pay.ID || n.TransactionID != pay.ID || n.Refund == nil {
		t.Fatalf("notification %+v: want a refund fact for payment %s with no payment status", n, pay.ID)
	}
	if f := *n.Refund; f.OutRefundNo != "rf-client-1" || f.ProviderRefundID != first.ID || f.Status != providers.RefundSucceeded || f.AmountMinor != 400 || f.Currency != "USD" || f.RefundedAt.IsZero() {
		t.Errorf("refund fact %+v does not describe the succeeded refund %s", f, first.ID)
	}
	if parsed[0].TransactionID != pay.ID {
		t.Errorf("payment.succeeded notification %+v: want TransactionID %s", parsed[0], pay.ID)
	}
	got, err := p.QueryRefund(ctx, req)
	if err != nil || got.Status != providers.RefundSucceeded || got.RefundedAt.IsZero() {
		t.Errorf("query after success: %+v, %v; want succeeded with RefundedAt", got, err)
	}
}

// TestRefundFailureIsReported: a refused refund is a RefundFailed with the bank's reason, in the
// notification and in QueryRefund.
func TestRefundFailureIsReported(t *testing.T) {
	t.Parallel()
	g, srv := gatewaytest.StartTest(t, gateway.Options{RefundDelay: -1})
	p := newProvider(t, g, srv)
	rc := newNotifications(t, p)
	ctx := context.Background()
	pay := paid(t, p, srv, "otn-client-refund-fail", rc.URL)
	req := providers.RefundRequest{OutTradeNo: "otn-client-refund-fail", ProviderPaymentID: pay.ID, OutRefundNo: "rf-client-fail", AmountMinor: 1050, Currency: "USD"}
	r, err := p.Refund(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	completeViaGateway(t, srv, r.ID, "failed", "card account closed")
	gatewaytest.WaitStats(t, g, waitTimeout, func(s gateway.Stats) bool { return s.DeliveriesAcked == 2 })
	parsed, errs := rc.Parsed()
	// The payment's and the refund's notifications may arrive in either order.
	i := slices.IndexFunc(parsed, func(n providers.Notification) bool { return n.Refund != nil })
	if len(errs) != 0 || len(parsed) != 2 || i < 0 {
		t.Fatalf("parsed %+v, errors %v; want the payment's and the refund's notifications", parsed, errs)
	}
	if f := parsed[i].Refund; parsed[i].Status != "" || f.Status != providers.RefundFailed || f.FailureReason != "card account closed" || !f.RefundedAt.IsZero() {
		t.Errorf("refund fact %+v: want failed with the reason", f)
	}
	if got, err := p.QueryRefund(ctx, req); err != nil || got.Status != providers.RefundFailed || got.FailureReason != "card account closed" {
		t.Errorf("query: %+v, %v; want failed with the reason", got, err)
	}
}

func TestRefundErrors(t *testing.T) {
	t.Parallel()
	g, srv := gatewaytest.StartTest(t, gateway.Options{RefundDelay: -1})
	p := newProvider(t, g, srv)
	ctx := context.Background()
	pay := paid(t, p, srv, "otn-client-rerr", "http://127.0.0.1:9/n")
	other := paid(t, p, srv, "otn-client-rerr-other", "http://127.0.0.1:9/n")
	open, err := p.Create(ctx, testOrder("otn-client-rerr-open", "http://127.0.0.1:9/n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Refund(ctx, providers.RefundRequest{OutTradeNo: "otn-client-rerr", ProviderPaymentID: pay.ID, OutRefundNo: "rf-rerr-1", AmountMinor: 1000}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Refund(ctx, providers.RefundRequest{OutTradeNo: "otn-client-rerr-other", ProviderPaymentID: other.ID, OutRefundNo: "rf-rerr-other", AmountMinor: 1}); err != nil {
		t.Fatal(err)
	}
	base := providers.RefundRequest{OutTradeNo: "otn-client-rerr", ProviderPaymentID: pay.ID, Currency: "USD"}
	with := func(edit func(*providers.RefundRequest)) providers.RefundRequest {
		r := base
		edit(&r)
		return r
	}
	tests := []struct {
		name  string
		query bool // QueryRefund instead of Refund
		req   providers.RefundRequest
		// ok: the call succeeds; else a terminal error with code, wrapping is (if set).
		ok   bool
		code string
		is   error
	}{
		{"by out_trade_no alone, the payment is looked up first", false, with(func(r *providers.RefundRequest) {
			r.ProviderPaymentID, r.OutRefundNo, r.AmountMinor = "", "rf-rerr-2", 10
		}), true, "", nil},
		{"by transaction id alone, which is the sandbox payment id", false, with(func(r *providers.RefundRequest) {
			r.ProviderPaymentID, r.TransactionID, r.OutRefundNo, r.AmountMinor = "", pay.ID, "rf-rerr-3", 10
		}), true, "", nil},
		{"more than what is left is the gateway's refusal, ErrRefundExceedsPayment", false, with(func(r *providers.RefundRequest) { r.OutRefundNo, r.AmountMinor = "rf-rerr-4", 100 }), false, "refund_exceeds_payment", providers.ErrRefundExceedsPayment},
		{"an unpaid payment cannot be refunded, and asking again will not help", false, providers.RefundRequest{OutTradeNo: "otn-client-rerr-open", ProviderPaymentID: open.ID, OutRefundNo: "rf-rerr-5", AmountMinor: 1}, false, "payment_not_paid", nil},
		{"a refund in another currency than the payment's is refused before the gateway makes it", false, with(func(r *providers.RefundRequest) { r.OutRefundNo, r.AmountMinor, r.Currency = "rf-rerr-10", 1, "EUR" }), false, "currency_mismatch", nil},
		{"another order's payment is never refunded for this order", false, with(func(r *providers.RefundRequest) {
			r.ProviderPaymentID, r.OutRefundNo, r.AmountMinor = other.ID, "rf-rerr-11", 1
		}), false, "mismatch", nil},
		{"an out_refund_no used for another refund is a terminal conflict", false, with(func(r *providers.RefundRequest) { r.OutRefundNo, r.AmountMinor = "rf-rerr-1", 5 }), false, "idempotency_conflict", nil},
		{"a payment the gateway does not know is ErrNotFound from its own answer", false, with(func(r *providers.RefundRequest) {
			r.ProviderPaymentID, r.OutRefundNo, r.AmountMinor = "pay_nope", "rf-rerr-6", 1
		}), false, "payment_not_found", providers.ErrNotFound},
		{"an order the gateway does not know is ErrNotFound too", false, providers.RefundRequest{OutTradeNo: "otn-nope", OutRefundNo: "rf-rerr-7", AmountMinor: 1}, false, "payment_not_found", providers.ErrNotFound},
		{"an id that could change the path is refused before any call", false, with(func(r *providers.RefundRequest) {
			r.ProviderPaymentID, r.OutRefundNo, r.AmountMinor = "../stats", "rf-rerr-8", 1
		}), false, "invalid_id", nil},
		{"a refund without out_refund_no has no idempotency key: a caller bug", false, with(func(r *providers.RefundRequest) { r.AmountMinor = 1 }), false, "invalid_argument", nil},
		{"a refund of nothing is a caller bug", false, with(func(r *providers.RefundRequest) { r.OutRefundNo = "rf-rerr-9" }), false, "invalid_argument", nil},
		{"query: a refund the gateway does not know is ErrNotFound from its own answer", true, with(func(r *providers.RefundRequest) { r.OutRefundNo = "rf-nope" }), false, "refund_not_found", providers.ErrNotFound},
		{"query: another payment's refund is never reported as this one's", true, with(func(r *providers.RefundRequest) { r.OutRefundNo = "rf-rerr-other" }), false, "mismatch", nil},
		{"query: without out_refund_no there is nothing to look up", true, base, false, "invalid_argument", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.query {
				_, err = p.QueryRefund(ctx, tc.req)
			} else {
				_, err = p.Refund(ctx, tc.req)
			}
			if tc.ok {
				if err != nil {
					t.Fatalf("%v", err)
				}
				return
			}
			if err == nil || providers.IsRetryable(err) || providers.Code(err) != tc.code || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("%v (retryable %v, code %q); want a terminal %q error wrapping %v", err, providers.IsRetryable(err), providers.Code(err), tc.code, tc.is)
			}
			if !strings.Contains(err.Error(), tc.req.OutTradeNo) && !strings.Contains(err.Error(), tc.req.OutRefundNo) {
				t.Errorf("error %q names neither the order nor the refund", err)
			}
		})
	}
	s := g.Stats()
	if pr := s.RefundsFor("otn-client-rerr"); pr.Count != 3 || pr.PendingTotal != 1020 {
		t.Errorf("gateway refunds %+v: want exactly the three accepted refunds", pr)
	}
	if pr := s.RefundsFor("otn-client-rerr-other"); pr.Count != 1 {
		t.Errorf("gateway refunds of the other order %+v: want only its own refund", pr)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	g, srv := gatewaytest.StartTest(t, gateway.Options{})
	t.Run("the gateway's not-found answer means the key works", func(t *testing.T) {
		if err := newProvider(t, g, srv).Verify(context.Background()); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	})
	t.Run("a key the gateway refuses is ErrCredentials", func(t *testing.T) {
		p, err := providers.New(sandbox.Type, providers.Config{Namespace: "shop", Name: "sandbox", Endpoint: srv.URL, Secret: gatewaytest.Secret(g, "sk_test_revoked")})
		if err != nil {
			t.Fatal(err)
		}
		err = p.Verify(context.Background())
		if !errors.Is(err, providers.ErrCredentials) || providers.IsRetryable(err) || strings.Contains(err.Error(), "sk_test_revoked") {
			t.Fatalf("Verify with a revoked key: %v; want a terminal ErrCredentials that does not quote the key", err)
		}
	})
	// Scripted servers: what is not the gateway's word on the key says nothing about it.
	tests := []struct {
		name        string
		status      int
		body        string
		ok          bool
		credentials bool
	}{
		{"a payment that happens to exist with the verify number proves the key too", 200, `{"id":"pay_1","out_trade_no":"kubepay-verify","status":"open","amount":1,"currency":"USD"}`, true, false},
		{"403 is a refused key", 403, `{"error":{"code":"forbidden","message":"no"}}`, false, true},
		{"a bare 404 from a proxy is no answer about the key", 404, "404 page not found", false, false},
		{"a 404 with another code is no answer either", 404, `{"error":{"code":"not_found","message":"route"}}`, false, false},
		{"a catch-all page answering 200 is not the gateway", 200, "<html>welcome</html>", false, false},
		{"a gateway failure is retried", 503, "unavailable", false, false},
		{"even a 400 says nothing about the key: retried", 400, `{"error":{"code":"invalid_request","message":"?"}}`, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var gotPath string
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotPath = r.URL.RequestURI()
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(ts.Close)
			err := clientFor(t, ts.URL, nil).Verify(context.Background())
			if gotPath != "/v1/payments?out_trade_no="+sandbox.VerifyOutTradeNo {
				t.Errorf("Verify asked for %q", gotPath)
			}
			switch {
			case tc.ok:
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
			case tc.credentials:
				if !errors.Is(err, providers.ErrCredentials) || providers.IsRetryable(err) {
					t.Fatalf("Verify: %v; want a terminal ErrCredentials", err)
				}
			default:
				if err == nil || !providers.IsRetryable(err) || errors.Is(err, providers.ErrCredentials) || errors.Is(err, providers.ErrNotFound) {
					t.Fatalf("Verify: %v; want a retryable error that blames neither the key nor a payment", err)
				}
			}
		})
	}
	t.Run("an unreachable gateway is retried", func(t *testing.T) {
		t.Parallel()
		ts := httptest.NewServer(http.NotFoundHandler())
		ts.Close()
		if err := clientFor(t, ts.URL, &http.Client{Timeout: time.Second}).Verify(context.Background()); !providers.IsRetryable(err) || errors.Is(err, providers.ErrCredentials) {
			t.Fatalf("Verify of a closed server: %v; want retryable", err)
		}
	})
}

// TestLatePaymentIsNotifiedAsPaid: money arriving after the close is a payment.succeeded like any
// other; the order's controller decides what a late payment means.
func TestLatePaymentIsNotifiedAsPaid(t *testing.T) {
	t.Parallel()
	g, srv := gatewaytest.StartTest(t, gateway.Options{})
	p := newProvider(t, g, srv)
	rc := newNotifications(t, p)
	ctx := context.Background()
	created, err := p.Create(ctx, testOrder("otn-client-late", rc.URL))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(ctx, "otn-client-late", created.ID); err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Post(srv.URL+"/v1/payments/"+created.ID+"/pay", "application/json", strings.NewReader(`{"outcome":"succeeded","late":true}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("late pay: HTTP %d", resp.StatusCode)
	}
	gatewaytest.WaitStats(t, g, waitTimeout, func(s gateway.Stats) bool { return s.DeliveriesAcked == 2 })
	// Deliveries run concurrently and retry, so the two may arrive in either order (as real
	// providers' do): what matters is that the late money arrives as a payment.succeeded.
	parsed, errs := rc.Parsed()
	statuses := map[providers.PaymentStatus]int{}
	for _, n := range parsed {
		statuses[n.Status]++
	}
	if len(errs) != 0 || len(parsed) != 2 || statuses[providers.StatusClosed] != 1 || statuses[providers.StatusSucceeded] != 1 {
		t.Fatalf("parsed %+v, errors %v; want one payment.closed and one payment.succeeded", parsed, errs)
	}
	if got, err := p.Query(ctx, "otn-client-late", created.ID); err != nil || got.Status != providers.StatusSucceeded || got.TransactionID != created.ID {
		t.Errorf("query after the late payment: %+v, %v; want succeeded", got, err)
	}
}
