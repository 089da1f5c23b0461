package settle

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
)

// Unsettled reports whether money can still move for the order, or it holds money to give back:
// it is open (a payment may be paid), being deleted (its close or its record is pending), has a
// refund in flight, or records a late payment not yet refunded. What an unsettled order needs
// (its provider, its finalizer, a place in the manager's cache) must stay.
func Unsettled(o *v1.PaymentOrder) bool { return unsettled(o, &o.Status) }

// unsettled is Unsettled of o as it will be once s is written.
func unsettled(o *v1.PaymentOrder, s *v1.PaymentOrderStatus) bool {
	if !s.Phase.Terminal() || !o.DeletionTimestamp.IsZero() ||
		meta.IsStatusConditionTrue(s.Conditions, v1.ConditionLatePayment) {
		return true
	}
	for _, r := range s.Refunds {
		if r.State == v1.RefundReserved {
			return true
		}
	}
	return false
}

// NotePaidWhileDeleting marks next, the status about to be written on order, when it makes an
// order that is being deleted Paid: the finalizer then keeps the order as the record of money
// that moved while nobody wanted it, instead of letting the object go.
func NotePaidWhileDeleting(order *v1.PaymentOrder, next *v1.PaymentOrderStatus, now time.Time) {
	if order.DeletionTimestamp.IsZero() || next.Phase != v1.PhasePaid || order.Status.Phase == v1.PhasePaid {
		return
	}
	meta.SetStatusCondition(&next.Conditions, metav1.Condition{
		Type: v1.ConditionPaidWhileDeleting, Status: metav1.ConditionTrue, Reason: v1.ReasonPaidBeforeDeletion,
		LastTransitionTime: metav1.NewTime(now), ObservedGeneration: order.Generation,
		Message: "the payment succeeded while the order was being deleted; the order is kept as the record of the money until it is refunded (or remove the finalizer to release it)",
	})
}
