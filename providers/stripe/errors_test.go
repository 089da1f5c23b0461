package stripe_test

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers"
)

// TestErrorsAreClassified: each Stripe answer decides whether the controller retries the order
// or gives up on it.
func TestErrorsAreClassified(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		retryable bool
		code      string
		wraps     error
	}{
		{"a declined card will not pass on retry", 402, stripeError("card_error", "card_declined", "Your card was declined."), false, "card_declined", nil},
		{"invalid parameters stay invalid", 400, stripeError("invalid_request_error", "parameter_invalid_integer", "Invalid integer"), false, "parameter_invalid_integer", nil},
		{"the out_trade_no was used with other parameters: a different order", 400, stripeError("idempotency_error", "", "Keys for idempotent requests can only be used with the same parameters"), false, "idempotency_error", nil},
		{"a conflicting request is an idempotency conflict", 409, stripeError("invalid_request_error", "resource_already_exists", "conflict"), false, "resource_already_exists", nil},
		{"a request with the same key still running: Stripe says try later", 409, stripeError("invalid_request_error", "idempotency_key_in_use", "in use"), true, "idempotency_key_in_use", nil},
		{"throttling passes", 429, stripeError("invalid_request_error", "rate_limit", "Too many requests"), true, "rate_limit", nil},
		{"Stripe's own failures pass", 500, stripeError("api_error", "", "Something went wrong"), true, "api_error", nil},
		{"an unavailable Stripe passes", 503, stripeError("api_error", "", "unavailable"), true, "api_error", nil},
		{"a wrong key needs a person and marks the credentials", 401, stripeError("invalid_request_error", "", "Invalid API Key provided: sk_test_***123"), false, "invalid_request_error", providers.ErrCredentials},
		{"a key without the permission needs a person", 403, stripeError("invalid_request_error", "secret_key_required", "restricted"), false, "secret_key_required", providers.ErrCredentials},
		{"a proxy's HTML error page is not Stripe's answer: ask again", 502, "<html>Bad Gateway</html>", true, "network", nil},
	}
	now := time.Unix(1_900_000_000, 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, "")
			rec.answer("POST", "/v1/checkout/sessions", tt.status, tt.body)
			_, err := newClient(t, rec.URL, now).Create(t.Context(), testOrder("order-errors", now))
			if err == nil {
				t.Fatal("Create succeeded")
			}
			if providers.IsRetryable(err) != tt.retryable || providers.Code(err) != tt.code {
				t.Errorf("error %v: retryable %v code %q, want %v %q", err, providers.IsRetryable(err), providers.Code(err), tt.retryable, tt.code)
			}
			if tt.wraps != nil && !errors.Is(err, tt.wraps) {
				t.Errorf("error %v does not wrap %v", err, tt.wraps)
			}
			if !strings.Contains(err.Error(), "order-errors") {
				t.Errorf("error %q does not say which order", err)
			}
		})
	}
}

// TestUnreachableStripeIsRetryable: the create may or may not have happened; the same key
// settles it on the next try.
func TestUnreachableStripeIsRetryable(t *testing.T) {
	srv := httptest.NewServer(nil)
	url := srv.URL
	srv.Close()
	now := time.Unix(1_900_000_000, 0)
	_, err := newClient(t, url, now).Create(t.Context(), testOrder("order-down", now))
	if err == nil || !providers.IsRetryable(err) || providers.Code(err) != "network" {
		t.Fatalf("Create = %v, want a retryable network error", err)
	}
}
