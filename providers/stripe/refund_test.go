package stripe_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/stripe"
)

// testRefund is a refund of 4.00 of the paid order-refund-1, whose PaymentIntent is known.
func testRefund() providers.RefundRequest {
	return providers.RefundRequest{
		OutTradeNo: "order-refund-1", ProviderPaymentID: "cs_test_refund1", TransactionID: "pi_test_refund1",
		OutRefundNo: "refund-1", AmountMinor: 400, Amount: "4.00", TotalMinor: 1250, Currency: "USD", Reason: "requested_by_customer",
	}
}

// refundJSON is a Stripe refund answer, with kubepay's metadata unless meta is false.
func refundJSON(id, status, failure string, amount int64, currency, outRefundNo string, meta bool) string {
	m := `{}`
	if meta {
		m = fmt.Sprintf(`{%q:%q,%q:%q,%q:%q,%q:"order-refund-1"}`, stripe.MetadataOutRefundNo, outRefundNo, stripe.MetadataNamespace, testNS, stripe.MetadataProvider, testProvider, stripe.MetadataOutTradeNo)
	}
	f := "null"
	if failure != "" {
		f = fmt.Sprintf("%q", failure)
	}
	return fmt.Sprintf(`{"id":%q,"object":"refund","amount":%d,"currency":%q,"status":%q,"failure_reason":%s,"payment_intent":"pi_test_refund1","metadata":%s,"created":1900000000}`, id, amount, currency, status, f, m)
}

// TestRefundCreatesOnThePaymentIntent refunds at stripe-mock (which validates the request
// against Stripe's OpenAPI spec) and checks what was sent.
func TestRefundCreatesOnThePaymentIntent(t *testing.T) {
	tests := []struct {
		name       string
		edit       func(*providers.RefundRequest)
		wantReason string // Stripe's reason parameter, "" for none
		wantAmount string
		wantText   string // metadata[kubepay.io/refund_reason]
	}{
		{"a reason in Stripe's enum is sent as Stripe's reason", nil, "requested_by_customer", "400", "requested_by_customer"},
		{"duplicate is in Stripe's enum", func(r *providers.RefundRequest) { r.Reason = "duplicate" }, "duplicate", "400", "duplicate"},
		{"fraudulent is in Stripe's enum", func(r *providers.RefundRequest) { r.Reason = "fraudulent" }, "fraudulent", "400", "fraudulent"},
		{"free text would be refused by Stripe: metadata only", func(r *providers.RefundRequest) { r.Reason = "the cup was cracked" }, "", "400", "the cup was cracked"},
		{"no reason sends none", func(r *providers.RefundRequest) { r.Reason = "" }, "", "400", ""},
		{"ISK is two-decimal in Stripe's API: kubepay's 5 krónur are 500", func(r *providers.RefundRequest) { r.AmountMinor, r.Currency = 5, "ISK" }, "requested_by_customer", "500", "requested_by_customer"},
	}
	now := time.Unix(1_900_000_000, 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, stripeMockURL(t))
			req := testRefund()
			if tt.edit != nil {
				tt.edit(&req)
			}
			r, err := newClient(t, rec.URL, now).Refund(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			// stripe-mock answers its fixture's currency (usd) whatever the PaymentIntent's, so
			// only the names are compared here; TestRefundStatuses checks the amounts read back.
			if !strings.HasPrefix(r.ID, "re_") || r.OutRefundNo != req.OutRefundNo || r.OutTradeNo != req.OutTradeNo {
				t.Errorf("refund %+v: want a re_ refund named by the request", r)
			}
			reqs := rec.requests("POST", "/v1/refunds")
			if len(reqs) != 1 {
				t.Fatalf("requests %v: want one refund create and nothing else (the PaymentIntent is known)", rec.all())
			}
			got := reqs[0]
			if k := got.Header.Get("Idempotency-Key"); k != req.OutRefundNo {
				t.Errorf("Idempotency-Key %q, want the out_refund_no %q", k, req.OutRefundNo)
			}
			want := map[string]string{
				"payment_intent":                     "pi_test_refund1",
				"amount":                             tt.wantAmount,
				"reason":                             tt.wantReason,
				"metadata[kubepay.io/out_refund_no]": req.OutRefundNo,
				"metadata[kubepay.io/out_trade_no]":  req.OutTradeNo,
				"metadata[kubepay.io/namespace]":     testNS,
				"metadata[kubepay.io/provider]":      testProvider,
				"metadata[kubepay.io/refund_reason]": tt.wantText,
			}
			for k, v := range want {
				if g := got.Form.Get(k); g != v {
					t.Errorf("form %s = %q, want %q", k, g, v)
				}
			}
		})
	}
}

