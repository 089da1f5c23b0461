package controllers_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/testenv"
	"github.com/kubepay/kubepay/internal/testfixture"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
	"github.com/kubepay/kubepay/providers/sandbox/gatewaytest"
)

// Refunds on a real API server against the sandbox gateway: created once, counted once, never
// more than was paid, never lost.

// quickRefunds settles gateway refunds fast and queries them often, so tests wait seconds.
var quickRefunds = gateway.Options{RefundDelay: 200 * time.Millisecond}

// paidOrder creates an order and pays it through the gateway.
func paidOrder(t *testing.T, f *testfixture.Fixture, name, amount string) *v1.PaymentOrder {
	t.Helper()
	f.Order(name, amount, "CNY", 30*time.Minute)
	o := f.WaitPhase(name, v1.PhaseAwaitingPayment, 30*time.Second)
	f.Pay(o.Status.ProviderPaymentID, "succeeded")
	return f.WaitPhase(name, v1.PhasePaid, 30*time.Second)
}

func createRefund(t *testing.T, f *testfixture.Fixture, name, order, amount, refundID string) *v1.PaymentRefund {
	t.Helper()
	r := &v1.PaymentRefund{ObjectMeta: metav1.ObjectMeta{Namespace: f.NS, Name: name},
		Spec: v1.PaymentRefundSpec{OrderRef: v1.LocalObjectReference{Name: order}, Amount: amount, Reason: "customer asked", RefundID: refundID}}
	if err := env.Client.Create(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

func getRefund(t *testing.T, f *testfixture.Fixture, name string) *v1.PaymentRefund {
	t.Helper()
	r := &v1.PaymentRefund{}
	if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: f.NS, Name: name}, r); err != nil {
		t.Fatalf("reading PaymentRefund %s: %v", name, err)
	}
	return r
}

func waitRefund(t *testing.T, f *testfixture.Fixture, name string, phase v1.RefundPhase) *v1.PaymentRefund {
	t.Helper()
	var r *v1.PaymentRefund
	testenv.Eventually(t, 60*time.Second, func() (bool, string) {
		r = getRefund(t, f, name)
		return r.Status.Phase == phase, fmt.Sprintf("refund %s is %q (conditions %+v), want %s", name, r.Status.Phase, r.Status.Conditions, phase)
	})
	return r
}

func lastRefundReason(r *v1.PaymentRefund) string {
	if n := len(r.Status.History); n > 0 {
		return r.Status.History[n-1].Reason
	}
	return ""
}

// TestFullRefund: a refund of the whole payment succeeds at the gateway and the order is Refunded.
func TestFullRefund(t *testing.T) {
	f := testfixture.New(t, env, quickRefunds, testfixture.Provider{})
	o := paidOrder(t, f, "full", "25.00")
	createRefund(t, f, "full-back", "full", "25.00", "")
	r := waitRefund(t, f, "full-back", v1.RefundSucceeded)
	if r.Status.RefundedAt == nil || r.Status.ProviderRefundID == "" || r.Status.AmountMinor != 2500 || r.Status.Currency != "CNY" {
		t.Errorf("succeeded refund lacks its time, id, amount or currency: %+v", r.Status)
	}
	got := f.WaitPhase("full", v1.PhaseRefunded, 30*time.Second)
	if got.Status.RefundedAmount != "25.00" {
		t.Errorf("refundedAmount %q, want 25.00", got.Status.RefundedAmount)
	}
	pr := f.GW.Stats().RefundsFor(o.Status.OutTradeNo)
	if pr.RefundedTotal != 2500 || pr.Executions[r.Status.OutRefundNo] != 1 {
		t.Errorf("gateway refunded %d with executions %v, want 2500 once", pr.RefundedTotal, pr.Executions)
	}
	waitEvent(t, f.NS, "full", v1.ReasonRefunded)
}

