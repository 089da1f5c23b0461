package stripe_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/stripe"
)

// refundEvent is a Stripe refund.* event about a refund kubepay created for provider ns/name
// (unless NoMetadata).
type refundEvent struct {
	ID, Type                  string
	Created                   int64
	RefundID                  string
	Amount                    int64
	Currency, Status, Failure string
	OutRefundNo, OutTradeNo   string
	Namespace, Provider       string
	NoMetadata                bool
	PaymentIntent             any // a string id, or an expanded object
	Live                      bool
	RefundCreated             int64
	ObjectType                string
}

func (e refundEvent) object() map[string]any {
	if e.Namespace == "" {
		e.Namespace = testNS
	}
	if e.Provider == "" {
		e.Provider = testProvider
	}
	if e.ObjectType == "" {
		e.ObjectType = "refund"
	}
	meta := map[string]string{}
	if !e.NoMetadata {
		meta = map[string]string{stripe.MetadataOutRefundNo: e.OutRefundNo, stripe.MetadataNamespace: e.Namespace, stripe.MetadataProvider: e.Provider}
		if e.OutTradeNo != "" {
			meta[stripe.MetadataOutTradeNo] = e.OutTradeNo
		}
	}
	obj := map[string]any{
		"id": e.RefundID, "object": e.ObjectType, "amount": e.Amount, "currency": e.Currency, "status": e.Status,
		"metadata": meta, "payment_intent": e.PaymentIntent, "charge": "ch_test_r1", "created": e.RefundCreated,
	}
	if e.Failure != "" {
		obj["failure_reason"] = e.Failure
	}
	return obj
}

func envelope(id, typ string, created int64, live bool, obj any) []byte {
	b, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "api_version": "2025-08-27.basil", "created": created,
		"type": typ, "livemode": live, "pending_webhooks": 1, "data": map[string]any{"object": obj},
	})
	if err != nil {
		panic(err)
	}
	return b
}

func (e refundEvent) JSON() []byte { return envelope(e.ID, e.Type, e.Created, e.Live, e.object()) }

// chargeRefunded is a charge.refunded event whose charge lists refunds (nil: not listed, as
// from API versions since 2022-11-15).
func chargeRefunded(id string, created int64, amountRefunded int64, refunds []refundEvent) []byte {
	ch := map[string]any{
		"id": "ch_test_r1", "object": "charge", "amount": 1250, "amount_refunded": amountRefunded, "currency": "usd",
		"livemode": false, "payment_intent": "pi_test_r1", "refunded": amountRefunded == 1250, "metadata": map[string]string{},
	}
	if refunds != nil {
		data := make([]any, 0, len(refunds))
		for _, r := range refunds {
			data = append(data, r.object())
		}
		ch["refunds"] = map[string]any{"object": "list", "data": data, "has_more": false}
	}
	return envelope(id, stripe.EventChargeRefunded, created, false, ch)
}

