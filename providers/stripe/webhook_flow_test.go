package stripe_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/testenv"
	"github.com/kubepay/kubepay/providers/stripe"
)

// TestOrderPaidByStripeWebhook is the whole flow on a real API server and manager: the order gets
// a Checkout Session at stripe-mock (through a recording proxy), and a checkout.session.completed
// event signed by stripe-go's own helper, posted to the callback server, makes it Paid once.
func TestOrderPaidByStripeWebhook(t *testing.T) {
	env, mgr := startCluster(t)
	rec := newRecorder(t, stripeMockURL(t))
	s := newStripeNS(t, env, mgr, rec.URL)
	o := s.order("latte", "12.50")

	if !strings.HasPrefix(o.Status.PaymentURL, "https://checkout.stripe.com/") || !strings.HasPrefix(o.Status.ProviderPaymentID, "cs_") {
		t.Errorf("paymentURL %q providerPaymentID %q: want stripe-mock's hosted page and session id", o.Status.PaymentURL, o.Status.ProviderPaymentID)
	}
	creates := rec.requests("POST", "/v1/checkout/sessions")
	if len(creates) == 0 {
		t.Fatalf("requests %v: no session created", rec.all())
	}
	form := creates[0].Form
	checks := map[string][2]string{
		"Idempotency-Key":                           {creates[0].Header.Get("Idempotency-Key"), o.Status.OutTradeNo},
		"client_reference_id":                       {form.Get("client_reference_id"), o.Status.OutTradeNo},
		"unit_amount":                               {form.Get("line_items[0][price_data][unit_amount]"), "1250"},
		"currency":                                  {form.Get("line_items[0][price_data][currency]"), "usd"},
		"metadata[kubepay.io/namespace]":            {form.Get("metadata[kubepay.io/namespace]"), s.NS},
		"metadata[kubepay.io/name]":                 {form.Get("metadata[kubepay.io/name]"), "latte"},
		"success_url (no returnURL: callback host)": {form.Get("success_url"), mgr.CallbackURL + "/"},
	}
	for what, c := range checks {
		if c[0] != c[1] {
			t.Errorf("create request %s = %q, want %q", what, c[0], c[1])
		}
	}

	body := s.eventFor("evt_latte_paid", o).JSON()
	header := sign(body, testSecret, time.Now())
	if code, answer := s.post(body, header); code != 200 || answer != `{"received":true}` {
		t.Fatalf("callback answered %d %q, want 200 {\"received\":true}", code, answer)
	}
	o = s.waitPhase("latte", v1.PhasePaid, 10*time.Second)
	last := o.Status.History[len(o.Status.History)-1]
	if last.Source != v1.SourceNotification || last.NotificationID != "evt_latte_paid" || o.Status.PaidAmount != "12.50" ||
		o.Status.LastNotification == nil || o.Status.LastNotification.Type != stripe.EventSessionCompleted {
		t.Errorf("paid status: history %+v paidAmount %q lastNotification %+v", last, o.Status.PaidAmount, o.Status.LastNotification)
	}

	// Stripe redelivers until it sees a 2xx: a duplicate is acknowledged without a second write.
	if code, _ := s.post(body, header); code != 200 {
		t.Errorf("redelivery answered %d, want 200", code)
	}
	if o = s.get("latte"); countTo(o, v1.PhasePaid) != 1 {
		t.Errorf("history %+v: want one transition to Paid", o.Status.History)
	}
}