// TestTwoPartialRefunds: Paid -> PartiallyRefunded -> Refunded as two refunds succeed.
func TestTwoPartialRefunds(t *testing.T) {
	f := testfixture.New(t, env, quickRefunds, testfixture.Provider{})
	paidOrder(t, f, "parts", "10.00")
	createRefund(t, f, "part-1", "parts", "4.00", "")
	waitRefund(t, f, "part-1", v1.RefundSucceeded)
	o := f.WaitPhase("parts", v1.PhasePartiallyRefunded, 30*time.Second)
	if o.Status.RefundedAmount != "4.00" {
		t.Errorf("after the first refund refundedAmount %q, want 4.00", o.Status.RefundedAmount)
	}
	createRefund(t, f, "part-2", "parts", "6.00", "")
	waitRefund(t, f, "part-2", v1.RefundSucceeded)
	if o = f.WaitPhase("parts", v1.PhaseRefunded, 30*time.Second); o.Status.RefundedAmount != "10.00" {
		t.Errorf("after both refunds refundedAmount %q, want 10.00", o.Status.RefundedAmount)
	}
}

// TestConcurrentRefundsNeverExceedThePayment: five refunds of 40% each, created at once. At
// most two can succeed; the rest fail with ExceedsRefundable; the gateway never refunds more than
// the payment.
func TestConcurrentRefundsNeverExceedThePayment(t *testing.T) {
	f := testfixture.New(t, env, quickRefunds, testfixture.Provider{})
	o := paidOrder(t, f, "rush", "10.00")
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() { createRefund(t, f, fmt.Sprintf("rush-%d", i), "rush", "4.00", "") })
	}
	wg.Wait()
	succeeded, exceeded := 0, 0
	for i := range 5 {
		name := fmt.Sprintf("rush-%d", i)
		testenv.Eventually(t, 60*time.Second, func() (bool, string) {
			r := getRefund(t, f, name)
			return r.Status.Phase.Terminal(), fmt.Sprintf("refund %s is %q", name, r.Status.Phase)
		})
		r := getRefund(t, f, name)
		switch {
		case r.Status.Phase == v1.RefundSucceeded:
			succeeded++
		case lastRefundReason(r) == v1.ReasonExceedsRefundable:
			exceeded++
		default:
			t.Errorf("refund %s ended %s/%s, want Succeeded or ExceedsRefundable", name, r.Status.Phase, lastRefundReason(r))
		}
	}
	if succeeded != 2 || exceeded != 3 {
		t.Errorf("%d succeeded and %d exceeded, want 2 and 3", succeeded, exceeded)
	}
	pr := f.GW.Stats().RefundsFor(o.Status.OutTradeNo)
	if pr.RefundedTotal+pr.PendingTotal > 1000 {
		t.Errorf("gateway refunded %d (+%d pending) of a 1000 payment", pr.RefundedTotal, pr.PendingTotal)
	}
	// A refund is Succeeded before its booking on the order is written (a second write), so the
	// order gets there a moment later.
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		got := env.Order(t, f.NS, "rush")
		reserved := 0
		for _, res := range got.Status.Refunds {
			if res.State == v1.RefundReserved {
				reserved++
			}
		}
		return got.Status.Phase == v1.PhasePartiallyRefunded && got.Status.RefundedAmountMinor == 800 && reserved == 0,
			fmt.Sprintf("order %s refunded %d with %d reservations left, want PartiallyRefunded, 800 and none", got.Status.Phase, got.Status.RefundedAmountMinor, reserved)
	})
}

// TestRefundOfUnpaidOrder fails at once without any provider call.
func TestRefundOfUnpaidOrder(t *testing.T) {
	f := testfixture.New(t, env, quickRefunds, testfixture.Provider{})
	f.Order("unpaid", "3.00", "CNY", 30*time.Minute)
	o := f.WaitPhase("unpaid", v1.PhaseAwaitingPayment, 30*time.Second)
	createRefund(t, f, "too-soon", "unpaid", "3.00", "")
	r := waitRefund(t, f, "too-soon", v1.RefundFailed)
	if lastRefundReason(r) != v1.ReasonOrderNotPaid {
		t.Errorf("refund of an unpaid order failed with %q, want %s", lastRefundReason(r), v1.ReasonOrderNotPaid)
	}
	if n := f.GW.Stats().RefundsFor(o.Status.OutTradeNo).Count; n != 0 {
		t.Errorf("the gateway got %d refunds for an unpaid order", n)
	}
}