// TestRefundNotificationEvents: what each validly signed refund event means. Refund facts never
// carry a payment status, so nothing takes them for a payment, a failure or an expiry.
func TestRefundNotificationEvents(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	at := now.Add(-2 * time.Second)
	base := refundEvent{
		ID: "evt_r1", Type: stripe.EventRefundUpdated, Created: at.Unix(), RefundID: "re_test_r1", Amount: 400, Currency: "usd",
		Status: "succeeded", OutRefundNo: "refund-1", OutTradeNo: "order-r1", PaymentIntent: "pi_test_r1", RefundCreated: at.Unix() - 60,
	}
	with := func(edit func(*refundEvent)) []byte {
		e := base
		edit(&e)
		return e.JSON()
	}
	older, newer, foreign := base, base, base
	older.RefundID, older.OutRefundNo, older.Amount, older.RefundCreated = "re_test_old", "refund-0", 100, at.Unix()-600
	newer.Status = "pending"
	foreign.RefundID, foreign.NoMetadata, foreign.RefundCreated = "re_test_dash", true, at.Unix()
	tests := []struct {
		name string
		body []byte
		// want is the expected fact; nil: acknowledged and ignored.
		want      *providers.RefundFact
		wantOTN   string
		malformed bool
	}{
		{"refund.updated to succeeded: the money went back, at the event's time", base.JSON(),
			&providers.RefundFact{OutRefundNo: "refund-1", ProviderRefundID: "re_test_r1", Status: providers.RefundSucceeded, AmountMinor: 400, Currency: "USD", RefundedAt: at.UTC()}, "order-r1", false},
		{"refund.created pending: accepted, result later", with(func(e *refundEvent) { e.Type, e.Status = stripe.EventRefundCreated, "pending" }),
			&providers.RefundFact{OutRefundNo: "refund-1", ProviderRefundID: "re_test_r1", Status: providers.RefundProcessing, AmountMinor: 400, Currency: "USD"}, "order-r1", false},
		{"refund.created already succeeded: refunded at its creation", with(func(e *refundEvent) { e.Type = stripe.EventRefundCreated }),
			&providers.RefundFact{OutRefundNo: "refund-1", ProviderRefundID: "re_test_r1", Status: providers.RefundSucceeded, AmountMinor: 400, Currency: "USD", RefundedAt: time.Unix(at.Unix()-60, 0).UTC()}, "order-r1", false},
		{"refund.updated to requires_action: still processing", with(func(e *refundEvent) { e.Status = "requires_action" }),
			&providers.RefundFact{OutRefundNo: "refund-1", ProviderRefundID: "re_test_r1", Status: providers.RefundProcessing, AmountMinor: 400, Currency: "USD"}, "order-r1", false},
		{"refund.failed carries Stripe's failure_reason", with(func(e *refundEvent) {
			e.Type, e.Status, e.Failure = stripe.EventRefundFailed, "failed", "expired_or_canceled_card"
		}), &providers.RefundFact{OutRefundNo: "refund-1", ProviderRefundID: "re_test_r1", Status: providers.RefundFailed, AmountMinor: 400, Currency: "USD", FailureReason: "Stripe: expired_or_canceled_card"}, "order-r1", false},
		{"refund.updated to canceled: it will not happen", with(func(e *refundEvent) { e.Status = "canceled" }),
			&providers.RefundFact{OutRefundNo: "refund-1", ProviderRefundID: "re_test_r1", Status: providers.RefundFailed, AmountMinor: 400, Currency: "USD", FailureReason: "Stripe: canceled"}, "order-r1", false},
		{"ISK refunds come back in kubepay's whole krónur", with(func(e *refundEvent) { e.Amount, e.Currency = 50000, "isk" }),
			&providers.RefundFact{OutRefundNo: "refund-1", ProviderRefundID: "re_test_r1", Status: providers.RefundSucceeded, AmountMinor: 500, Currency: "ISK", RefundedAt: at.UTC()}, "order-r1", false},
		{"without out_trade_no in the refund's metadata, the expanded PaymentIntent's names the order", with(func(e *refundEvent) {
			e.OutTradeNo, e.PaymentIntent = "", map[string]any{"id": "pi_test_r1", "object": "payment_intent", "metadata": map[string]string{stripe.MetadataOutTradeNo: "order-from-pi"}}
		}), &providers.RefundFact{OutRefundNo: "refund-1", ProviderRefundID: "re_test_r1", Status: providers.RefundSucceeded, AmountMinor: 400, Currency: "USD", RefundedAt: at.UTC()}, "order-from-pi", false},
		{"a refund made in the dashboard (no kubepay metadata) is acknowledged and ignored", with(func(e *refundEvent) { e.NoMetadata = true }), nil, "", false},
		{"a refund of another provider of the namespace is ignored", with(func(e *refundEvent) { e.Provider = "stripe-eu" }), nil, "", false},
		{"a refund of another namespace's provider is ignored", with(func(e *refundEvent) { e.Namespace = "other" }), nil, "", false},
		{"refund.failed of a refund that did not fail contradicts itself", with(func(e *refundEvent) { e.Type = stripe.EventRefundFailed }), nil, "", true},
		{"a refund id outside Stripe's alphabet", with(func(e *refundEvent) { e.RefundID = "re_../x" }), nil, "", true},
		{"a refund of nothing", with(func(e *refundEvent) { e.Amount = 0 }), nil, "", true},
		{"a refund in no ISO currency", with(func(e *refundEvent) { e.Currency = "us" }), nil, "", true},
		{"a refund status Stripe does not document is not guessed at", with(func(e *refundEvent) { e.Status = "mystery" }), nil, "", true},
		{"a refund event whose object is not a refund", with(func(e *refundEvent) { e.ObjectType = "charge" }), nil, "", true},
		{"charge.refunded names the newest of kubepay's refunds it lists, with the cumulative total",
			chargeRefunded("evt_c1", at.Unix(), 500, []refundEvent{older, foreign, newer}),
			&providers.RefundFact{OutRefundNo: "refund-1", ProviderRefundID: "re_test_r1", Status: providers.RefundProcessing, AmountMinor: 400, Currency: "USD", TotalRefundedMinor: 500}, "order-r1", false},
		{"charge.refunded without its refunds listed names no refund: ignored, refund.* events report it", chargeRefunded("evt_c2", at.Unix(), 500, nil), nil, "", false},
		{"charge.refunded listing only refunds kubepay did not make is ignored", chargeRefunded("evt_c3", at.Unix(), 400, []refundEvent{foreign}), nil, "", false},
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
			if n.Status != "" {
				t.Fatalf("notification %+v has payment status %q: a refund event must never move the payment", n, n.Status)
			}
			if tt.want == nil {
				if n.Refund != nil {
					t.Errorf("notification %+v: want it ignored, without a refund fact", n)
				}
				return
			}
			if n.Refund == nil || *n.Refund != *tt.want {
				t.Fatalf("refund fact %+v, want %+v", n.Refund, tt.want)
			}
			if n.OutTradeNo != tt.wantOTN || n.TransactionID != "pi_test_r1" || n.Currency != tt.want.Currency {
				t.Errorf("notification %+v: want out_trade_no %q and transaction pi_test_r1", n, tt.wantOTN)
			}
		})
	}
}