// TestStripeWebhookCases: each case gets its own order awaiting payment, then one delivery.
func TestStripeWebhookCases(t *testing.T) {
	env, mgr := startCluster(t)
	rec := newRecorder(t, stripeMockURL(t))
	s := newStripeNS(t, env, mgr, rec.URL)
	tests := []struct {
		name string
		// event edits the paid event before it is signed; sign returns the header.
		event     func(*sessionEvent)
		sign      func(body []byte) string
		wantCode  int
		wantPhase v1.Phase
		// rejected: recorded as a NotificationRejected condition on the order.
		rejected bool
	}{
		{"a bad signature (another endpoint's secret) is refused and changes nothing",
			nil, func(b []byte) string { return sign(b, "whsec_someone_else", time.Now()) }, 400, v1.PhaseAwaitingPayment, false},
		{"a replay with a timestamp older than 300 s is refused and changes nothing",
			nil, func(b []byte) string { return sign(b, testSecret, time.Now().Add(-400*time.Second)) }, 400, v1.PhaseAwaitingPayment, false},
		{"an event signed with webhookSecretNext is accepted during a rotation",
			nil, func(b []byte) string { return sign(b, testNext, time.Now()) }, 200, v1.PhasePaid, false},
		{"a validly signed payment of another amount is refused and the order stays unpaid",
			func(e *sessionEvent) { e.Amount++ }, nil, 500, v1.PhaseAwaitingPayment, true},
		{"an unrelated event type is acknowledged and changes nothing",
			func(e *sessionEvent) { e.Type = "customer.created" }, nil, 200, v1.PhaseAwaitingPayment, false},
		{"a session another namespace's provider created is acknowledged and changes nothing",
			func(e *sessionEvent) { e.Namespace = "elsewhere" }, nil, 200, v1.PhaseAwaitingPayment, false},
		{"a completed session whose delayed payment is still processing changes nothing",
			func(e *sessionEvent) { e.PaymentStatus = "unpaid" }, nil, 200, v1.PhaseAwaitingPayment, false},
		{"a delayed payment that failed fails the order",
			func(e *sessionEvent) { e.Type, e.PaymentStatus = stripe.EventSessionAsyncPaymentFailed, "unpaid" }, nil, 200, v1.PhaseFailed, false},
		{"a session expired at Stripe before the order's expiry (from the dashboard) cancels the order",
			func(e *sessionEvent) {
				e.Type, e.Status, e.PaymentStatus = stripe.EventSessionExpired, "expired", "unpaid"
			}, nil, 200, v1.PhaseCancelled, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := s.in(t)
			name := "case-" + string(rune('a'+i))
			before := s.order(name, "20.00")
			e := s.eventFor("evt_"+name, before)
			if tt.event != nil {
				tt.event(&e)
			}
			body := e.JSON()
			header := sign(body, testSecret, time.Now())
			if tt.sign != nil {
				header = tt.sign(body)
			}
			code, answer := s.post(body, header)
			if code != tt.wantCode {
				t.Errorf("callback answered %d %q, want %d", code, answer, tt.wantCode)
			}
			if tt.wantPhase != v1.PhaseAwaitingPayment {
				s.waitPhase(name, tt.wantPhase, 10*time.Second)
				return
			}
			after := s.get(name)
			if after.Status.Phase != v1.PhaseAwaitingPayment || after.Status.PaidAt != nil || !equality.Semantic.DeepEqual(after.Status.History, before.Status.History) {
				t.Errorf("order changed: phase %s, history %+v", after.Status.Phase, after.Status.History)
			}
			rejected := meta.FindStatusCondition(after.Status.Conditions, v1.ConditionNotificationRejected)
			if tt.rejected != (rejected != nil) {
				t.Errorf("NotificationRejected condition %+v, want present = %v", rejected, tt.rejected)
			}
		})
	}
}

// TestDeletedOrderExpiresItsSession: deleting an unpaid order makes the controller close the
// payment, which for Stripe is expiring the Checkout Session, before the object goes.
func TestDeletedOrderExpiresItsSession(t *testing.T) {
	env, mgr := startCluster(t)
	rec := newRecorder(t, stripeMockURL(t))
	s := newStripeNS(t, env, mgr, rec.URL)
	o := s.order("abandoned", "5.00")
	if err := env.Client.Delete(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(o), &v1.PaymentOrder{})
		return apierrors.IsNotFound(err), fmt.Sprintf("order still there (%v); requests %v", err, rec.all())
	})
	if n := len(rec.requests("POST", "/v1/checkout/sessions/"+o.Status.ProviderPaymentID+"/expire")); n != 1 {
		t.Errorf("requests %v: want one expire of session %s", rec.all(), o.Status.ProviderPaymentID)
	}
}
