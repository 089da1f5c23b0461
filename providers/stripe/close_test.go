package stripe_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers"
)

// TestCloseExpiresAnOpenSession runs against stripe-mock: read the session, then expire it.
func TestCloseExpiresAnOpenSession(t *testing.T) {
	rec := newRecorder(t, stripeMockURL(t))
	if err := newClient(t, rec.URL, time.Now()).Close(t.Context(), "", "cs_test_close1"); err != nil {
		t.Fatal(err)
	}
	want := []string{"GET /v1/checkout/sessions/cs_test_close1", "POST /v1/checkout/sessions/cs_test_close1/expire"}
	if got := rec.all(); !slices.Equal(got, want) {
		t.Errorf("requests %v, want %v", got, want)
	}
}

// TestCloseByState: Stripe expires only open sessions; the others answer from their state.
func TestCloseByState(t *testing.T) {
	const id, otn = "cs_test_closing", "order-close-1"
	const get, expire = "GET /v1/checkout/sessions/" + id, "POST /v1/checkout/sessions/" + id + "/expire"
	tests := []struct {
		name      string
		reads     []canned
		expire    *canned
		wantErr   error // nil: success
		wantCalls []string
	}{
		{"a paid session cannot be closed", []canned{{200, sessionJSON(id, otn, "complete", "paid", 1250, "usd")}}, nil, providers.ErrAlreadyPaid, []string{get}},
		{"a complete session with its payment processing is not unpaid", []canned{{200, sessionJSON(id, otn, "complete", "unpaid", 1250, "usd")}}, nil, providers.ErrAlreadyPaid, []string{get}},
		{"an expired session is closed already", []canned{{200, sessionJSON(id, otn, "expired", "unpaid", 1250, "usd")}}, nil, nil, []string{get}},
		{"no such session is ErrNotFound", []canned{{404, stripeError("invalid_request_error", "resource_missing", "No such checkout.session")}}, nil, providers.ErrNotFound, []string{get}},
		{"paid between the read and the expire: the refusal is re-read and reported as paid",
			[]canned{{200, sessionJSON(id, otn, "open", "unpaid", 1250, "usd")}, {200, sessionJSON(id, otn, "complete", "paid", 1250, "usd")}},
			&canned{400, stripeError("invalid_request_error", "", "Only Checkout Sessions with a status of open can be expired")}, providers.ErrAlreadyPaid, []string{get, expire, get}},
		{"expired by Stripe between the read and the expire: closed",
			[]canned{{200, sessionJSON(id, otn, "open", "unpaid", 1250, "usd")}, {200, sessionJSON(id, otn, "expired", "unpaid", 1250, "usd")}},
			&canned{400, stripeError("invalid_request_error", "", "Only Checkout Sessions with a status of open can be expired")}, nil, []string{get, expire, get}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, "")
			rec.answers("GET", "/v1/checkout/sessions/"+id, tt.reads...)
			if tt.expire != nil {
				rec.answer("POST", "/v1/checkout/sessions/"+id+"/expire", tt.expire.status, tt.expire.body)
			}
			err := newClient(t, rec.URL, time.Now()).Close(t.Context(), otn, id)
			if (tt.wantErr == nil) != (err == nil) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Errorf("Close = %v, want %v", err, tt.wantErr)
			}
			if got := rec.all(); !slices.Equal(got, tt.wantCalls) {
				t.Errorf("requests %v, want %v", got, tt.wantCalls)
			}
		})
	}
}

// TestCloseWithoutIDAndNothingToReplay: a session that cannot be found was never shown to anyone.
func TestCloseWithoutIDAndNothingToReplay(t *testing.T) {
	rec := newRecorder(t, "")
	if err := newClient(t, rec.URL, time.Now()).Close(t.Context(), "order-unknown", ""); !errors.Is(err, providers.ErrNotFound) {
		t.Fatalf("Close = %v, want ErrNotFound", err)
	}
}
