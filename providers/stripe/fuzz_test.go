package stripe_test

import (
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/stripe"
)

// fuzzSecrets are the fuzz client's webhookSecret and webhookSecretNext; the second is the
// genuine vector's, so the committed corpus starts from a Stripe-signed event.
var fuzzSecrets = []string{testSecret, "webhook_secret"}

// fuzzNow is 100 s after the genuine vector was signed.
var fuzzNow = time.Unix(vectorTime+100, 0)

// FuzzParseNotification: whatever the body and header, ParseNotification must not panic, and
// anything it accepts must carry a v1 signature that stripe-go's own ComputeSignature reproduces
// with one of the secrets, at a time within the tolerance. With sign set the body is signed as
// Stripe would, so the fuzzer also explores the event parser behind the signature check.
func FuzzParseNotification(f *testing.F) {
	p, err := stripe.New(providers.Config{
		Namespace: testNS, Name: testProvider,
		Secret: map[string][]byte{stripe.SecretAPIKey: []byte(testAPIKey), stripe.SecretWebhookSecret: []byte(fuzzSecrets[0]), stripe.SecretWebhookSecretNext: []byte(fuzzSecrets[1])},
		Now:    func() time.Time { return fuzzNow },
	})
	if err != nil {
		f.Fatal(err)
	}
	c := p.(*stripe.Client)
	f.Add(paidEvent("evt_seed", "cs_test_seed", "order-seed", 1250, fuzzNow).JSON(), "", true)
	f.Add(refundEvent{ID: "evt_seed_r", Type: stripe.EventRefundUpdated, Created: fuzzNow.Unix(), RefundID: "re_test_seed", Amount: 400, Currency: "usd",
		Status: "succeeded", OutRefundNo: "refund-seed", OutTradeNo: "order-seed", PaymentIntent: "pi_test_seed"}.JSON(), "", true)
	f.Fuzz(func(t *testing.T, body []byte, header string, sign bool) {
		if sign {
			header = webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: fuzzSecrets[0], Timestamp: fuzzNow}).Header
		}
		n, err := c.ParseNotification(t.Context(), notifyRequest(body, header), body)
		if err != nil {
			return
		}
		if !validlySigned(body, header) {
			t.Fatalf("accepted a notification that is not validly signed: header %q", header)
		}
		if n.ID == "" || n.Type == "" {
			t.Fatalf("accepted a notification without id or type: %+v", n)
		}
		if n.Status != "" && (n.AmountMinor <= 0 || n.OutTradeNo == "" || !strings.HasPrefix(n.ProviderPaymentID, "cs_") || len(n.Currency) != 3) {
			t.Fatalf("a notification kubepay acts on lacks what the order is checked against: %+v", n)
		}
		if n.Refund != nil && (n.Status != "" || n.Refund.OutRefundNo == "" || n.Refund.AmountMinor <= 0 || len(n.Refund.Currency) != 3 || n.Refund.Status == "") {
			t.Fatalf("a refund fact is a payment status or lacks what the refund is checked against: %+v %+v", n, *n.Refund)
		}
	})
}

// validlySigned is an independent check: t within 300 s of fuzzNow, and a v1 equal to
// stripe-go's signature of the body at t with one of the secrets.
func validlySigned(body []byte, header string) bool {
	var t int64 = -1
	var v1 []string
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return false
			}
			t = ts
		case "v1":
			v1 = append(v1, v)
		}
	}
	if t < 0 || t < fuzzNow.Unix()-300 || t > fuzzNow.Unix()+300 {
		return false
	}
	for _, secret := range fuzzSecrets {
		want := hex.EncodeToString(webhook.ComputeSignature(time.Unix(t, 0), body, secret))
		for _, sig := range v1 {
			if strings.EqualFold(sig, want) {
				return true
			}
		}
	}
	return false
}