// TestRefundIDReused: a second refund with the same refundID fails with DuplicateRefundID and
// never reaches the provider.
func TestRefundIDReused(t *testing.T) {
	f := testfixture.New(t, env, quickRefunds, testfixture.Provider{})
	o := paidOrder(t, f, "twice", "10.00")
	createRefund(t, f, "first-ask", "twice", "2.00", "RF_SAME_0001")
	waitRefund(t, f, "first-ask", v1.RefundSucceeded)
	createRefund(t, f, "second-ask", "twice", "3.00", "RF_SAME_0001")
	r := waitRefund(t, f, "second-ask", v1.RefundFailed)
	if lastRefundReason(r) != v1.ReasonDuplicateRefundID {
		t.Errorf("reused refundID failed with %q, want %s", lastRefundReason(r), v1.ReasonDuplicateRefundID)
	}
	if pr := f.GW.Stats().RefundsFor(o.Status.OutTradeNo); pr.Count != 1 || pr.RefundedTotal != 200 {
		t.Errorf("gateway has %d refunds totalling %d, want the first one only", pr.Count, pr.RefundedTotal)
	}
}

// TestProviderRefusalReleasesTheReservation: the gateway refuses (part of the payment was refunded
// outside kubepay); the refund fails with the provider's reason and its amount is free again.
func TestProviderRefusalReleasesTheReservation(t *testing.T) {
	f := testfixture.New(t, env, quickRefunds, testfixture.Provider{})
	o := paidOrder(t, f, "outside", "10.00")
	refundAtGateway(t, f, o.Status.ProviderPaymentID, "DASHBOARD_REFUND_1", 800)
	createRefund(t, f, "too-much", "outside", "5.00", "")
	r := waitRefund(t, f, "too-much", v1.RefundFailed)
	c := meta.FindStatusCondition(r.Status.Conditions, v1.ConditionReady)
	if lastRefundReason(r) != v1.ReasonExceedsRefundable || c == nil || !strings.Contains(c.Message, "refund_exceeds_payment") {
		t.Errorf("refused refund ended with %q, condition %+v; want ExceedsRefundable with the provider's reason", lastRefundReason(r), c)
	}
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		got := f.Get("outside")
		return len(got.Status.Refunds) == 0, fmt.Sprintf("reservations %+v, want the refused one released", got.Status.Refunds)
	})
	createRefund(t, f, "what-is-left", "outside", "2.00", "")
	waitRefund(t, f, "what-is-left", v1.RefundSucceeded)
}

// refundAtGateway refunds a payment directly at the gateway, as the provider's dashboard would.
func refundAtGateway(t *testing.T, f *testfixture.Fixture, paymentID, number string, amount int64) {
	t.Helper()
	body := fmt.Sprintf(`{"out_refund_no":%q,"amount":%d,"reason":"dashboard"}`, number, amount)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, f.URL+"/v1/payments/"+paymentID+"/refunds", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+gatewaytest.APIKey)
	req.Header.Set("Idempotency-Key", number)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("refunding at the gateway: HTTP %d", resp.StatusCode)
	}
}

// TestLostRefundNotificationsCaughtByQuery: every refund notification is dropped; the refund
// still ends Succeeded, by the controller's query.
func TestLostRefundNotificationsCaughtByQuery(t *testing.T) {
	opts := quickRefunds
	opts.DropFirst = 1000
	f := testfixture.New(t, env, opts, testfixture.Provider{})
	paidOrder(t, f, "quiet", "5.00")
	createRefund(t, f, "quiet-back", "quiet", "5.00", "")
	r := waitRefund(t, f, "quiet-back", v1.RefundSucceeded)
	if last := r.Status.History[len(r.Status.History)-1]; last.Source != v1.SourceQuery {
		t.Errorf("refund succeeded by %s, want by query (every notification was dropped)", last.Source)
	}
	f.WaitPhase("quiet", v1.PhaseRefunded, 30*time.Second)
}

// mgrCallback is the suite manager's callback server, where the gateway sends notifications.
func mgrCallback() string {
	if suiteManager == nil {
		return "" // -short: the test skips in testfixture.New
	}
	return suiteManager.CallbackURL
}