// TestRefundRepeatIsIdentical: Stripe replays a key only for identical parameters, so a refund
// repeated after a crash, even by another process that must first find the PaymentIntent,
// sends the same bytes.
func TestRefundRepeatIsIdentical(t *testing.T) {
	rec := newRecorder(t, stripeMockURL(t))
	now := time.Unix(1_900_000_000, 0)
	req := testRefund()
	if _, err := newClient(t, rec.URL, now).Refund(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	// Another process, without the transaction id: the session tells the PaymentIntent.
	rec.answer("GET", "/v1/checkout/sessions/cs_test_refund1", 200, strings.Replace(sessionJSON("cs_test_refund1", "order-refund-1", "complete", "paid", 1250, "usd"), `"mode"`, `"payment_intent":"pi_test_refund1","mode"`, 1))
	req.TransactionID = ""
	if _, err := newClient(t, rec.URL, now.Add(time.Hour)).Refund(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests("POST", "/v1/refunds")
	if len(reqs) != 2 || string(reqs[0].Body) != string(reqs[1].Body) || reqs[1].Header.Get("Idempotency-Key") != "refund-1" {
		t.Fatalf("requests %v: want the same refund create twice, byte for byte", rec.all())
	}
}

// TestRefundStatuses: Stripe's five refund statuses in kubepay's three.
func TestRefundStatuses(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		failure string
		want    providers.RefundStatus
		reason  string
	}{
		{"pending: the result comes later", "pending", "", providers.RefundProcessing, ""},
		{"requires_action waits for the customer's bank details: still processing", "requires_action", "", providers.RefundProcessing, ""},
		{"succeeded: the money went back", "succeeded", "", providers.RefundSucceeded, ""},
		{"failed carries Stripe's failure_reason", "failed", "lost_or_stolen_card", providers.RefundFailed, "Stripe: lost_or_stolen_card"},
		{"canceled will not happen: failed", "canceled", "", providers.RefundFailed, "Stripe: canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, "")
			rec.answer("POST", "/v1/refunds", 200, refundJSON("re_test_s", tt.status, tt.failure, 400, "usd", "refund-1", true))
			r, err := newClient(t, rec.URL, time.Now()).Refund(t.Context(), testRefund())
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tt.want || r.FailureReason != tt.reason || r.AmountMinor != 400 || r.ID != "re_test_s" {
				t.Errorf("refund %+v: want %s (%q) of 400", r, tt.want, tt.reason)
			}
		})
	}
	t.Run("an unknown status is not guessed at", func(t *testing.T) {
		rec := newRecorder(t, "")
		rec.answer("POST", "/v1/refunds", 200, refundJSON("re_test_s", "mystery", "", 400, "usd", "refund-1", true))
		if _, err := newClient(t, rec.URL, time.Now()).Refund(t.Context(), testRefund()); !providers.IsRetryable(err) {
			t.Fatalf("Refund = %v, want a retryable bad_response", err)
		}
	})
	t.Run("another refund's answer is never this one's", func(t *testing.T) {
		rec := newRecorder(t, "")
		rec.answer("POST", "/v1/refunds", 200, refundJSON("re_test_s", "succeeded", "", 400, "usd", "refund-other", true))
		if _, err := newClient(t, rec.URL, time.Now()).Refund(t.Context(), testRefund()); err == nil || providers.IsRetryable(err) || providers.Code(err) != "mismatch" {
			t.Fatalf("Refund = %v, want a terminal mismatch", err)
		}
	})
}

