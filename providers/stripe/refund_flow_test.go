package stripe_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/providers/internal/providertest"
	"github.com/kubepay/kubepay/providers/stripe"
)

// refunds is s with the shared end-to-end refund helpers, on the same namespace and manager.
func (s *stripeNS) refunds() *providertest.E2E {
	return &providertest.E2E{T: s.t, Env: s.env, NS: s.NS}
}

// paidOrder creates a card order of amount and makes it Paid with a signed
// checkout.session.completed whose session names the PaymentIntent pi, as Stripe's does once
// the customer paid; refunds are made on that PaymentIntent.
func (s *stripeNS) paidOrder(name, amount, pi string) *v1.PaymentOrder {
	s.t.Helper()
	o := s.order(name, amount)
	ev := s.eventFor("evt_"+name+"_paid", o)
	ev.PaymentIntent = pi
	body := ev.JSON()
	if code, answer := s.post(body, sign(body, testSecret, time.Now())); code != http.StatusOK {
		s.t.Fatalf("checkout.session.completed of order %s answered %d %q, want 200", name, code, answer)
	}
	o = s.waitPhase(name, v1.PhasePaid, 10*time.Second)
	if o.Status.ProviderTransactionID != pi {
		s.t.Fatalf("order %s is Paid with providerTransactionID %q, want the PaymentIntent %s", name, o.Status.ProviderTransactionID, pi)
	}
	return o
}

// refundEventFor is a refund event of type typ about the PaymentRefund r as Stripe sends it:
// the refund with the metadata kubepay put on it, in status.
func (s *stripeNS) refundEventFor(id, typ, status string, r *v1.PaymentRefund, o *v1.PaymentOrder) refundEvent {
	return refundEvent{
		ID: id, Type: typ, Created: time.Now().Unix(), RefundID: r.Status.ProviderRefundID, Amount: r.Status.AmountMinor,
		Currency: "usd", Status: status, OutRefundNo: r.Status.OutRefundNo, OutTradeNo: o.Status.OutTradeNo,
		Namespace: s.NS, PaymentIntent: o.Status.ProviderTransactionID, RefundCreated: time.Now().Add(-time.Second).Unix(),
	}
}