// TestForgedRefundEventsAreRefused: every refund event type is verified on the raw bytes before
// anything is read; a refund fact is only ever taken from what Stripe signed.
func TestForgedRefundEventsAreRefused(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	bodies := map[string][]byte{}
	for _, typ := range []string{stripe.EventRefundCreated, stripe.EventRefundUpdated, stripe.EventRefundFailed} {
		status := "succeeded"
		if typ == stripe.EventRefundFailed {
			status = "failed"
		}
		bodies[typ] = refundEvent{ID: "evt_f", Type: typ, Created: now.Unix(), RefundID: "re_test_f", Amount: 400, Currency: "usd", Status: status,
			OutRefundNo: "refund-1", OutTradeNo: "order-f", PaymentIntent: "pi_test_f"}.JSON()
	}
	bodies[stripe.EventChargeRefunded] = chargeRefunded("evt_f", now.Unix(), 400, []refundEvent{{RefundID: "re_test_f", Amount: 400, Currency: "usd", Status: "succeeded", OutRefundNo: "refund-1"}})
	forgeries := []struct {
		name  string
		forge func(body []byte) (sent []byte, header string)
	}{
		{"signed with another endpoint's secret", func(b []byte) ([]byte, string) { return b, sign(b, "whsec_attacker", now) }},
		{"the amount raised after signing", func(b []byte) ([]byte, string) {
			return []byte(strings.Replace(string(b), `"amount":400`, `"amount":40000`, 1)), sign(b, testSecret, now)
		}},
		{"the out_refund_no changed after signing", func(b []byte) ([]byte, string) {
			return []byte(strings.Replace(string(b), `refund-1`, `refund-9`, 1)), sign(b, testSecret, now)
		}},
		{"replayed after the 300 s window", func(b []byte) ([]byte, string) { return b, sign(b, testSecret, now.Add(-301*time.Second)) }},
		{"with no signature at all", func(b []byte) ([]byte, string) { return b, "" }},
	}
	c := newClient(t, "", now)
	for typ, body := range bodies {
		for _, f := range forgeries {
			t.Run(typ+": "+f.name, func(t *testing.T) {
				sent, header := f.forge(body)
				n, err := c.ParseNotification(t.Context(), notifyRequest(sent, header), sent)
				if !errors.Is(err, providers.ErrSignature) || n.Refund != nil {
					t.Fatalf("ParseNotification = %+v, %v; want ErrSignature and no refund fact", n, err)
				}
			})
		}
		t.Run(typ+": the genuine event is accepted", func(t *testing.T) {
			n, err := c.ParseNotification(t.Context(), notifyRequest(body, sign(body, testSecret, now)), body)
			if err != nil || n.Refund == nil {
				t.Fatalf("ParseNotification = %+v, %v; want a refund fact", n, err)
			}
		})
	}
}

