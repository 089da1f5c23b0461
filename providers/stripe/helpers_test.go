package stripe_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/stripe"
)

const (
	testAPIKey   = "sk_test_123"
	testSecret   = "whsec_test_current"
	testNext     = "whsec_test_next"
	testNS       = "shop"
	testProvider = "stripe"
)

// newClient builds a client for endpoint with a fixed clock.
func newClient(t testing.TB, endpoint string, now time.Time) *stripe.Client {
	t.Helper()
	p, err := stripe.New(providers.Config{
		Namespace: testNS, Name: testProvider, Endpoint: endpoint,
		Secret: map[string][]byte{stripe.SecretAPIKey: []byte(testAPIKey), stripe.SecretWebhookSecret: []byte(testSecret), stripe.SecretWebhookSecretNext: []byte(testNext)},
		Now:    func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return p.(*stripe.Client)
}

// testOrder is a valid card order expiring 30 minutes after now.
func testOrder(outTradeNo string, now time.Time) providers.Order {
	return providers.Order{
		Namespace: testNS, Name: "latte", OutTradeNo: outTradeNo, AmountMinor: 1250, Amount: "12.50",
		Currency: "USD", Channel: "card", Subject: "Latte", Description: "one large latte",
		ReturnURL: "https://shop.example/orders/latte", NotifyURL: "https://pay.example/notify/shop/stripe",
		ExpiresAt: now.Add(30 * time.Minute), Metadata: map[string]string{"kubepay.io/namespace": testNS, "kubepay.io/name": "latte", "cart": "42"},
	}
}

// sessionEvent is a Stripe event of type typ about a Checkout Session created by kubepay for
// provider ns/name.
type sessionEvent struct {
	ID, Type                        string
	Created                         int64
	SessionID, OutTradeNo           string
	Amount                          int64
	Currency                        string
	Status, PaymentStatus           string
	Namespace, Provider, Mode       string
	OmitAmount, OmitClientReference bool
	// PaymentIntent is the session's payment_intent ("" sends null).
	PaymentIntent string
	// Live sets livemode on the event; SessionLive on the session.
	Live, SessionLive bool
}

func (e sessionEvent) JSON() []byte {
	if e.Namespace == "" {
		e.Namespace = testNS
	}
	if e.Provider == "" {
		e.Provider = testProvider
	}
	if e.Mode == "" {
		e.Mode = "payment"
	}
	obj := map[string]any{
		"id": e.SessionID, "object": "checkout.session", "mode": e.Mode, "currency": e.Currency,
		"status": e.Status, "payment_status": e.PaymentStatus, "livemode": e.SessionLive,
		"metadata": map[string]string{stripe.MetadataNamespace: e.Namespace, stripe.MetadataProvider: e.Provider, stripe.MetadataOutTradeNo: e.OutTradeNo},
	}
	if !e.OmitAmount {
		obj["amount_total"] = e.Amount
	}
	if !e.OmitClientReference {
		obj["client_reference_id"] = e.OutTradeNo
	}
	if e.PaymentIntent != "" {
		obj["payment_intent"] = e.PaymentIntent
	} else {
		obj["payment_intent"] = nil
	}
	b, err := json.Marshal(map[string]any{
		"id": e.ID, "object": "event", "api_version": "2025-08-27.basil", "created": e.Created,
		"type": e.Type, "livemode": e.Live, "pending_webhooks": 1, "data": map[string]any{"object": obj},
	})
	if err != nil {
		panic(err)
	}
	return b
}

// paidEvent is a checkout.session.completed event for a paid session.
func paidEvent(id, sessionID, outTradeNo string, amount int64, created time.Time) sessionEvent {
	return sessionEvent{
		ID: id, Type: stripe.EventSessionCompleted, Created: created.Unix(), SessionID: sessionID, OutTradeNo: outTradeNo,
		Amount: amount, Currency: "usd", Status: "complete", PaymentStatus: "paid",
	}
}

// sign returns the Stripe-Signature header stripe-go's own test helper makes for body.
func sign(body []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at}).Header
}

// notifyRequest is a webhook delivery carrying header as Stripe-Signature ("" sends none).
func notifyRequest(body []byte, header string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/notify/shop/stripe", strings.NewReader(string(body)))
	if header != "" {
		r.Header.Set(stripe.SignatureHeader, header)
	}
	return r
}