// TestRefundRefusals: what each Stripe refusal means for the PaymentRefund.
func TestRefundRefusals(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		retryable bool
		code      string
		is        error
	}{
		{"a fully refunded charge: the refund exceeds the payment", 400, stripeError("invalid_request_error", "charge_already_refunded", "Charge ch_1 has already been refunded."), false, "charge_already_refunded", providers.ErrRefundExceedsPayment},
		{"an amount above what is left: the refund exceeds the payment", 400, stripeError("invalid_request_error", "amount_too_large", "too large"), false, "amount_too_large", providers.ErrRefundExceedsPayment},
		{"Stripe's uncoded refusal on the amount: the refund exceeds the payment", 400, `{"error":{"type":"invalid_request_error","param":"amount","message":"Refund amount ($20.00) is greater than unrefunded amount on charge ($10.00)"}}`, false, "invalid_request_error", providers.ErrRefundExceedsPayment},
		{"other invalid parameters stay invalid, but are no over-refund", 400, stripeError("invalid_request_error", "parameter_invalid_integer", "Invalid integer"), false, "parameter_invalid_integer", nil},
		{"the out_refund_no was used with other parameters", 400, stripeError("idempotency_error", "", "Keys for idempotent requests can only be used with the same parameters"), false, "idempotency_error", nil},
		{"a PaymentIntent Stripe does not have is ErrNotFound, from resource_missing", 404, stripeError("invalid_request_error", "resource_missing", "No such payment_intent"), false, "resource_missing", providers.ErrNotFound},
		{"a key without the refund permission needs a person", 403, stripeError("invalid_request_error", "", "restricted key"), false, "invalid_request_error", providers.ErrCredentials},
		{"Stripe's own failure passes", 500, stripeError("api_error", "", "boom"), true, "api_error", nil},
		{"throttling passes", 429, stripeError("invalid_request_error", "rate_limit", "slow down"), true, "rate_limit", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, "")
			rec.answer("POST", "/v1/refunds", tt.status, tt.body)
			_, err := newClient(t, rec.URL, time.Now()).Refund(t.Context(), testRefund())
			if err == nil || providers.IsRetryable(err) != tt.retryable || providers.Code(err) != tt.code || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Fatalf("Refund = %v (retryable %v, code %q); want retryable=%v code %q wrapping %v", err, providers.IsRetryable(err), providers.Code(err), tt.retryable, tt.code, tt.is)
			}
			if tt.is == nil && errors.Is(err, providers.ErrRefundExceedsPayment) {
				t.Errorf("Refund = %v: not an over-refund", err)
			}
			if !strings.Contains(err.Error(), "refund-1") {
				t.Errorf("error %q does not name the refund", err)
			}
		})
	}
}

