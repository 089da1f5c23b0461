package stripe_test

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/stripe"
)

// TestNotificationEvents: what each validly signed event means for the order.
func TestNotificationEvents(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	base := paidEvent("evt_1", "cs_test_n1", "order-n1", 1250, now.Add(-2*time.Second))
	with := func(edit func(*sessionEvent)) []byte {
		e := base
		edit(&e)
		return e.JSON()
	}
	tests := []struct {
		name string
		body []byte
		want providers.PaymentStatus
		// malformed: refused with ErrMalformed.
		malformed bool
	}{
		{"a completed, paid session is a payment", base.JSON(), providers.StatusSucceeded, false},
		{"a completed session waiting for a delayed payment moves nothing yet", with(func(e *sessionEvent) { e.PaymentStatus = "unpaid" }), "", false},
		{"a delayed payment that succeeded is a payment", with(func(e *sessionEvent) { e.Type = stripe.EventSessionAsyncPaymentOK }), providers.StatusSucceeded, false},
		{"a delayed payment that failed fails the order", with(func(e *sessionEvent) { e.Type, e.PaymentStatus = stripe.EventSessionAsyncPaymentFailed, "unpaid" }), providers.StatusFailed, false},
		{"an expired session closes the order", with(func(e *sessionEvent) {
			e.Type, e.Status, e.PaymentStatus = stripe.EventSessionExpired, "expired", "unpaid"
		}), providers.StatusClosed, false},
		{"an event kubepay does not act on is acknowledged and ignored", with(func(e *sessionEvent) { e.Type = "payment_intent.succeeded" }), "", false},
		{"a session of another namespace's provider is ignored, not refused", with(func(e *sessionEvent) { e.Namespace = "other" }), "", false},
		{"a session of another provider in the namespace is ignored", with(func(e *sessionEvent) { e.Provider = "stripe-eu" }), "", false},
		{"a subscription session is another integration's", with(func(e *sessionEvent) { e.Mode = "subscription" }), "", false},
		{"a session without client_reference_id cannot be matched", with(func(e *sessionEvent) { e.OmitClientReference = true }), "", true},
		{"a session without amount_total cannot be checked", with(func(e *sessionEvent) { e.OmitAmount = true }), "", true},
		{"a zero amount is no payment of an order", with(func(e *sessionEvent) { e.Amount = 0 }), "", true},
		{"a currency that is no ISO code", with(func(e *sessionEvent) { e.Currency = "us" }), "", true},
		{"a session id outside Stripe's alphabet", with(func(e *sessionEvent) { e.SessionID = "cs_../x" }), "", true},
		{"JSON that does not parse", []byte(`{"id":`), "", true},
		{"an event without a type", []byte(`{"id":"evt_x"}`), "", true},
		{"a session event whose object is not a session", []byte(`{"id":"evt_x","type":"checkout.session.completed","data":{"object":{"object":"charge","id":"ch_1"}}}`), "", true},
	}
	c := newClient(t, "", now)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := c.ParseNotification(t.Context(), notifyRequest(tt.body, sign(tt.body, testSecret, now)), tt.body)
			if tt.malformed {
				if !errors.Is(err, providers.ErrMalformed) {
					t.Fatalf("ParseNotification = %+v, %v; want ErrMalformed", n, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n.Status != tt.want || n.ID != "evt_1" || n.Type == "" {
				t.Errorf("notification %+v: want status %q", n, tt.want)
			}
		})
	}
}

// TestNotificationFields: the normalised notification carries what the callback server checks.
func TestNotificationFields(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	tests := []struct {
		name      string
		amount    int64
		currency  string
		wantMinor int64
	}{
		{"USD cents are kubepay's cents", 1250, "usd", 1250},
		{"ISK in Stripe's two decimals becomes kubepay's whole krónur", 50000, "isk", 500},
		{"MGA in Stripe's whole ariary becomes kubepay's hundredths (ISO 4217 gives MGA two decimals)", 1000, "mga", 100000},
	}
	c := newClient(t, "", now)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := paidEvent("evt_fields", "cs_test_fields", "order-fields", tt.amount, now.Add(-time.Minute))
			e.Currency = tt.currency
			body := e.JSON()
			n, err := c.ParseNotification(t.Context(), notifyRequest(body, sign(body, testSecret, now)), body)
			if err != nil {
				t.Fatal(err)
			}
			want := providers.Notification{
				ID: "evt_fields", Type: stripe.EventSessionCompleted, OutTradeNo: "order-fields", ProviderPaymentID: "cs_test_fields",
				Status: providers.StatusSucceeded, AmountMinor: tt.wantMinor, Currency: strings.ToUpper(tt.currency), OccurredAt: now.Add(-time.Minute).UTC(),
			}
			if n != want {
				t.Errorf("notification\n %+v\nwant\n %+v", n, want)
			}
		})
	}
}

// TestAck: Stripe stops on any 2xx; failures never carry the error's text.
func TestAck(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		body   string
	}{
		{"recorded or ignored events are acknowledged", nil, 200, `{"received":true}`},
		{"a bad signature will never verify", providers.ErrSignature, 400, `{"received":false}`},
		{"a malformed event will never parse", providers.ErrMalformed, 400, `{"received":false}`},
		{"anything else (unknown order, API server down) asks Stripe to retry", errors.New("secret detail"), 500, `{"received":false}`},
	}
	c := newClient(t, "", time.Now())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			c.Ack(w, tt.err)
			resp := w.Result()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || string(body) != tt.body || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("Ack answered %d %q (%s), want %d %q", resp.StatusCode, body, resp.Header.Get("Content-Type"), tt.status, tt.body)
			}
		})
	}
}