// clusterRefundJSON is a Stripe refund of kubepay's, as Stripe answers it: status, on the PaymentIntent
// pi, with the metadata kubepay puts on its refunds.
func clusterRefundJSON(id, status, outRefundNo, outTradeNo, ns, pi string, amount int64) string {
	b, err := json.Marshal(map[string]any{
		"id": id, "object": "refund", "amount": amount, "currency": "usd", "status": status, "payment_intent": pi,
		"created": time.Now().Unix(), "charge": "ch_kubepay_test",
		"metadata": map[string]string{stripe.MetadataOutRefundNo: outRefundNo, stripe.MetadataNamespace: ns, stripe.MetadataProvider: testProvider, stripe.MetadataOutTradeNo: outTradeNo},
	})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// pendingRefund makes the recording proxy answer the next POST /v1/refunds itself with the
// refund Stripe answers for most payment methods: status pending, the result to come by webhook.
// stripe-mock, which answers fixtures, always says succeeded.
func pendingRefund(rec *recorder, id, outRefundNo, outTradeNo, ns, pi string, amount int64) {
	rec.answer(http.MethodPost, "/v1/refunds", http.StatusOK, clusterRefundJSON(id, "pending", outRefundNo, outTradeNo, ns, pi, amount))
}

// checkRefundRequest fails unless the refund request the proxy recorded is the one Stripe must
// get for r: on the order's PaymentIntent, of r's amount, with r's number as Idempotency-Key and
// in the metadata.
func (s *stripeNS) checkRefundRequest(got recorded, r *v1.PaymentRefund, o *v1.PaymentOrder) {
	s.t.Helper()
	meta := func(k string) string { return got.Form.Get("metadata[" + k + "]") }
	checks := map[string][2]string{
		"Idempotency-Key":      {got.Header.Get("Idempotency-Key"), r.Status.OutRefundNo},
		"payment_intent":       {got.Form.Get("payment_intent"), o.Status.ProviderTransactionID},
		"amount":               {got.Form.Get("amount"), strconv.FormatInt(r.Status.AmountMinor, 10)},
		"metadata out_refund":  {meta(stripe.MetadataOutRefundNo), r.Status.OutRefundNo},
		"metadata out_trade":   {meta(stripe.MetadataOutTradeNo), o.Status.OutTradeNo},
		"metadata namespace":   {meta(stripe.MetadataNamespace), s.NS},
		"metadata provider":    {meta(stripe.MetadataProvider), testProvider},
		"metadata reason text": {meta(stripe.MetadataRefundReason), "customer asked"},
	}
	for what, c := range checks {
		if c[0] != c[1] {
			s.t.Errorf("POST /v1/refunds for PaymentRefund %s: %s = %q, want %q", r.Name, what, c[0], c[1])
		}
	}
	// "customer asked" is none of Stripe's reasons, which Stripe would refuse: metadata only.
	if got.Form.Has("reason") {
		s.t.Errorf("POST /v1/refunds for PaymentRefund %s sent reason %q, which Stripe refuses", r.Name, got.Form.Get("reason"))
	}
}

// TestRefundThroughManagerOnStripeMock: refunds of a paid order through the kubepay manager, the
// Stripe API at stripe-mock behind the recording proxy. Each refund is one POST /v1/refunds on
// the order's PaymentIntent with Idempotency-Key = its out_refund_no. stripe-mock's fixture
// refund is "succeeded" in the answer itself, so the first refund is Succeeded by the controller
// at once and its signed refund.updated is a duplicate; the rest is answered pending (by the
// proxy, as Stripe answers most refunds) and Succeeded by the signed refund.updated. The order
// goes Paid -> PartiallyRefunded -> Refunded, counting each refund once.
func TestRefundThroughManagerOnStripeMock(t *testing.T) {
	env, mgr := startCluster(t)
	rec := newRecorder(t, stripeMockURL(t))
	s := newStripeNS(t, env, mgr, rec.URL)
	e := s.refunds()
	o := s.paidOrder("mocha", "12.50", "pi_kubepay_mocha")

	e.CreateRefund("mocha-part", "mocha", "4.00", "")
	part := e.WaitRefund("mocha-part", v1.RefundSucceeded)
	posts := rec.requests(http.MethodPost, "/v1/refunds")
	if len(posts) != 1 {
		t.Fatalf("requests %v: want one POST /v1/refunds", rec.all())
	}
	s.checkRefundRequest(posts[0], part, o)
	if last := providertest.LastRefundTransition(part); last.Source != v1.SourceController || !strings.HasPrefix(part.Status.ProviderRefundID, "re_") ||
		part.Status.AmountMinor != 400 || part.Status.Currency != "USD" || part.Status.RefundedAt == nil {
		t.Errorf("mocha-part: want Succeeded by the controller on stripe-mock's succeeded answer, got last transition %+v and status %+v", last, part.Status)
	}
	e.WaitRefunded("mocha", v1.PhasePartiallyRefunded, "4.00")
	// Stripe still sends refund.updated: acknowledged, and nothing written again.
	body := s.refundEventFor("evt_mocha_part_ok", stripe.EventRefundUpdated, "succeeded", part, o).JSON()
	if code, answer := s.post(body, sign(body, testSecret, time.Now())); code != http.StatusOK || answer != `{"received":true}` {
		t.Fatalf("refund.updated of mocha-part answered %d %q, want 200 {\"received\":true}", code, answer)
	}
	if got := e.Refund("mocha-part"); got.ResourceVersion != part.ResourceVersion {
		t.Errorf("refund.updated of the refund already Succeeded wrote it (resourceVersion %s -> %s)", part.ResourceVersion, got.ResourceVersion)
	}

	pendingRefund(rec, "re_kubepay_mocha_rest", "mocha_rest_0001", o.Status.OutTradeNo, s.NS, o.Status.ProviderTransactionID, 850)
	e.CreateRefund("mocha-rest", "mocha", "8.50", "mocha_rest_0001")
	rest := e.WaitRefund("mocha-rest", v1.RefundProcessing)
	if posts = rec.requests(http.MethodPost, "/v1/refunds"); len(posts) != 2 {
		t.Fatalf("requests %v: want a second POST /v1/refunds", rec.all())
	}
	s.checkRefundRequest(posts[1], rest, o)
	ledger := e.Get("mocha")
	if res, ok := providertest.Reservation(ledger, "mocha-rest"); !ok || res.State != v1.RefundReserved || res.AmountMinor != 850 || rest.Status.ProviderRefundID != "re_kubepay_mocha_rest" {
		t.Fatalf("pending refund mocha-rest (%+v): order ledger %+v, want 850 reserved", rest.Status, ledger.Status.Refunds)
	}
	body = s.refundEventFor("evt_mocha_rest_ok", stripe.EventRefundUpdated, "succeeded", rest, o).JSON()
	if code, answer := s.post(body, sign(body, testSecret, time.Now())); code != http.StatusOK {
		t.Fatalf("refund.updated of mocha-rest answered %d %q, want 200", code, answer)
	}
	rest = e.WaitRefund("mocha-rest", v1.RefundSucceeded)
	if last := providertest.LastRefundTransition(rest); last.Source != v1.SourceNotification || last.NotificationID != "evt_mocha_rest_ok" ||
		rest.Status.LastNotification == nil || rest.Status.LastNotification.Type != stripe.EventRefundUpdated {
		t.Errorf("mocha-rest Succeeded not by refund.updated evt_mocha_rest_ok: last transition %+v, lastNotification %+v", last, rest.Status.LastNotification)
	}
	if got := e.WaitRefunded("mocha", v1.PhaseRefunded, "12.50"); got.Status.RefundedAmountMinor != 1250 {
		t.Errorf("order mocha refundedAmountMinor %d, want 1250", got.Status.RefundedAmountMinor)
	}
	// Each refund number went to Stripe once; kubepay sends nothing more for settled refunds.
	if n := len(rec.requests(http.MethodPost, "/v1/refunds")); n != 2 {
		t.Errorf("requests %v: want exactly two POST /v1/refunds", rec.all())
	}
}

// TestStripeRefundWebhookCases: each case gets its own paid order with a refund of 5.00 that
// Stripe answered pending, then one signed delivery about that refund.
func TestStripeRefundWebhookCases(t *testing.T) {
	env, mgr := startCluster(t)
	rec := newRecorder(t, stripeMockURL(t))
	s := newStripeNS(t, env, mgr, rec.URL)
	tests := []struct {
		name string
		// event edits the refund event (refund.updated, succeeded, about the refund) before it is signed.
		event    func(*refundEvent)
		wantCode int
		// wantPhase is the refund's phase after the delivery; Processing means unchanged.
		wantPhase v1.RefundPhase
	}{
		{"refund.created already succeeded settles the refund: some refunds succeed at once",
			func(e *refundEvent) { e.Type = stripe.EventRefundCreated }, 200, v1.RefundSucceeded},
		{"refund.failed fails the refund and frees its amount on the order",
			func(e *refundEvent) {
				e.Type, e.Status, e.Failure = stripe.EventRefundFailed, "failed", "expired_or_canceled_card"
			}, 200, v1.RefundFailed},
		{"refund.updated to canceled fails the refund: it will not happen",
			func(e *refundEvent) { e.Status = "canceled" }, 200, v1.RefundFailed},
		{"refund.updated still pending is acknowledged and changes nothing",
			func(e *refundEvent) { e.Status = "pending" }, 200, v1.RefundProcessing},
		{"a validly signed success for another amount is refused and the refund stays in flight",
			func(e *refundEvent) { e.Amount++ }, 500, v1.RefundProcessing},
		{"a success about another Stripe refund under the same number is refused",
			func(e *refundEvent) { e.RefundID = "re_someone_else" }, 500, v1.RefundProcessing},
		{"a refund of another namespace's provider is acknowledged and ignored: Stripe sends every event to every endpoint",
			func(e *refundEvent) { e.Namespace = "elsewhere" }, 200, v1.RefundProcessing},
		{"refund.succeeded is no Stripe event type: acknowledged and ignored",
			func(e *refundEvent) { e.Type = "refund.succeeded" }, 200, v1.RefundProcessing},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := s.in(t)
			e := s.refunds()
			name := "rcase-" + string(rune('a'+i))
			o := s.paidOrder(name, "20.00", "pi_kubepay_rcase_"+string(rune('a'+i)))
			number := "rcase_" + string(rune('a'+i)) + "_refund"
			pendingRefund(rec, "re_kubepay_rcase_"+string(rune('a'+i)), number, o.Status.OutTradeNo, s.NS, o.Status.ProviderTransactionID, 500)
			e.CreateRefund(name+"-back", name, "5.00", number)
			before := e.WaitRefund(name+"-back", v1.RefundProcessing)

			ev := s.refundEventFor("evt_"+name, stripe.EventRefundUpdated, "succeeded", before, o)
			tt.event(&ev)
			body := ev.JSON()
			if code, answer := s.post(body, sign(body, testSecret, time.Now())); code != tt.wantCode {
				t.Errorf("callback answered %d %q, want %d", code, answer, tt.wantCode)
			}
			switch tt.wantPhase {
			case v1.RefundSucceeded:
				r := e.WaitRefund(name+"-back", v1.RefundSucceeded)
				if last := providertest.LastRefundTransition(r); last.Source != v1.SourceNotification || last.NotificationID != "evt_"+name {
					t.Errorf("refund Succeeded by %+v, want by the notification evt_%s", last, name)
				}
				e.WaitRefunded(name, v1.PhasePartiallyRefunded, "5.00")
			case v1.RefundFailed:
				e.WaitRefund(name+"-back", v1.RefundFailed)
				// The reservation is released: the order is Paid with all of its 20.00 refundable.
				e.WaitRefunded(name, v1.PhasePaid, "")
				if got := e.Get(name); len(got.Status.Refunds) != 0 {
					t.Errorf("order %s keeps ledger %+v after its only refund failed", name, got.Status.Refunds)
				}
			default:
				after := e.Refund(name + "-back")
				if after.ResourceVersion != before.ResourceVersion || after.Status.Phase != v1.RefundProcessing {
					t.Errorf("refund %s moved to %s (resourceVersion %s -> %s), want unchanged", after.Name, after.Status.Phase, before.ResourceVersion, after.ResourceVersion)
				}
				if res, ok := providertest.Reservation(e.Get(name), name+"-back"); !ok || res.State != v1.RefundReserved {
					t.Errorf("order %s ledger entry %+v (found %v), want the refund still reserved", name, res, ok)
				}
			}
		})
	}
}