// TestRefundRefusedBeforeAnyCall: requests Stripe could only refuse, or that could change a
// request path, send nothing.
func TestRefundRefusedBeforeAnyCall(t *testing.T) {
	tests := []struct {
		name string
		edit func(*providers.RefundRequest)
		code string
	}{
		{"no out_refund_no: nothing to key the refund on", func(r *providers.RefundRequest) { r.OutRefundNo = "" }, "invalid_argument"},
		{"a zero amount refunds nothing", func(r *providers.RefundRequest) { r.AmountMinor = 0 }, "invalid_argument"},
		{"no currency: the amount cannot be put in Stripe's units", func(r *providers.RefundRequest) { r.Currency = "" }, "invalid_argument"},
		{"an amount Stripe cannot express (KWD must end in 0)", func(r *providers.RefundRequest) { r.AmountMinor, r.Currency = 1001, "KWD" }, "invalid_argument"},
		{"a transaction id that is not a PaymentIntent", func(r *providers.RefundRequest) { r.TransactionID = "pi_../v1/customers" }, "invalid_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, "")
			req := testRefund()
			tt.edit(&req)
			_, err := newClient(t, rec.URL, time.Now()).Refund(t.Context(), req)
			if err == nil || providers.IsRetryable(err) || providers.Code(err) != tt.code {
				t.Fatalf("Refund = %v; want a terminal %s", err, tt.code)
			}
			if n := len(rec.all()); n != 0 {
				t.Errorf("%d requests sent, want none", n)
			}
		})
	}
	t.Run("a session without a PaymentIntent was never paid", func(t *testing.T) {
		rec := newRecorder(t, "")
		rec.answer("GET", "/v1/checkout/sessions/cs_test_refund1", 200, sessionJSON("cs_test_refund1", "order-refund-1", "open", "unpaid", 1250, "usd"))
		req := testRefund()
		req.TransactionID = ""
		_, err := newClient(t, rec.URL, time.Now()).Refund(t.Context(), req)
		if err == nil || providers.IsRetryable(err) || providers.Code(err) != "payment_not_paid" {
			t.Fatalf("Refund = %v; want a terminal payment_not_paid", err)
		}
		if n := len(rec.requests("POST", "/v1/refunds")); n != 0 {
			t.Errorf("%d refund creates sent, want none", n)
		}
	})
}

// TestQueryRefund: by the id this process got, else among the PaymentIntent's refunds.
func TestQueryRefund(t *testing.T) {
	t.Run("after Refund, the refund is retrieved by its id", func(t *testing.T) {
		rec := newRecorder(t, "")
		rec.answer("POST", "/v1/refunds", 200, refundJSON("re_test_q1", "pending", "", 400, "usd", "refund-1", true))
		rec.answer("GET", "/v1/refunds/re_test_q1", 200, refundJSON("re_test_q1", "succeeded", "", 400, "usd", "refund-1", true))
		c := newClient(t, rec.URL, time.Now())
		if _, err := c.Refund(t.Context(), testRefund()); err != nil {
			t.Fatal(err)
		}
		r, err := c.QueryRefund(t.Context(), testRefund())
		if err != nil || r.Status != providers.RefundSucceeded || r.ID != "re_test_q1" {
			t.Fatalf("QueryRefund = %+v, %v; want re_test_q1 succeeded", r, err)
		}
	})
	list := func(refunds ...string) string {
		return `{"object":"list","url":"/v1/refunds","has_more":false,"data":[` + strings.Join(refunds, ",") + `]}`
	}
	tests := []struct {
		name    string
		list    string
		wantID  string
		wantErr error
	}{
		{"found among the PaymentIntent's refunds by the out_refund_no in its metadata", list(refundJSON("re_test_other", "succeeded", "", 100, "usd", "refund-0", true), refundJSON("re_test_mine", "pending", "", 400, "usd", "refund-1", true)), "re_test_mine", nil},
		{"a refund without kubepay's metadata is not this one", list(refundJSON("re_test_dash", "succeeded", "", 400, "usd", "", false)), "", providers.ErrNotFound},
		{"no refunds at all is Stripe's own answer: ErrNotFound", list(), "", providers.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, "")
			rec.answer("GET", "/v1/refunds", 200, tt.list)
			r, err := newClient(t, rec.URL, time.Now()).QueryRefund(t.Context(), testRefund())
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || providers.IsRetryable(err) {
					t.Fatalf("QueryRefund = %+v, %v; want a terminal %v", r, err, tt.wantErr)
				}
			} else if err != nil || r.ID != tt.wantID {
				t.Fatalf("QueryRefund = %+v, %v; want %s", r, err, tt.wantID)
			}
			reqs := rec.requests("GET", "/v1/refunds")
			if len(reqs) != 1 || reqs[0].Form.Get("payment_intent") != "pi_test_refund1" {
				t.Errorf("requests %v: want one list of PaymentIntent pi_test_refund1's refunds", rec.all())
			}
		})
	}
	t.Run("against stripe-mock, whose refunds carry no metadata: not found", func(t *testing.T) {
		rec := newRecorder(t, stripeMockURL(t))
		if _, err := newClient(t, rec.URL, time.Now()).QueryRefund(t.Context(), testRefund()); !errors.Is(err, providers.ErrNotFound) {
			t.Fatalf("QueryRefund = %v; want ErrNotFound", err)
		}
	})
}

