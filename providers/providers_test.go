package providers

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestIsRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"no error is nothing to retry", nil, false},
		{"a classified retryable error (network, 5xx, 429)", Retryable("create", "503", errors.New("unavailable")), true},
		{"a classified terminal error (invalid request, idempotency conflict)", Terminal("create", "idempotency_conflict", errors.New("409")), false},
		{"classification survives wrapping", fmt.Errorf("order x: %w", Terminal("query", "400", errors.New("bad"))), false},
		{"bad credentials will not fix themselves by retrying", fmt.Errorf("%w: no apiKey", ErrCredentials), false},
		{"an unclassified error is retried: when in doubt about money, ask again", errors.New("surprise"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsRetryable(tt.err); got != tt.want {
				t.Fatalf("IsRetryable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
	if c := Code(fmt.Errorf("wrapped: %w", Terminal("create", "idempotency_conflict", errors.New("409")))); c != "idempotency_conflict" {
		t.Fatalf("Code = %q, want the provider's code through wrapping", c)
	}
}

func TestAcknowledge(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantBody   string
	}{
		{"recorded: the provider's success answer", nil, http.StatusOK, "success"},
		{"a forged notification will never verify: 400", fmt.Errorf("%w: bad sig", ErrSignature), http.StatusBadRequest, "fail"},
		{"a malformed one will never parse: 400", fmt.Errorf("%w: bad json", ErrMalformed), http.StatusBadRequest, "fail"},
		{"our own failure (API server down): 500, so the provider retries", errors.New("secret detail"), http.StatusInternalServerError, "fail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			Acknowledge(w, tt.err, "text/plain", "success", "fail")
			if w.Code != tt.wantStatus || w.Body.String() != tt.wantBody {
				t.Fatalf("answered %d %q, want %d %q", w.Code, w.Body.String(), tt.wantStatus, tt.wantBody)
			}
			if strings.Contains(w.Body.String(), "secret detail") || w.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("answer leaks the error or is cacheable: %q, headers %v", w.Body.String(), w.Header())
			}
		})
	}
}

func TestNewUnknownTypeNamesTheProvider(t *testing.T) {
	_, err := New("paypal", Config{Namespace: "shop", Name: "pp"})
	if !errors.Is(err, ErrCredentials) || !strings.Contains(err.Error(), "shop/pp") || !strings.Contains(err.Error(), "paypal") {
		t.Fatalf("New(unknown type) = %v; want an ErrCredentials error naming the PaymentProvider and the type", err)
	}
}

func TestSecretValueNamesKeyNotValue(t *testing.T) {
	cfg := Config{Namespace: "shop", Name: "pp", Secret: map[string][]byte{"apiKey": []byte("sk_live_secret")}}
	if v, err := cfg.SecretValue("apiKey"); err != nil || string(v) != "sk_live_secret" {
		t.Fatalf("SecretValue(apiKey) = %q, %v", v, err)
	}
	_, err := cfg.SecretValue("publicKey")
	if !errors.Is(err, ErrCredentials) || !strings.Contains(err.Error(), `"publicKey"`) || strings.Contains(err.Error(), "sk_live_secret") {
		t.Fatalf("missing key error %v: want ErrCredentials naming the key and never a value", err)
	}
}