// TestStripeRefundSettledByQuery: a refund Stripe answered pending whose webhooks never arrive is
// settled by the controller's refund query, GET /v1/refunds/{id}. stripe-mock answers that with
// its fixture refund (amount 100, no metadata), which kubepay rightly refuses as another refund,
// so the proxy answers the query as Stripe would: pending, then succeeded.
func TestStripeRefundSettledByQuery(t *testing.T) {
	env, mgr := startCluster(t)
	rec := newRecorder(t, stripeMockURL(t))
	s := newStripeNS(t, env, mgr, rec.URL)
	e := s.refunds()
	o := s.paidOrder("chai", "12.50", "pi_kubepay_chai")
	// The order is Paid: from now on only its refund is queried, every half second.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pp := &v1.PaymentProvider{}
		if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: s.NS, Name: testProvider}, pp); err != nil {
			return err
		}
		half := &metav1.Duration{Duration: 500 * time.Millisecond}
		pp.Spec.Query = &v1.QuerySettings{InitialInterval: half, MaxInterval: half}
		return env.Client.Update(t.Context(), pp)
	})
	if err != nil {
		t.Fatalf("setting the query interval of PaymentProvider %s/%s: %v", s.NS, testProvider, err)
	}

	const refundID = "re_kubepay_chai_all"
	pendingRefund(rec, refundID, "chai_all_0001", o.Status.OutTradeNo, s.NS, o.Status.ProviderTransactionID, 1250)
	queried := func(status string) canned {
		return canned{http.StatusOK, clusterRefundJSON(refundID, status, "chai_all_0001", o.Status.OutTradeNo, s.NS, o.Status.ProviderTransactionID, 1250)}
	}
	rec.answers(http.MethodGet, "/v1/refunds/"+refundID, queried("pending"), queried("succeeded"))
	e.CreateRefund("chai-all", "chai", "12.50", "chai_all_0001")
	r := e.WaitRefund("chai-all", v1.RefundSucceeded)
	h := r.Status.History
	if len(h) < 2 || h[len(h)-2].To != v1.RefundProcessing || h[len(h)-1].Source != v1.SourceQuery || r.Status.LastNotification != nil {
		t.Errorf("chai-all reached Succeeded through %+v (lastNotification %+v), want Processing then Succeeded by query", h, r.Status.LastNotification)
	}
	if n := len(rec.requests(http.MethodGet, "/v1/refunds/"+refundID)); n < 2 {
		t.Errorf("requests %v: want the refund queried by its id until it succeeded", rec.all())
	}
	e.WaitRefunded("chai", v1.PhaseRefunded, "12.50")
	if n := len(rec.requests(http.MethodPost, "/v1/refunds")); n != 1 {
		t.Errorf("requests %v: want one POST /v1/refunds", rec.all())
	}
}