// TestVerify: the cheapest authenticated call answers whether Stripe accepts the key.
func TestVerify(t *testing.T) {
	t.Run("stripe-mock answers a session for any id: the key was accepted", func(t *testing.T) {
		rec := newRecorder(t, stripeMockURL(t))
		if err := newClient(t, rec.URL, time.Now()).Verify(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := rec.all(); len(got) != 1 || got[0] != "GET /v1/checkout/sessions/"+stripe.VerifySessionID {
			t.Errorf("requests %v: want one retrieve of %s", got, stripe.VerifySessionID)
		}
	})
	tests := []struct {
		name        string
		status      int
		body        string
		ok          bool
		credentials bool
	}{
		{"resource_missing is Stripe's answer with the key accepted", 404, stripeError("invalid_request_error", "resource_missing", "No such checkout.session"), true, false},
		{"a wrong key is refused", 401, stripeError("invalid_request_error", "", "Invalid API Key provided: sk_test_***123"), false, true},
		{"a restricted key without Checkout read is refused", 403, stripeError("invalid_request_error", "", "restricted"), false, true},
		{"Stripe down says nothing about the key", 500, stripeError("api_error", "", "boom"), false, false},
		{"a 400 says nothing about the key either", 400, stripeError("invalid_request_error", "parameter_unknown", "?"), false, false},
		{"a proxy's 404 says nothing about the key", 404, "404 page not found", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, "")
			rec.answer("GET", "/v1/checkout/sessions/"+stripe.VerifySessionID, tt.status, tt.body)
			err := newClient(t, rec.URL, time.Now()).Verify(t.Context())
			switch {
			case tt.ok:
				if err != nil {
					t.Fatal(err)
				}
			case tt.credentials:
				if !errors.Is(err, providers.ErrCredentials) || providers.IsRetryable(err) {
					t.Fatalf("Verify = %v; want a terminal ErrCredentials", err)
				}
			default:
				if !providers.IsRetryable(err) || errors.Is(err, providers.ErrCredentials) {
					t.Fatalf("Verify = %v; want retryable, not blaming the key", err)
				}
			}
		})
	}
}

// TestQueryReportsTransactionAndExpiry: a completed session's PaymentIntent is the transaction
// id refunds name, and Stripe's expires_at is the payment's expiry.
func TestQueryReportsTransactionAndExpiry(t *testing.T) {
	const id, otn = "cs_test_tx", "order-tx"
	with := func(status, paymentStatus string) string {
		return strings.Replace(sessionJSON(id, otn, status, paymentStatus, 1250, "usd"), `"mode"`, `"payment_intent":"pi_test_tx","expires_at":1900003600,"mode"`, 1)
	}
	tests := []struct {
		name   string
		body   string
		wantTx string
	}{
		{"a paid session names its PaymentIntent", with("complete", "paid"), "pi_test_tx"},
		{"a complete session with its payment processing names it too", with("complete", "unpaid"), "pi_test_tx"},
		{"an open session has moved no money yet", with("open", "unpaid"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, "")
			rec.answer("GET", "/v1/checkout/sessions/"+id, 200, tt.body)
			p, err := newClient(t, rec.URL, time.Now()).Query(t.Context(), otn, id)
			if err != nil {
				t.Fatal(err)
			}
			if p.TransactionID != tt.wantTx || !p.ExpiresAt.Equal(time.Unix(1900003600, 0)) {
				t.Errorf("payment %+v: want TransactionID %q and ExpiresAt %v", p, tt.wantTx, time.Unix(1900003600, 0).UTC())
			}
		})
	}
}
