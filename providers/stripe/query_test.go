package stripe_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers"
)

// TestQueryRetrievesTheSession asks stripe-mock for a session by id.
func TestQueryRetrievesTheSession(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	rec := newRecorder(t, stripeMockURL(t))
	p, err := newClient(t, rec.URL, now).Query(t.Context(), "", "cs_test_query1")
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != "cs_test_query1" || p.Status != providers.StatusOpen {
		t.Errorf("payment %+v: want cs_test_query1, open (stripe-mock's canned session)", p)
	}
	if n := len(rec.requests("GET", "/v1/checkout/sessions/cs_test_query1")); n != 1 {
		t.Errorf("requests %v: want one GET of the session", rec.all())
	}
}

// TestQueryMapsSessionStates: only payment_status "paid" is a payment.
func TestQueryMapsSessionStates(t *testing.T) {
	const id, otn = "cs_test_states", "order-query-1"
	tests := []struct {
		name       string
		status     int
		body       string
		want       providers.PaymentStatus
		wantMinor  int64
		wantErr    error
		wantRetry  bool
		terminalOK bool
	}{
		{"a paid session is a succeeded payment with its amount", 200, sessionJSON(id, otn, "complete", "paid", 1250, "usd"), providers.StatusSucceeded, 1250, nil, false, false},
		{"an expired session can no longer be paid", 200, sessionJSON(id, otn, "expired", "unpaid", 1250, "usd"), providers.StatusClosed, 1250, nil, false, false},
		{"a complete but unpaid session waits for a delayed payment", 200, sessionJSON(id, otn, "complete", "unpaid", 1250, "usd"), providers.StatusOpen, 1250, nil, false, false},
		{"an open session waits for the customer", 200, sessionJSON(id, otn, "open", "unpaid", 1250, "usd"), providers.StatusOpen, 1250, nil, false, false},
		{"ISK amounts come back in kubepay's whole krónur", 200, sessionJSON(id, otn, "complete", "paid", 50000, "isk"), providers.StatusSucceeded, 500, nil, false, false},
		{"no such session is ErrNotFound", 404, stripeError("invalid_request_error", "resource_missing", "No such checkout.session"), "", 0, providers.ErrNotFound, false, true},
		{"a session of another out_trade_no is not this order's", 200, sessionJSON(id, "someone-else", "complete", "paid", 1250, "usd"), "", 0, nil, false, true},
	}
	now := time.Unix(1_900_000_000, 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, "")
			rec.answer("GET", "/v1/checkout/sessions/"+id, tt.status, tt.body)
			p, err := newClient(t, rec.URL, now).Query(t.Context(), otn, id)
			if tt.terminalOK {
				if err == nil || providers.IsRetryable(err) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
					t.Fatalf("Query = %+v, %v: want a terminal error wrapping %v", p, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Status != tt.want || p.AmountMinor != tt.wantMinor || p.OutTradeNo != otn || p.ID != id {
				t.Errorf("payment %+v: want status %q amount %d", p, tt.want, tt.wantMinor)
			}
		})
	}
}

// TestQueryRefusesForeignIDs: an id from a status field never reaches the request path.
func TestQueryRefusesForeignIDs(t *testing.T) {
	rec := newRecorder(t, "")
	for _, id := range []string{"../v1/customers", "cs_", "pi_123", "cs_a/b", "cs_a?x=1"} {
		if _, err := newClient(t, rec.URL, time.Now()).Query(t.Context(), "o", id); err == nil || providers.IsRetryable(err) {
			t.Errorf("Query(%q) = %v, want a terminal error", id, err)
		}
	}
	if n := len(rec.all()); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
}

// TestQueryWithoutIDReplaysTheCreate: when the create answer was lost, the same create with the
// same Idempotency-Key and identical parameters gets the session Stripe made the first time.
func TestQueryWithoutIDReplaysTheCreate(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	rec := newRecorder(t, stripeMockURL(t))
	c := newClient(t, rec.URL, now)
	order := testOrder("order-lost-answer", now)
	first, err := c.Create(t.Context(), order)
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Query(t.Context(), order.OutTradeNo, "")
	if err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests("POST", "/v1/checkout/sessions")
	if len(reqs) != 2 || !bytes.Equal(reqs[0].Body, reqs[1].Body) || reqs[1].Header.Get("Idempotency-Key") != order.OutTradeNo {
		t.Fatalf("requests %v: want the create sent again, byte for byte, with Idempotency-Key %s", rec.all(), order.OutTradeNo)
	}
	if !validPayment(p) || p.Status != first.Status {
		t.Errorf("query by replay answered %+v", p)
	}
}

// TestQueryWithoutIDAndNothingToReplay: another process made the create, so there is no way to
// look the session up; its URL never reached the order, so nobody can pay it.
func TestQueryWithoutIDAndNothingToReplay(t *testing.T) {
	rec := newRecorder(t, "")
	_, err := newClient(t, rec.URL, time.Now()).Query(t.Context(), "order-unknown", "")
	if !errors.Is(err, providers.ErrNotFound) || providers.IsRetryable(err) {
		t.Fatalf("Query = %v, want a terminal ErrNotFound", err)
	}
	if n := len(rec.all()); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
}

// TestQueryReplayRefusedMeansNoSession: Stripe answers a replayed key with the saved answer, so a
// refusal of the parameters means no create with them ever ran.
func TestQueryReplayRefusedMeansNoSession(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	rec := newRecorder(t, "")
	rec.answers("POST", "/v1/checkout/sessions",
		canned{500, stripeError("api_error", "", "lost")},
		canned{400, stripeError("invalid_request_error", "parameter_invalid_integer", "expires_at must be at least 30 minutes in the future")})
	c := newClient(t, rec.URL, now)
	order := testOrder("order-never-made", now)
	if _, err := c.Create(t.Context(), order); !providers.IsRetryable(err) {
		t.Fatalf("Create = %v, want the retryable 500", err)
	}
	if _, err := c.Query(t.Context(), order.OutTradeNo, ""); !errors.Is(err, providers.ErrNotFound) {
		t.Fatalf("Query = %v, want ErrNotFound", err)
	}
}

func validPayment(p providers.Payment) bool {
	return len(p.ID) > 3 && p.ID[:3] == "cs_" && p.PaymentURL != ""
}
