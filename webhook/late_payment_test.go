package webhook_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/api/meta"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/metrics"
	"github.com/kubepay/kubepay/internal/testenv"
	"github.com/kubepay/kubepay/internal/testfixture"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
)

// TestLatePaymentIsRecordedDurably: money that succeeds for an order already Expired used to be
// acknowledged with only a Warning Event (gone within the hour) and counted as a duplicate. It is
// recorded in the order's status, counted as its own result, and recorded once however often the
// provider delivers it.
func TestLatePaymentIsRecordedDurably(t *testing.T) {
	f := testfixture.New(t, env, gateway.Options{}, noQuery)
	f.Order("too-late", "12.00", "CNY", 2*time.Second)
	o := f.WaitPhase("too-late", v1.PhaseExpired, 30*time.Second)
	before := testutil.ToFloat64(metrics.Notifications.WithLabelValues("sandbox", "late_payment"))

	body := notification("evt_late", "payment.succeeded", o, 1200, "CNY")
	for i := range 3 {
		if code, answer := post(t, notifyURL(mgr.CallbackURL, f), body, signed(body, time.Now())); code != 200 || answer != "success" {
			t.Fatalf("delivery %d of the late payment answered %d %q, want 200 success (redelivery cannot undo it)", i, code, answer)
		}
	}
	got := f.Get("too-late")
	if got.Status.Phase != v1.PhaseExpired || len(got.Status.LatePayments) != 1 {
		t.Fatalf("late payment: phase %q late payments %+v, want Expired with exactly one record", got.Status.Phase, got.Status.LatePayments)
	}
	lp := got.Status.LatePayments[0]
	if lp.Amount != "12.00" || lp.AmountMinor != 1200 || lp.ID != o.Status.ProviderPaymentID || lp.NotificationID != "evt_late" || lp.Phase != v1.PhaseExpired {
		t.Errorf("late payment record %+v does not carry the payment, amount, notification and phase", lp)
	}
	if !meta.IsStatusConditionTrue(got.Status.Conditions, v1.ConditionLatePayment) {
		t.Errorf("no True %s condition: %+v", v1.ConditionLatePayment, got.Status.Conditions)
	}
	if after := testutil.ToFloat64(metrics.Notifications.WithLabelValues("sandbox", "late_payment")); after-before != 1 {
		t.Errorf("late_payment notifications counted %v times, want 1 (the redeliveries are duplicates)", after-before)
	}
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		n := len(events(t, f.NS, "too-late", v1.ReasonLatePayment))
		return n == 1, fmt.Sprintf("%d LatePayment Events, want 1", n)
	})
}
