package stripe_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/kubepay/kubepay/providers"
)

// TestSignature: events signed with stripe-go's own test helper, checked against an injected clock.
func TestSignature(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	body := paidEvent("evt_sig", "cs_test_sig", "order-sig", 1250, now).JSON()
	good := sign(body, testSecret, now)
	v1 := good[strings.Index(good, "v1="):]
	tests := []struct {
		name   string
		header string
		ok     bool
	}{
		{"signed with webhookSecret", good, true},
		{"signed with webhookSecretNext, during a rotation", sign(body, testNext, now), true},
		{"Stripe signs with the old and new secret while rolling: one v1 matching is enough", sign(body, "whsec_retired", now) + "," + v1, true},
		{"exactly 300 s old is inside the window", sign(body, testSecret, now.Add(-300*time.Second)), true},
		{"301 s old is a replay", sign(body, testSecret, now.Add(-301*time.Second)), false},
		{"301 s in the future is refused too", sign(body, testSecret, now.Add(301*time.Second)), false},
		{"signed with another endpoint's secret", sign(body, "whsec_other", now), false},
		{"no header", "", false},
		{"a v0 signature is not accepted", webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: testSecret, Timestamp: now, Scheme: "v0"}).Header, false},
		{"a timestamp with leading zeros signs other bytes than Stripe's", strings.Replace(good, "t=", "t=0", 1), false},
		{"a negative timestamp", strings.Replace(good, "t=", "t=-", 1), false},
		{"two timestamps", "t=1," + good, false},
		{"no timestamp", v1, false},
		{"an element that is not key=value", good + ",garbage", false},
		{"a v1 of the wrong length never matches", fmt.Sprintf("t=%d,v1=abcd", now.Unix()), false},
		{"too many signatures are refused before any HMAC", fmt.Sprintf("t=%d", now.Unix()) + strings.Repeat(","+v1, 9), false},
		{"an over-long header is refused unread", fmt.Sprintf("t=%d,v0=%s,", now.Unix(), strings.Repeat("a", 5000)) + v1, false},
	}
	c := newClient(t, "", now)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := c.ParseNotification(t.Context(), notifyRequest(body, tt.header), body)
			if tt.ok {
				if err != nil || n.ID != "evt_sig" {
					t.Fatalf("ParseNotification = %+v, %v; want accepted", n, err)
				}
				return
			}
			if !errors.Is(err, providers.ErrSignature) {
				t.Fatalf("ParseNotification = %+v, %v; want ErrSignature", n, err)
			}
			if strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), testNext) {
				t.Errorf("error %q leaks a secret", err)
			}
		})
	}
}

// TestSignatureCoversTheRawBody: the same JSON re-serialised (here, with a space) is other bytes.
func TestSignatureCoversTheRawBody(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	body := paidEvent("evt_raw", "cs_test_raw", "order-raw", 1250, now).JSON()
	header := sign(body, testSecret, now)
	spaced := []byte(strings.Replace(string(body), `"id":"evt_raw"`, `"id": "evt_raw"`, 1))
	if _, err := newClient(t, "", now).ParseNotification(t.Context(), notifyRequest(spaced, header), spaced); !errors.Is(err, providers.ErrSignature) {
		t.Fatalf("ParseNotification = %v, want ErrSignature", err)
	}
}
