package providertest

import (
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/testenv"
)

// In is e for the subtest t: its failures end t; the control plane, manager and namespace are
// e's.
func (e *E2E) In(t *testing.T) *E2E {
	c := *e
	c.T = t
	return &c
}

// CreateRefund makes a PaymentRefund giving back amount of the PaymentOrder order; refundID ""
// lets kubepay derive the refund number from the object's UID.
func (e *E2E) CreateRefund(name, order, amount, refundID string) {
	e.T.Helper()
	r := &v1.PaymentRefund{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.NS, Name: name},
		Spec:       v1.PaymentRefundSpec{OrderRef: v1.LocalObjectReference{Name: order}, Amount: amount, Reason: "customer asked", RefundID: refundID},
	}
	if err := e.Env.Client.Create(e.T.Context(), r); err != nil {
		e.T.Fatalf("creating PaymentRefund %s/%s of %s on order %s: %v", e.NS, name, amount, order, err)
	}
}

// Refund reads the PaymentRefund name.
func (e *E2E) Refund(name string) *v1.PaymentRefund {
	e.T.Helper()
	r := &v1.PaymentRefund{}
	if err := e.Env.Client.Get(e.T.Context(), client.ObjectKey{Namespace: e.NS, Name: name}, r); err != nil {
		e.T.Fatalf("reading PaymentRefund %s/%s: %v", e.NS, name, err)
	}
	return r
}

// WaitRefund waits up to E2ETimeout for the PaymentRefund name to reach phase and returns it.
func (e *E2E) WaitRefund(name string, phase v1.RefundPhase) *v1.PaymentRefund {
	e.T.Helper()
	var r *v1.PaymentRefund
	testenv.Eventually(e.T, E2ETimeout, func() (bool, string) {
		r = e.Refund(name)
		return r.Status.Phase == phase, fmt.Sprintf("PaymentRefund %s/%s is %q (history %+v, conditions %+v), want %s",
			e.NS, name, r.Status.Phase, r.Status.History, r.Status.Conditions, phase)
	})
	return r
}

// WaitRefunded waits up to E2ETimeout until the PaymentOrder name is in phase with
// refundedAmount refunded and no reservation in flight, and returns it.
func (e *E2E) WaitRefunded(name string, phase v1.Phase, refunded string) *v1.PaymentOrder {
	e.T.Helper()
	var o *v1.PaymentOrder
	testenv.Eventually(e.T, E2ETimeout, func() (bool, string) {
		o = e.Get(name)
		return o.Status.Phase == phase && o.Status.RefundedAmount == refunded && Reserved(o) == 0,
			fmt.Sprintf("PaymentOrder %s/%s is %q with refundedAmount %q and refunds %+v, want %s with %s and nothing reserved",
				e.NS, name, o.Status.Phase, o.Status.RefundedAmount, o.Status.Refunds, phase, refunded)
	})
	return o
}

// Reservation is the order's ledger entry for the PaymentRefund name.
func Reservation(o *v1.PaymentOrder, name string) (v1.RefundReservation, bool) {
	for _, r := range o.Status.Refunds {
		if r.Name == name {
			return r, true
		}
	}
	return v1.RefundReservation{}, false
}

// Reserved sums the order's reservations still in flight, in minor units.
func Reserved(o *v1.PaymentOrder) int64 {
	var n int64
	for _, r := range o.Status.Refunds {
		if r.State == v1.RefundReserved {
			n += r.AmountMinor
		}
	}
	return n
}

// LastRefundTransition is the newest entry of the refund's history (zero when it has none).
func LastRefundTransition(r *v1.PaymentRefund) v1.RefundTransition {
	if n := len(r.Status.History); n > 0 {
		return r.Status.History[n-1]
	}
	return v1.RefundTransition{}
}
