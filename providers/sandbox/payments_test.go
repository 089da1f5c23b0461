package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/sandbox"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
	"github.com/kubepay/kubepay/providers/sandbox/gatewaytest"
)

func TestCreateIsIdempotent(t *testing.T) {
	t.Parallel()
	g, srv := gatewaytest.StartTest(t, gateway.Options{})
	p := newProvider(t, g, srv)
	ctx := context.Background()
	o := testOrder("otn-client-idem", "http://127.0.0.1:9/notify")

	first, err := p.Create(ctx, o)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if first.ID == "" || first.Status != providers.StatusOpen || first.AmountMinor != 1050 || first.Currency != "USD" || !strings.HasPrefix(first.PaymentURL, srv.URL+"/checkout/") {
		t.Fatalf("created %+v: want an open 10.50 USD payment with a checkout URL", first)
	}
	// A retry after a crash between the provider call and the status write.
	again, err := p.Create(ctx, o)
	if err != nil || again.ID != first.ID {
		t.Fatalf("repeat create: %+v, %v; want payment %s", again, err, first.ID)
	}
	s := g.Stats()
	if s.PaymentsTotal != 1 || s.PaymentsByOutTradeNo[o.OutTradeNo] != 1 || s.CreateReplaysTotal != 1 {
		t.Errorf("stats %+v: want exactly one payment and one replay", s)
	}
	// The PaymentOrder's identity travels in the metadata.
	got := rawGet(t, srv, "/v1/payments/"+first.ID)
	if got.Metadata[sandbox.MetadataNamespace] != "shop" || got.Metadata[sandbox.MetadataName] != "order-otn-client-idem" {
		t.Errorf("metadata %v: want the PaymentOrder namespace and name", got.Metadata)
	}
}

func rawGet(t *testing.T, srv *httptest.Server, path string) gateway.Payment {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+gatewaytest.APIKey)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p gateway.Payment
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return p
}

