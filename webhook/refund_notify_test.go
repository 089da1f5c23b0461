package webhook_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/testenv"
	"github.com/kubepay/kubepay/internal/testfixture"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
)

// refundInFlight pays an order (the test's own signed notification) and starts a refund of it
// that the gateway keeps pending, so only the notifications the test sends can settle it.
func refundInFlight(t *testing.T, name, amount string, minor int64) (*testfixture.Fixture, *v1.PaymentRefund) {
	t.Helper()
	f := testfixture.New(t, env, gateway.Options{RefundDelay: -1}, noQuery)
	f.Order(name, amount, "CNY", 30*time.Minute)
	o := f.WaitPhase(name, v1.PhaseAwaitingPayment, 30*time.Second)
	f.Pay(o.Status.ProviderPaymentID, "succeeded")
	paid := notification("evt_pay_"+name, "payment.succeeded", o, minor, "CNY")
	if code, answer := post(t, notifyURL(mgr.CallbackURL, f), paid, signed(paid, time.Now())); code != 200 {
		t.Fatalf("paying %s: %d %s", name, code, answer)
	}
	f.WaitPhase(name, v1.PhasePaid, 30*time.Second)
	r := &v1.PaymentRefund{ObjectMeta: metav1.ObjectMeta{Namespace: f.NS, Name: name + "-back"},
		Spec: v1.PaymentRefundSpec{OrderRef: v1.LocalObjectReference{Name: name}, Amount: amount}}
	if err := env.Client.Create(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		if err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(r), r); err != nil {
			return false, err.Error()
		}
		return r.Status.Phase == v1.RefundProcessing, fmt.Sprintf("refund is %q, want Processing", r.Status.Phase)
	})
	return f, r
}

// refundEvent is a sandbox refund event about r, shaped like the gateway's own.
func refundEvent(id, typ string, o *v1.PaymentOrder, r *v1.PaymentRefund, amount int64) []byte {
	status := map[string]string{"refund.succeeded": "succeeded", "refund.failed": "failed"}[typ]
	b, err := json.Marshal(map[string]any{
		"id": id, "type": typ, "created": time.Now().Unix(),
		"data": map[string]any{"id": r.Status.ProviderRefundID, "payment_id": o.Status.ProviderPaymentID, "out_trade_no": o.Status.OutTradeNo,
			"out_refund_no": r.Status.OutRefundNo, "amount": amount, "currency": "CNY", "status": status,
			"succeeded_at": time.Now().UTC().Format(time.RFC3339)},
	})
	if err != nil {
		panic(err)
	}
	return b
}

// TestRefundNotificationAppliedOnceAcrossReplicas delivers one refund.succeeded ten times at once,
// split between two callback servers with separate caches: one transition, every delivery
// answered success, and the order counts the refund once.
func TestRefundNotificationAppliedOnceAcrossReplicas(t *testing.T) {
	f, r := refundInFlight(t, "refund-once", "6.00", 600)
	o := f.Get("refund-once")
	body := refundEvent("evt_refund_once", "refund.succeeded", o, r, 600)
	sig := signed(body, time.Now())
	var wg sync.WaitGroup
	answers := make(chan string, 10)
	for i := range 10 {
		base := mgr.CallbackURL
		if i%2 == 1 {
			base = replicaURL
		}
		wg.Go(func() {
			code, answer := post(t, notifyURL(base, f), body, sig)
			answers <- fmt.Sprintf("%d %s", code, answer)
		})
	}
	wg.Wait()
	close(answers)
	for a := range answers {
		if a != "200 success" {
			t.Errorf("delivery answered %q, want 200 success", a)
		}
	}
	got := &v1.PaymentRefund{}
	if err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(r), got); err != nil {
		t.Fatal(err)
	}
	succeeded := 0
	for _, h := range got.Status.History {
		if h.To == v1.RefundSucceeded {
			succeeded++
		}
	}
	if got.Status.Phase != v1.RefundSucceeded || succeeded != 1 {
		t.Fatalf("refund %q with %d transitions to Succeeded, want exactly one", got.Status.Phase, succeeded)
	}
	paid := f.WaitPhase("refund-once", v1.PhaseRefunded, 30*time.Second)
	if paid.Status.RefundedAmountMinor != 600 {
		t.Errorf("order counted %d refunded, want 600 once", paid.Status.RefundedAmountMinor)
	}
}

// TestBadRefundNotificationsChangeNothing: forged, tampered and mismatched refund notifications are
// refused with the provider's failure answer and the refund stays in flight.
func TestBadRefundNotificationsChangeNothing(t *testing.T) {
	f, r := refundInFlight(t, "refund-guarded", "8.00", 800)
	o := f.Get("refund-guarded")
	genuine := refundEvent("evt_refund_bad", "refund.succeeded", o, r, 800)
	otherAmount := refundEvent("evt_refund_amount", "refund.succeeded", o, r, 1)
	wrongKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		why  string
		body []byte
		sig  string
	}{
		{"forged", "signed with a key that is not the gateway's", genuine, gateway.SignPayload(wrongKey, time.Now(), genuine)},
		{"tampered", "a genuine signature over other bytes", otherAmount, signed(genuine, time.Now())},
		{"unsigned", "no signature at all", genuine, ""},
		{"stale", "a genuine signature from ten minutes ago, outside the window", genuine, signed(genuine, time.Now().Add(-10*time.Minute))},
		{"another amount", "genuinely signed, but not this refund's amount", otherAmount, signed(otherAmount, time.Now())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, answer := post(t, notifyURL(mgr.CallbackURL, f), tt.body, tt.sig)
			if code == 200 || answer == "success" {
				t.Fatalf("%s: answered %d %q, want the provider's failure answer", tt.why, code, answer)
			}
			got := &v1.PaymentRefund{}
			if err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(r), got); err != nil {
				t.Fatal(err)
			}
			if got.Status.Phase != v1.RefundProcessing {
				t.Fatalf("%s: the refund moved to %s", tt.why, got.Status.Phase)
			}
		})
	}
}