// TestLivemodeMustMatchTheKey: an event of the other mode than the API key is never applied.
func TestLivemodeMustMatchTheKey(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	paid := func(edit func(*sessionEvent)) []byte {
		e := paidEvent("evt_mode", "cs_test_mode", "order-mode", 1250, now)
		if edit != nil {
			edit(&e)
		}
		return e.JSON()
	}
	refund := refundEvent{ID: "evt_rmode", Type: stripe.EventRefundUpdated, Created: now.Unix(), RefundID: "re_test_mode", Amount: 400, Currency: "usd",
		Status: "succeeded", OutRefundNo: "refund-1", OutTradeNo: "order-mode", PaymentIntent: "pi_test_mode"}
	liveRefund := refund
	liveRefund.Live = true
	tests := []struct {
		name string
		key  string
		body []byte
		// want: nil for accepted, else the error it must wrap.
		want error
	}{
		{"a test event for a test key is applied", "sk_test_abc", paid(nil), nil},
		{"a live event for a live key is applied", "sk_live_abc", paid(func(e *sessionEvent) { e.Live, e.SessionLive = true, true }), nil},
		{"a test-mode payment must never mark a live order paid", "sk_live_abc", paid(nil), providers.ErrSignature},
		{"a live event for a test key means mixed-up credentials", "sk_test_abc", paid(func(e *sessionEvent) { e.Live, e.SessionLive = true, true }), providers.ErrSignature},
		{"a restricted live key is live", "rk_live_abc", paid(nil), providers.ErrSignature},
		{"a restricted test key is test", "rk_test_abc", paid(nil), nil},
		{"a session of the other mode inside an event of the key's mode is refused", "sk_test_abc", paid(func(e *sessionEvent) { e.SessionLive = true }), providers.ErrSignature},
		{"a refund event of the other mode is refused", "sk_test_abc", liveRefund.JSON(), providers.ErrSignature},
		{"a refund event of the key's mode is applied", "sk_live_abc", func() []byte { r := refund; r.Live = true; return r.JSON() }(), nil},
		{"even an event kubepay ignores is refused: the credentials are mixed up", "sk_live_abc", envelope("evt_cust", "customer.created", now.Unix(), false, map[string]any{"id": "cus_1", "object": "customer"}), providers.ErrSignature},
		{"an event that does not say its mode is malformed", "sk_test_abc", []byte(strings.Replace(string(paid(nil)), `"livemode":false,"object":"event"`, `"object":"event"`, 1)), providers.ErrMalformed},
		{"a key of no known mode (some stripe-mock setups) checks nothing", "sk_mock", paid(func(e *sessionEvent) { e.Live, e.SessionLive = true, true }), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := stripe.New(providers.Config{
				Namespace: testNS, Name: testProvider,
				Secret: map[string][]byte{stripe.SecretAPIKey: []byte(tt.key), stripe.SecretWebhookSecret: []byte(testSecret)},
				Now:    func() time.Time { return now },
			})
			if err != nil {
				t.Fatal(err)
			}
			n, err := p.ParseNotification(t.Context(), notifyRequest(tt.body, sign(tt.body, testSecret, now)), tt.body)
			if tt.want == nil {
				if err != nil || (n.Status == "" && n.Refund == nil) {
					t.Fatalf("ParseNotification = %+v, %v; want it applied", n, err)
				}
				return
			}
			if !errors.Is(err, tt.want) || n.Status != "" || n.Refund != nil {
				t.Fatalf("ParseNotification = %+v, %v; want %v and nothing applied", n, err, tt.want)
			}
			if errors.Is(tt.want, providers.ErrSignature) && (!strings.Contains(err.Error(), "mode") || strings.Contains(err.Error(), tt.key)) {
				t.Errorf("error %q should say the modes differ, without quoting the key", err)
			}
		})
	}
}

// TestSessionEventsNameThePaymentIntent: a completed session's PaymentIntent is the
// notification's transaction id, which refunds use.
func TestSessionEventsNameThePaymentIntent(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	tests := []struct {
		name   string
		edit   func(*sessionEvent)
		wantTx string
	}{
		{"a completed, paid session names its PaymentIntent", nil, "pi_test_tx1"},
		{"a delayed payment that succeeded names it", func(e *sessionEvent) { e.Type = stripe.EventSessionAsyncPaymentOK }, "pi_test_tx1"},
		{"an expired session moved no money", func(e *sessionEvent) {
			e.Type, e.Status, e.PaymentStatus = stripe.EventSessionExpired, "expired", "unpaid"
		}, ""},
		{"a completed session without a PaymentIntent names none", func(e *sessionEvent) { e.PaymentIntent = "" }, ""},
	}
	c := newClient(t, "", now)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := paidEvent("evt_tx", "cs_test_tx1", "order-tx1", 1250, now)
			e.PaymentIntent = "pi_test_tx1"
			if tt.edit != nil {
				tt.edit(&e)
			}
			body := e.JSON()
			n, err := c.ParseNotification(t.Context(), notifyRequest(body, sign(body, testSecret, now)), body)
			if err != nil {
				t.Fatal(err)
			}
			if n.TransactionID != tt.wantTx {
				t.Errorf("notification %+v: TransactionID %q, want %q", n, n.TransactionID, tt.wantTx)
			}
		})
	}
}