func TestConcurrentCreatesMakeOnePayment(t *testing.T) {
	t.Parallel()
	g, srv := gatewaytest.StartTest(t, gateway.Options{})
	p := newProvider(t, g, srv)
	o := testOrder("otn-client-race", "http://127.0.0.1:9/notify")
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		ids = map[string]int{}
	)
	for range 10 {
		wg.Go(func() {
			got, err := p.Create(context.Background(), o)
			if err != nil {
				t.Errorf("concurrent create: %v", err)
				return
			}
			mu.Lock()
			ids[got.ID]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(ids) != 1 {
		t.Fatalf("10 concurrent creates returned payments %v, want one", ids)
	}
	if s := g.Stats(); s.PaymentsByOutTradeNo[o.OutTradeNo] != 1 || s.PaymentsTotal != 1 {
		t.Errorf("stats %+v: want exactly one payment", s)
	}
}

func TestConflictingCreateIsTerminal(t *testing.T) {
	t.Parallel()
	g, srv := gatewaytest.StartTest(t, gateway.Options{})
	p := newProvider(t, g, srv)
	o := testOrder("otn-client-conflict", "http://127.0.0.1:9/notify")
	if _, err := p.Create(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	o.AmountMinor, o.Amount = 2000, "20.00"
	_, err := p.Create(context.Background(), o)
	if err == nil || providers.IsRetryable(err) || providers.Code(err) != "idempotency_conflict" {
		t.Fatalf("conflicting create: %v (retryable %v, code %q); want a terminal idempotency_conflict", err, providers.IsRetryable(err), providers.Code(err))
	}
	if !strings.Contains(err.Error(), "otn-client-conflict") {
		t.Errorf("error %q does not name the out_trade_no", err)
	}
}

func TestQuery(t *testing.T) {
	t.Parallel()
	g, srv := gatewaytest.StartTest(t, gateway.Options{})
	p := newProvider(t, g, srv)
	ctx := context.Background()
	created, err := p.Create(ctx, testOrder("otn-client-query", "http://127.0.0.1:9/notify"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := p.Create(ctx, testOrder("otn-client-other", "http://127.0.0.1:9/notify"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		otn, id  string
		wantErr  error
		wantCode string
	}{
		{"by provider id, the precise reference", "otn-client-query", created.ID, nil, ""},
		{"by out_trade_no when the id was never stored", "otn-client-query", "", nil, ""},
		{"by id alone", "", created.ID, nil, ""},
		{"an unknown out_trade_no is ErrNotFound", "otn-nope", "", providers.ErrNotFound, "payment_not_found"},
		{"an unknown id is ErrNotFound", "otn-client-query", "pay_0000", providers.ErrNotFound, "payment_not_found"},
		{"an id of another order is a mismatch, never that order's state", "otn-client-query", other.ID, nil, "mismatch"},
		{"an id that could change the path is refused", "otn-client-query", "../stats", nil, "invalid_id"},
		{"no reference at all is a caller bug", "", "", nil, "invalid_argument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := p.Query(ctx, tc.otn, tc.id)
			if tc.wantErr == nil && tc.wantCode == "" {
				if err != nil || got.ID != created.ID || got.Status != providers.StatusOpen || got.OutTradeNo != "otn-client-query" {
					t.Fatalf("query: %+v, %v; want the open payment %s", got, err, created.ID)
				}
				return
			}
			if err == nil || providers.IsRetryable(err) || providers.Code(err) != tc.wantCode || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("query: %v (code %q); want a terminal %q error wrapping %v", err, providers.Code(err), tc.wantCode, tc.wantErr)
			}
		})
	}
}

func TestCloseAfterPayIsAlreadyPaid(t *testing.T) {
	t.Parallel()
	g, srv := gatewaytest.StartTest(t, gateway.Options{})
	p := newProvider(t, g, srv)
	ctx := context.Background()
	created, err := p.Create(ctx, testOrder("otn-client-paid", "http://127.0.0.1:9/notify"))
	if err != nil {
		t.Fatal(err)
	}
	payViaGateway(t, srv, created.ID, "succeeded")
	got, err := p.Query(ctx, "otn-client-paid", created.ID)
	if err != nil || got.Status != providers.StatusSucceeded || got.PaidAt.IsZero() {
		t.Fatalf("query after pay: %+v, %v; want succeeded with PaidAt", got, err)
	}
	for _, id := range []string{created.ID, ""} {
		err := p.Close(ctx, "otn-client-paid", id)
		if !errors.Is(err, providers.ErrAlreadyPaid) || providers.IsRetryable(err) {
			t.Errorf("close (id %q) of a paid payment: %v; want a terminal ErrAlreadyPaid", id, err)
		}
	}
}

func payViaGateway(t *testing.T, srv *httptest.Server, id, outcome string) {
	t.Helper()
	resp, err := srv.Client().Post(srv.URL+"/v1/payments/"+id+"/pay", "application/json", strings.NewReader(`{"outcome":"`+outcome+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("pay %s: HTTP %d", id, resp.StatusCode)
	}
}

func TestCloseOpenPaymentNotifiesClosed(t *testing.T) {
	t.Parallel()
	g, srv := gatewaytest.StartTest(t, gateway.Options{})
	p := newProvider(t, g, srv)
	rc := newNotifications(t, p)
	ctx := context.Background()
	created, err := p.Create(ctx, testOrder("otn-client-close", rc.URL))
	if err != nil {
		t.Fatal(err)
	}
	// By out_trade_no only, as when the order expires before its status recorded the id.
	if err := p.Close(ctx, "otn-client-close", ""); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := p.Close(ctx, "otn-client-close", created.ID); err != nil {
		t.Fatalf("closing again must succeed: %v", err)
	}
	if got, err := p.Query(ctx, "otn-client-close", created.ID); err != nil || got.Status != providers.StatusClosed {
		t.Fatalf("query after close: %+v, %v; want closed", got, err)
	}
	gatewaytest.WaitStats(t, g, waitTimeout, func(s gateway.Stats) bool { return s.DeliveriesAcked == 1 })
	parsed, errs := rc.Parsed()
	if len(errs) != 0 || len(parsed) != 1 {
		t.Fatalf("receiver parsed %v with errors %v; want one notification", parsed, errs)
	}
	n := parsed[0]
	if n.Type != "payment.closed" || n.Status != providers.StatusClosed || n.OutTradeNo != "otn-client-close" || n.ProviderPaymentID != created.ID {
		t.Errorf("notification %+v: want payment.closed for %s", n, created.ID)
	}
	if err := p.Close(ctx, "otn-client-nope", ""); !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("close of an unknown order: %v, want ErrNotFound", err)
	}
}

func TestPaidNotificationEndToEnd(t *testing.T) {
	t.Parallel()
	g, srv := gatewaytest.StartTest(t, gateway.Options{Duplicates: 2})
	p := newProvider(t, g, srv)
	rc := newNotifications(t, p)
	created, err := p.Create(context.Background(), testOrder("otn-client-e2e", rc.URL))
	if err != nil {
		t.Fatal(err)
	}
	payViaGateway(t, srv, created.ID, "succeeded")
	s := gatewaytest.WaitStats(t, g, waitTimeout, func(s gateway.Stats) bool { return s.DeliveriesAcked == 1 })
	if d := s.Deliveries[0]; d.AckedOn() != 1 {
		t.Errorf("acked on attempt %d, want 1: the client's Ack must be what the gateway expects", d.AckedOn())
	}
	parsed, errs := rc.Parsed()
	if len(errs) != 0 || len(parsed) != 2 || parsed[0].ID != parsed[1].ID {
		t.Fatalf("parsed %+v, errors %v; want two copies of one event", parsed, errs)
	}
	n := parsed[0]
	if n.Status != providers.StatusSucceeded || n.AmountMinor != 1050 || n.Currency != "USD" || n.OutTradeNo != "otn-client-e2e" ||
		n.ProviderPaymentID != created.ID || n.OccurredAt.IsZero() || n.MerchantID != "" {
		t.Errorf("notification %+v does not describe the paid payment", n)
	}
}

func TestErrorsAreClassified(t *testing.T) {
	t.Parallel()
	// A scripted server stands in for a misbehaving gateway; the real one never answers 5xx.
	tests := []struct {
		name      string
		status    int
		body      string
		retryable bool
		code      string
		is        error
	}{
		{"a 500 is the gateway's problem: retry", 500, `{"error":{"code":"internal_error","message":"boom"}}`, true, "internal_error", nil},
		{"a 503 without a JSON body is retried too", 503, `unavailable`, true, "503", nil},
		{"throttling is retried", 429, `{"error":{"code":"rate_limited","message":"slow down"}}`, true, "rate_limited", nil},
		{"a request the gateway refuses will not improve", 400, `{"error":{"code":"invalid_request","message":"amount must be positive"}}`, false, "invalid_request", nil},
		{"a refused API key is a credentials problem", 401, `{"error":{"code":"unauthorized","message":"missing or invalid API key"}}`, false, "unauthorized", providers.ErrCredentials},
		{"a reused key is a terminal conflict", 409, `{"error":{"code":"idempotency_conflict","message":"different request"}}`, false, "idempotency_conflict", nil},
		{"a garbled success answer is retried", 201, `{"id":`, true, "bad_response", nil},
		{"a payment in an unknown state is retried", 200, `{"id":"pay_1","status":"weird"}`, true, "bad_response", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			p := clientFor(t, srv.URL, nil)
			_, err := p.Create(context.Background(), testOrder("otn-classify", "http://127.0.0.1:9/n"))
			if err == nil || providers.IsRetryable(err) != tc.retryable || providers.Code(err) != tc.code {
				t.Fatalf("create: %v (retryable %v, code %q); want retryable=%v code %q", err, providers.IsRetryable(err), providers.Code(err), tc.retryable, tc.code)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
			if strings.Contains(err.Error(), gatewaytest.APIKey) {
				t.Errorf("error %q leaks the API key", err)
			}
		})
	}
	t.Run("an unreachable gateway is retried", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		_, err := clientFor(t, srv.URL, nil).Query(context.Background(), "otn", "")
		if !providers.IsRetryable(err) || providers.Code(err) != "network" {
			t.Fatalf("query of a closed server: %v; want a retryable network error", err)
		}
	})
	t.Run("a timeout is retried", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			// The body is never read, so the server may not notice the client leaving: the
			// handler is released explicitly before the server closes.
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(release) })
		_, err := clientFor(t, srv.URL, &http.Client{Timeout: 50 * time.Millisecond}).Create(context.Background(), testOrder("otn-timeout", "http://127.0.0.1:9/n"))
		if !providers.IsRetryable(err) {
			t.Fatalf("create against a hanging server: %v; want retryable", err)
		}
	})
}

// clientFor builds a client for any endpoint, with the shared test key.
func clientFor(t *testing.T, endpoint string, hc *http.Client) providers.Provider {
	t.Helper()
	p, err := sandbox.New(providers.Config{
		Namespace: "shop", Name: "sandbox", Endpoint: endpoint, HTTPClient: hc,
		Secret: map[string][]byte{"apiKey": []byte(gatewaytest.APIKey), "publicKey": publicPEM(t, &gatewaytest.SigningKey().PublicKey)},
	})
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	return p
}
