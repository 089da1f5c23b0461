package sandbox_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/sandbox"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
	"github.com/kubepay/kubepay/providers/sandbox/gatewaytest"
)

// fixedNow is the receiver's clock in signature tests.
var fixedNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

var (
	otherKeyOnce sync.Once
	otherKey     *rsa.PrivateKey
)

// wrongKey is a valid key that is not the gateway's.
func wrongKey() *rsa.PrivateKey {
	otherKeyOnce.Do(func() {
		var err error
		if otherKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return otherKey
}

// verifier is a client trusting gatewaytest.SigningKey, with the clock at fixedNow.
func verifier(t testing.TB) providers.Provider {
	t.Helper()
	p, err := sandbox.New(providers.Config{
		Namespace: "shop", Name: "sandbox", Endpoint: "http://gateway.invalid", Now: func() time.Time { return fixedNow },
		Secret: map[string][]byte{"apiKey": []byte("k"), "publicKey": publicPEM(t, &gatewaytest.SigningKey().PublicKey)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func eventBody(typ, status string) []byte {
	return []byte(fmt.Sprintf(`{"id":"evt_1","type":%q,"created":%d,"data":{"id":"pay_1","out_trade_no":"otn-1","status":%q,"amount":1050,"currency":"USD","subject":"Green tea","payment_url":"http://gw/checkout/pay_1","created_at":"2026-03-14T15:00:00Z"}}`, typ, fixedNow.Unix(), status))
}

func request(header string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/notify", nil)
	if header != "" {
		r.Header.Set(sandbox.SignatureHeader, header)
	}
	return r
}

func TestParseNotificationVerifiesTheSignature(t *testing.T) {
	t.Parallel()
	p := verifier(t)
	key := gatewaytest.SigningKey()
	body := eventBody("payment.succeeded", "succeeded")
	valid := gateway.SignPayload(key, fixedNow, body)
	ts := strconv.FormatInt(fixedNow.Unix(), 10)
	_, v1, _ := strings.Cut(valid, ",v1=")
	tests := []struct {
		name   string
		header string
		body   []byte
		ok     bool
	}{
		{"a signature by the gateway key over the exact body verifies", valid, body, true},
		{"t at the edge of the window in the past still verifies", gateway.SignPayload(key, fixedNow.Add(-300*time.Second), body), body, true},
		{"t at the edge of the window in the future still verifies", gateway.SignPayload(key, fixedNow.Add(300*time.Second), body), body, true},
		{"spaces after commas are tolerated", "t=" + ts + ", v1=" + v1, body, true},
		{"a second, valid v1 lets the gateway roll its key", "t=" + ts + ",v1=" + b64("junk") + ",v1=" + v1, body, true},
		{"unknown schemes are ignored, as Stripe's v0", "t=" + ts + ",v0=whatever,v1=" + v1, body, true},
		{"a tampered body fails: the signature covers every byte", valid, []byte(strings.Replace(string(body), "1050", "1", 1)), false},
		{"a trailing newline added to the body fails", valid, append(append([]byte(nil), body...), '\n'), false},
		{"a signature by another key fails", gateway.SignPayload(wrongKey(), fixedNow, body), body, false},
		{"no header at all fails", "", body, false},
		{"a stale t (now-301s) fails even with a valid signature: replay", gateway.SignPayload(key, fixedNow.Add(-301*time.Second), body), body, false},
		{"a future t (now+301s) fails even with a valid signature", gateway.SignPayload(key, fixedNow.Add(301*time.Second), body), body, false},
		{"t moved after signing fails: t is signed", "t=" + strconv.FormatInt(fixedNow.Unix()+1, 10) + ",v1=" + v1, body, false},
		{"a leading zero in t changes the signed bytes", "t=0" + ts + ",v1=" + v1, body, false},
		{"a header that is not key=value pairs fails", "garbage", body, false},
		{"a missing v1 fails", "t=" + ts, body, false},
		{"an empty v1 fails", "t=" + ts + ",v1=", body, false},
		{"a missing t fails", "v1=" + v1, body, false},
		{"a non-integer t fails", "t=soon,v1=" + v1, body, false},
		{"a signed t fails", "t=+" + ts + ",v1=" + v1, body, false},
		{"a negative t fails", "t=-" + ts + ",v1=" + v1, body, false},
		{"an overflowing t fails", "t=99999999999999999999,v1=" + v1, body, false},
		{"two t values are ambiguous and fail", "t=" + ts + ",t=" + ts + ",v1=" + v1, body, false},
		{"an empty element fails", "t=" + ts + ",,v1=" + v1, body, false},
		{"bad base64 in v1 fails", "t=" + ts + ",v1=!!not-base64!!", body, false},
		{"URL-safe base64 is not the standard alphabet", "t=" + ts + ",v1=" + strings.NewReplacer("+", "-", "/", "_").Replace(v1), body, !strings.ContainsAny(v1, "+/")},
		{"a truncated signature fails", "t=" + ts + ",v1=" + v1[:len(v1)-8], body, false},
		{"too many v1 values are refused before any RSA work", "t=" + ts + strings.Repeat(",v1="+b64("x"), 5) + ",v1=" + v1, body, false},
		{"an oversized header is refused", "t=" + ts + ",v1=" + v1 + ",x=" + strings.Repeat("a", 5000), body, false},
		{"a bad signature over a malformed body is a signature error: nothing is parsed first", "t=" + ts + ",v1=" + b64("x"), []byte("{not json"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n, err := p.ParseNotification(context.Background(), request(tc.header), tc.body)
			if tc.ok {
				if err != nil {
					t.Fatalf("ParseNotification: %v", err)
				}
				if n.ID != "evt_1" {
					t.Errorf("notification %+v", n)
				}
				return
			}
			if !errors.Is(err, providers.ErrSignature) || errors.Is(err, providers.ErrMalformed) {
				t.Fatalf("ParseNotification: %v; want an error wrapping ErrSignature only", err)
			}
			if n != (providers.Notification{}) {
				t.Errorf("a rejected notification returned data %+v", n)
			}
			if strings.Contains(err.Error(), v1[:24]) {
				t.Errorf("error %q quotes the signature", err)
			}
		})
	}
	t.Run("a nil request has no header and fails", func(t *testing.T) {
		if _, err := p.ParseNotification(context.Background(), nil, body); !errors.Is(err, providers.ErrSignature) {
			t.Fatalf("nil request: %v", err)
		}
	})
}

func b64(s string) string { return encodeStd([]byte(s)) }

func TestParseNotificationFields(t *testing.T) {
	t.Parallel()
	p := verifier(t)
	tests := []struct {
		name      string
		body      []byte
		status    providers.PaymentStatus
		malformed bool
	}{
		{"payment.succeeded means paid", eventBody("payment.succeeded", "succeeded"), providers.StatusSucceeded, false},
		{"payment.failed means failed", eventBody("payment.failed", "failed"), providers.StatusFailed, false},
		{"payment.closed means closed unpaid", eventBody("payment.closed", "closed"), providers.StatusClosed, false},
		{"an unknown type is acknowledged and ignored", eventBody("payment.refunded", "refunded"), "", false},
		{"a verified body that is not JSON is malformed", []byte("not json"), "", true},
		{"an event without id is malformed", []byte(`{"type":"payment.succeeded","data":{}}`), "", true},
		{"a known event without its payment is malformed", []byte(`{"id":"evt_1","type":"payment.succeeded","created":1,"data":{}}`), "", true},
		{"a type contradicting the payment status is malformed", eventBody("payment.succeeded", "open"), "", true},
		{"a paid event without a positive amount is malformed", []byte(strings.Replace(string(eventBody("payment.succeeded", "succeeded")), `"amount":1050`, `"amount":0`, 1)), "", true},
		{"a paid event with a bad currency is malformed", []byte(strings.Replace(string(eventBody("payment.succeeded", "succeeded")), `"USD"`, `"usd"`, 1)), "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sig := gateway.SignPayload(gatewaytest.SigningKey(), fixedNow, tc.body)
			n, err := p.ParseNotification(context.Background(), request(sig), tc.body)
			if tc.malformed {
				if !errors.Is(err, providers.ErrMalformed) || errors.Is(err, providers.ErrSignature) {
					t.Fatalf("ParseNotification: %v; want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseNotification: %v", err)
			}
			if n.Status != tc.status || n.ID != "evt_1" || n.OutTradeNo != "otn-1" || n.ProviderPaymentID != "pay_1" ||
				n.AmountMinor != 1050 || n.Currency != "USD" || !n.OccurredAt.Equal(fixedNow) || n.MerchantID != "" {
				t.Errorf("notification %+v: want status %q for evt_1/pay_1/otn-1, 1050 USD at %v", n, tc.status, fixedNow)
			}
		})
	}
}

func TestAck(t *testing.T) {
	t.Parallel()
	p := verifier(t)
	tests := []struct {
		name   string
		err    error
		status int
		body   string
	}{
		{"success stops the gateway's retries", nil, 200, "success"},
		{"a bad signature will never verify: 400", fmt.Errorf("wrap: %w", providers.ErrSignature), 400, "fail"},
		{"a malformed notification will never parse: 400", fmt.Errorf("wrap: %w", providers.ErrMalformed), 400, "fail"},
		{"anything else is ours (status write failed): 500 so the gateway retries", errors.New("etcd timeout for secret sk_live_x"), 500, "fail"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			p.Ack(rec, tc.err)
			if rec.Code != tc.status || rec.Body.String() != tc.body || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
				t.Errorf("Ack: %d %q %q, want %d %q text/plain", rec.Code, rec.Body.String(), rec.Header().Get("Content-Type"), tc.status, tc.body)
			}
		})
	}
}

func refundEventBody(typ, status string) []byte {
	return []byte(fmt.Sprintf(`{"id":"evt_r1","type":%q,"created":%d,"data":{"id":"re_1","payment_id":"pay_1","out_trade_no":"otn-1","out_refund_no":"rf-1","amount":300,"currency":"USD","status":%q,"created_at":"2026-03-14T15:00:00Z","succeeded_at":"2026-03-14T15:05:00Z","failure_reason":"account closed"}}`, typ, fixedNow.Unix(), status))
}

func TestParseRefundNotification(t *testing.T) {
	t.Parallel()
	p := verifier(t)
	edit := func(b []byte, from, to string) []byte { return []byte(strings.Replace(string(b), from, to, 1)) }
	succeeded := refundEventBody("refund.succeeded", "succeeded")
	tests := []struct {
		name      string
		body      []byte
		want      providers.RefundStatus
		malformed bool
	}{
		{"refund.succeeded is a succeeded refund fact", succeeded, providers.RefundSucceeded, false},
		{"refund.failed is a failed refund fact with its reason", refundEventBody("refund.failed", "failed"), providers.RefundFailed, false},
		{"a type contradicting the refund status is malformed", refundEventBody("refund.succeeded", "failed"), "", true},
		{"a pending refund has no result to notify", refundEventBody("refund.succeeded", "pending"), "", true},
		{"a refund without out_refund_no cannot be matched to a PaymentRefund", edit(succeeded, `"out_refund_no":"rf-1"`, `"out_refund_no":""`), "", true},
		{"a refund without its payment cannot be matched to an order", edit(succeeded, `"payment_id":"pay_1"`, `"payment_id":""`), "", true},
		{"a refund without out_trade_no cannot be matched to an order", edit(succeeded, `"out_trade_no":"otn-1"`, `"out_trade_no":""`), "", true},
		{"a refund of nothing is malformed", edit(succeeded, `"amount":300`, `"amount":0`), "", true},
		{"a refund in no ISO currency is malformed", edit(succeeded, `"USD"`, `"usd"`), "", true},
		{"refund data that is not an object is malformed", []byte(fmt.Sprintf(`{"id":"evt_r1","type":"refund.succeeded","created":%d,"data":[1]}`, fixedNow.Unix())), "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n, err := p.ParseNotification(context.Background(), request(gateway.SignPayload(gatewaytest.SigningKey(), fixedNow, tc.body)), tc.body)
			if tc.malformed {
				if !errors.Is(err, providers.ErrMalformed) || errors.Is(err, providers.ErrSignature) {
					t.Fatalf("ParseNotification: %+v, %v; want ErrMalformed", n, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n.Status != "" || n.ID != "evt_r1" || n.OutTradeNo != "otn-1" || n.ProviderPaymentID != "pay_1" || n.TransactionID != "pay_1" || n.Currency != "USD" || n.Refund == nil {
				t.Fatalf("notification %+v: want a refund fact of pay_1/otn-1 and no payment status", n)
			}
			f := *n.Refund
			if f.Status != tc.want || f.OutRefundNo != "rf-1" || f.ProviderRefundID != "re_1" || f.AmountMinor != 300 || f.Currency != "USD" {
				t.Errorf("refund fact %+v, want %s of re_1/rf-1, 300 USD", f, tc.want)
			}
			if tc.want == providers.RefundSucceeded && (f.RefundedAt.IsZero() || f.FailureReason != "") || tc.want == providers.RefundFailed && (!f.RefundedAt.IsZero() || f.FailureReason != "account closed") {
				t.Errorf("refund fact %+v: a success has a time and no reason, a failure a reason and no time", f)
			}
		})
	}
	t.Run("a refund event signed by another key is refused before anything is read", func(t *testing.T) {
		_, err := p.ParseNotification(context.Background(), request(gateway.SignPayload(wrongKey(), fixedNow, succeeded)), succeeded)
		if !errors.Is(err, providers.ErrSignature) {
			t.Fatalf("forged refund event: %v, want ErrSignature", err)
		}
	})
	t.Run("a tampered refund amount is refused", func(t *testing.T) {
		sig := gateway.SignPayload(gatewaytest.SigningKey(), fixedNow, succeeded)
		_, err := p.ParseNotification(context.Background(), request(sig), edit(succeeded, `"amount":300`, `"amount":3000`))
		if !errors.Is(err, providers.ErrSignature) {
			t.Fatalf("tampered refund event: %v, want ErrSignature", err)
		}
	})
}

// TestPaidAtIsThePaymentsTime: the order's paidAt is when the payment succeeded, not when the
// gateway made the event (a clock read later, which can fall in the next second).
func TestPaidAtIsThePaymentsTime(t *testing.T) {
	t.Parallel()
	p := verifier(t)
	paidAt := fixedNow.Add(-time.Second)
	body := []byte(strings.Replace(string(eventBody("payment.succeeded", "succeeded")), `"currency":"USD"`,
		`"currency":"USD","paid_at":"`+paidAt.Format(time.RFC3339Nano)+`"`, 1))
	if !strings.Contains(string(body), "paid_at") {
		t.Fatalf("test body has no paid_at: %s", body)
	}
	n, err := p.ParseNotification(context.Background(), request(gateway.SignPayload(gatewaytest.SigningKey(), fixedNow, body)), body)
	if err != nil {
		t.Fatal(err)
	}
	if !n.OccurredAt.Equal(paidAt) {
		t.Errorf("OccurredAt %v, want the payment's paid_at %v (the event was created at %v)", n.OccurredAt, paidAt, fixedNow)
	}
}