// setLatePolicy sets the fixture provider's spec.latePayments.
func setLatePolicy(t *testing.T, f *testfixture.Fixture, policy v1.LatePaymentPolicy) {
	t.Helper()
	// The provider controller writes the object too (its finalizer): retry on its conflicts.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pp := provider(t, f)
		pp.Spec.LatePayments = policy
		return env.Client.Update(t.Context(), pp)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// payLate pays a closed or expired payment, the race real providers have (a test aid of the
// sandbox gateway).
func payLate(t *testing.T, f *testfixture.Fixture, paymentID string) {
	t.Helper()
	resp, err := http.Post(f.URL+"/v1/payments/"+paymentID+"/pay", "application/json", strings.NewReader(`{"outcome":"succeeded","late":true}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("paying %s late: HTTP %d", paymentID, resp.StatusCode)
	}
}

// TestOrderWaitsForItsRefundBeforeGoing: deleting an order whose refund is in flight keeps the
// order until the refund has settled and been counted.
func TestOrderWaitsForItsRefundBeforeGoing(t *testing.T) {
	f := testfixture.New(t, env, gateway.Options{RefundDelay: -1}, testfixture.Provider{})
	paidOrder(t, f, "leaving", "7.00")
	createRefund(t, f, "leaving-back", "leaving", "7.00", "")
	r := waitRefund(t, f, "leaving-back", v1.RefundProcessing)
	o := f.Get("leaving")
	if err := env.Client.Delete(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, f.NS, "leaving", v1.ReasonRefundInFlight)
	if ok, _ := gone(t, o); ok {
		t.Fatal("the order went while its refund was in flight")
	}
	completeRefundAtGateway(t, f, r.Status.ProviderRefundID, "succeeded")
	waitRefund(t, f, "leaving-back", v1.RefundSucceeded)
	testenv.Eventually(t, 60*time.Second, func() (bool, string) { return gone(t, o) })
}

func completeRefundAtGateway(t *testing.T, f *testfixture.Fixture, refundID, outcome string) {
	t.Helper()
	resp, err := http.Post(f.URL+"/v1/refunds/"+refundID+"/complete", "application/json", strings.NewReader(`{"outcome":"`+outcome+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("completing refund %s at the gateway: HTTP %d", refundID, resp.StatusCode)
	}
}

// TestLatePaymentIsRefundedAutomatically: money that arrives for an Expired order is refunded in
// full by a PaymentRefund kubepay creates once; with latePayments: Record it is only recorded.
func TestLatePaymentIsRefundedAutomatically(t *testing.T) {
	for _, policy := range []v1.LatePaymentPolicy{v1.LatePaymentsRefund, v1.LatePaymentsRecord} {
		t.Run(string(policy), func(t *testing.T) {
			f := testfixture.New(t, env, quickRefunds, testfixture.Provider{CallbackBaseURL: mgrCallback()})
			setLatePolicy(t, f, policy)
			f.Order("late", "9.00", "CNY", 3*time.Second)
			o := f.WaitPhase("late", v1.PhaseExpired, 30*time.Second)
			payLate(t, f, o.Status.ProviderPaymentID)
			testenv.Eventually(t, 30*time.Second, func() (bool, string) {
				got := f.Get("late")
				return len(got.Status.LatePayments) == 1, fmt.Sprintf("late payments %+v, want one recorded", got.Status.LatePayments)
			})
			list := &v1.PaymentRefundList{}
			if policy == v1.LatePaymentsRecord {
				got := f.Get("late")
				if err := env.Client.List(t.Context(), list, client.InNamespace(f.NS)); err != nil {
					t.Fatal(err)
				}
				if len(list.Items) != 0 || !meta.IsStatusConditionTrue(got.Status.Conditions, v1.ConditionLatePayment) {
					t.Fatalf("Record policy: %d refunds, LatePayment %v; want none and the record kept", len(list.Items), got.Status.Conditions)
				}
				return
			}
			testenv.Eventually(t, 60*time.Second, func() (bool, string) {
				got := f.Get("late")
				return len(got.Status.LatePayments) == 1 && got.Status.LatePayments[0].Refunded &&
						!meta.IsStatusConditionTrue(got.Status.Conditions, v1.ConditionLatePayment),
					fmt.Sprintf("late payments %+v conditions %+v, want refunded", got.Status.LatePayments, got.Status.Conditions)
			})
			if err := env.Client.List(t.Context(), list, client.InNamespace(f.NS)); err != nil {
				t.Fatal(err)
			}
			if len(list.Items) != 1 || list.Items[0].Status.Phase != v1.RefundSucceeded || list.Items[0].Spec.Amount != "9.00" {
				t.Fatalf("want exactly one Succeeded refund of 9.00, got %d: %+v", len(list.Items), list.Items)
			}
			if got := f.Get("late"); got.Status.Phase != v1.PhaseExpired {
				t.Errorf("the refunded late payment moved the order to %s", got.Status.Phase)
			}
		})
	}
}
