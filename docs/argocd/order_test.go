package argocd_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/settle"
)

func orderObject(t *testing.T, s v1.PaymentOrderStatus) map[string]any {
	t.Helper()
	o := &v1.PaymentOrder{
		ObjectMeta: metav1.ObjectMeta{Name: "coffee-order-1001", Namespace: "shop", Generation: generation},
		Spec: v1.PaymentOrderSpec{ProviderRef: v1.ProviderReference{Name: "sandbox"}, Amount: "25.00", Currency: "CNY",
			Channel: "sandbox", Subject: "Flat white"},
		Status: s,
	}
	return unstructuredOf(t, o, "PaymentOrder")
}

// writtenOrder is an order with s as kubepay writes it: observedGeneration and the kstatus
// conditions set by internal/settle, every condition stamped with the generation.
func writtenOrder(t *testing.T, s v1.PaymentOrderStatus) map[string]any {
	t.Helper()
	s.ObservedGeneration = generation
	settle.OrderHealth(&v1.PaymentOrder{ObjectMeta: metav1.ObjectMeta{Generation: generation}}, &s, now)
	return orderObject(t, s)
}

// rawOrder is an order with s exactly as given: written by a kubepay from before the kstatus
// conditions, or made by hand.
func rawOrder(t *testing.T, s v1.PaymentOrderStatus) map[string]any {
	t.Helper()
	if s.ObservedGeneration == 0 {
		s.ObservedGeneration = generation
	}
	return orderObject(t, s)
}

func late(refund string, refunded bool) []v1.LatePayment {
	return []v1.LatePayment{{ID: "txn_late_1", Amount: "25.00", AmountMinor: 2500, ReceivedAt: metav1.NewTime(now),
		Source: v1.SourceNotification, Phase: v1.PhaseExpired, Refund: refund, Refunded: refunded}}
}

func reserved(name, latePaymentID string) []v1.RefundReservation {
	return []v1.RefundReservation{{Name: name, OutRefundNo: "R-" + name, AmountMinor: 2500, State: v1.RefundReserved, LatePaymentID: latePaymentID}}
}

// TestPaymentOrderHealth: every phase, each condition kubepay sets, and objects missing status,
// conditions or a current observedGeneration.
func TestPaymentOrderHealth(t *testing.T) {
	const (
		T = metav1.ConditionTrue
		F = metav1.ConditionFalse
	)
	awaiting := func() []metav1.Condition {
		return conds(ready(T, v1.ReasonAwaitingPayment, "pay at the checkout page"))
	}
	settled := func(p v1.Phase, message string) v1.PaymentOrderStatus {
		return v1.PaymentOrderStatus{Phase: p, Conditions: conds(ready(T, string(p), message))}
	}
	lateRefundName := "coffee-order-1001-late-0a1b2c3d4e"
	cases := []healthCase{
		{"no status", "kubepay has not reconciled the order yet",
			without(orderObject(t, v1.PaymentOrderStatus{}), "status"), "Progressing", "waiting for kubepay to create the payment", false},
		{"empty status", "an empty status is an order kubepay has not written yet",
			rawOrder(t, v1.PaymentOrderStatus{}), "Progressing", "creating the payment", false},
		{"new", "kubepay wrote its first status and is creating the payment",
			writtenOrder(t, v1.PaymentOrderStatus{}), "Progressing", "Creating", true},
		{"pending", "the payment is being created at the provider",
			writtenOrder(t, v1.PaymentOrderStatus{Phase: v1.PhasePending, Conditions: conds(ready(F, v1.ReasonCreating, "creating"))}),
			"Progressing", "Creating", true},
		{"pending, provider error", "the provider failed in a way worth retrying: kubepay retries on its own",
			writtenOrder(t, v1.PaymentOrderStatus{Phase: v1.PhasePending, Conditions: conds(ready(F, v1.ReasonProviderError, "gateway timeout"))}),
			"Progressing", "ProviderError): gateway timeout", true},
		{"pending, credentials refused", "the order waits for the credentials Secret and resumes when it changes; the provider shows the Secret is wrong",
			writtenOrder(t, v1.PaymentOrderStatus{Phase: v1.PhasePending, Conditions: conds(ready(F, v1.ReasonCredentialsInvalid, "refused"))}),
			"Progressing", "CredentialsInvalid", true},
		{"pending, provider missing", "the order's PaymentProvider is not there yet; a GitOps sync may create it next",
			writtenOrder(t, v1.PaymentOrderStatus{Phase: v1.PhasePending, Conditions: conds(ready(F, v1.ReasonProviderNotFound, "no PaymentProvider sandbox"))}),
			"Progressing", "ProviderNotFound", true},
		{"awaiting payment", "kubepay did its part; an open checkout is what Git asked for, and the app must not stay Progressing until a customer pays",
			writtenOrder(t, v1.PaymentOrderStatus{Phase: v1.PhaseAwaitingPayment, PaymentURL: "https://pay.example/c/1", Conditions: awaiting()}),
			"Healthy", "awaiting payment (checkout URL in status.paymentURL)", true},
		{"awaiting payment, notification rejected", "a notification that did not match is worth a look but needs nothing from kubepay or a person to go on",
			writtenOrder(t, v1.PaymentOrderStatus{Phase: v1.PhaseAwaitingPayment, Conditions: append(awaiting(),
				cond(v1.ConditionNotificationRejected, T, v1.ReasonNotificationRejected, "amount 1.00 is not 25.00"))}),
			"Healthy", "awaiting payment (checkout URL in status.paymentURL); NotificationRejected: amount 1.00 is not 25.00", true},
		{"paid", "settled as wanted", writtenOrder(t, settled(v1.PhasePaid, "order is Paid")), "Healthy", "Paid: order is Paid", true},
		{"partially refunded", "settled; part of the money went back", writtenOrder(t, settled(v1.PhasePartiallyRefunded, "5.00 of 25.00 refunded")),
			"Healthy", "PartiallyRefunded: 5.00 of 25.00 refunded", true},
		{"refunded", "settled; all the money went back", writtenOrder(t, settled(v1.PhaseRefunded, "25.00 of 25.00 refunded")), "Healthy", "Refunded", true},
		{"expired", "settled without money, as the order's expiry asked", writtenOrder(t, settled(v1.PhaseExpired, "not paid in time")), "Healthy", "Expired", true},
		{"cancelled", "settled without money: the payment was closed", writtenOrder(t, settled(v1.PhaseCancelled, "closed at the provider")), "Healthy", "Cancelled", true},
		{"paid, refund in flight", "kubepay is giving money back; the order is done when the provider answers",
			writtenOrder(t, v1.PaymentOrderStatus{Phase: v1.PhasePaid, Conditions: conds(ready(T, v1.ReasonPaid, "paid")), Refunds: reserved("refund-1", "")}),
			"Progressing", "RefundProcessing", true},
		{"failed", "the order will not be paid: a person decides what next, so the app should show it",
			writtenOrder(t, v1.PaymentOrderStatus{Phase: v1.PhaseFailed, Conditions: conds(ready(F, v1.ReasonProviderRejected, "card declined"))}),
			"Degraded", "Failed (ProviderRejected): card declined", true},
		{"invalid amount", "the spec cannot be paid as written; only a new order helps",
			writtenOrder(t, v1.PaymentOrderStatus{Conditions: conds(ready(F, v1.ReasonInvalidAmount, "1.234 has too many digits for CNY"))}),
			"Degraded", "Stalled (InvalidAmount): 1.234 has too many digits for CNY", true},
		{"close blocked", "a deleted order's open payment cannot be closed (Argo CD itself shows a deleted object as Progressing, Pending deletion, without running the script)",
			writtenOrder(t, v1.PaymentOrderStatus{Phase: v1.PhaseAwaitingPayment, Conditions: append(awaiting(),
				cond(v1.ConditionCloseBlocked, T, v1.ReasonProviderNotFound, "the provider is gone; the payment stays payable"))}),
			"Degraded", "Stalled (ProviderNotFound): the provider is gone", true},
		{"late payment, no refund", "money arrived after the order expired and, with latePayments: Record, no refund gives it back: a person must",
			writtenOrder(t, v1.PaymentOrderStatus{Phase: v1.PhaseExpired, Conditions: conds(ready(T, v1.ReasonExpired, "expired")), LatePayments: late("", false)}),
			"Degraded", "LatePayment", true},
		{"late payment, refund created", "kubepay created the refund that gives the late money back and it is not reserved yet; the order is not done until it succeeds (kstatus reads Current here: no condition says so)",
			writtenOrder(t, v1.PaymentOrderStatus{Phase: v1.PhaseExpired, Conditions: conds(ready(T, v1.ReasonExpired, "expired")), LatePayments: late(lateRefundName, false)}),
			"Progressing", "PaymentRefund " + lateRefundName + " gives it back", false},
		{"late payment, refund in flight", "the late money's refund is reserved and sent: kubepay is at work",
			writtenOrder(t, v1.PaymentOrderStatus{Phase: v1.PhaseExpired, Conditions: conds(ready(T, v1.ReasonExpired, "expired")),
				LatePayments: late(lateRefundName, false), Refunds: reserved(lateRefundName, "txn_late_1")}),
			"Progressing", "RefundProcessing", true},
		{"late payment, refund by hand in flight", "with latePayments: Record a person refunds the late money with a PaymentRefund of their own (spec.latePaymentID); its reservation on the order is the refund at work",
			writtenOrder(t, v1.PaymentOrderStatus{Phase: v1.PhaseExpired, Conditions: conds(ready(T, v1.ReasonExpired, "expired")),
				LatePayments: late("", false), Refunds: reserved("give-back-1", "txn_late_1")}),
			"Progressing", "RefundProcessing", true},
		{"late payment, refunded", "the late money went back: nothing is left to do",
			writtenOrder(t, v1.PaymentOrderStatus{Phase: v1.PhaseExpired, Conditions: conds(ready(T, v1.ReasonExpired, "expired")), LatePayments: late(lateRefundName, true)}),
			"Healthy", "Expired", true},
		{"stale observedGeneration", "the object changed since kubepay last wrote its status (a generation bump): its conditions describe the old one",
			with(writtenOrder(t, settled(v1.PhasePaid, "paid")), "metadata.generation", int64(generation+1)),
			"Progressing", "waiting for kubepay to observe generation 4 (status is of generation 3)", true},
		{"stale condition", "status.observedGeneration is current but Stalled describes an older generation: it may no longer hold",
			rawOrder(t, v1.PaymentOrderStatus{Phase: v1.PhasePending, Conditions: conds(
				metav1.Condition{Type: v1.ConditionStalled, Status: T, Reason: v1.ReasonInvalidAmount, ObservedGeneration: generation - 1, LastTransitionTime: metav1.NewTime(now)})}),
			"Progressing", "condition Stalled is of generation 2", false},
		{"no observedGeneration", "a status without observedGeneration says nothing about generations (as kstatus reads it): the phase decides",
			without(rawOrder(t, settled(v1.PhasePaid, "paid")), "status.observedGeneration"), "Healthy", "Paid", true},
		{"no generation", "an object without metadata.generation (hand-made) is judged by its status alone",
			without(rawOrder(t, settled(v1.PhasePaid, "paid")), "metadata.generation"), "Healthy", "Paid", false},
		{"paid, no kstatus conditions", "written by a kubepay from before Reconciling and Stalled: Paid is settled",
			rawOrder(t, settled(v1.PhasePaid, "paid")), "Healthy", "Paid: paid", false},
		{"awaiting payment, no conditions", "no conditions at all: the phase says the checkout is open",
			rawOrder(t, v1.PaymentOrderStatus{Phase: v1.PhaseAwaitingPayment}), "Healthy", "awaiting payment", false},
		{"failed, no kstatus conditions", "a Failed order is Degraded whether or not Stalled was written",
			rawOrder(t, v1.PaymentOrderStatus{Phase: v1.PhaseFailed, Conditions: conds(ready(F, v1.ReasonFailed, "payment failed"))}),
			"Degraded", "Failed (Failed): payment failed", false},
		{"failed, no conditions", "a Failed order with no Ready condition is still Degraded",
			rawOrder(t, v1.PaymentOrderStatus{Phase: v1.PhaseFailed}), "Degraded", "Failed: the order will not be paid", false},
		{"refund reserved, no Reconciling", "a refund in flight without Reconciling written is still work in progress",
			rawOrder(t, v1.PaymentOrderStatus{Phase: v1.PhasePaid, Conditions: conds(ready(T, v1.ReasonPaid, "paid")), Refunds: reserved("refund-1", "")}),
			"Progressing", "PaymentRefund refund-1 is in flight", false},
		{"late payment, no refund, no Stalled", "unwanted money with no refund needs a person whether or not Stalled was written",
			rawOrder(t, v1.PaymentOrderStatus{Phase: v1.PhaseCancelled, LatePayments: late("", false)}),
			"Degraded", "LatePayment: 25.00 (payment txn_late_1) arrived after the order closed", false},
		{"pending, no kstatus conditions", "a Pending order without Reconciling is still being created",
			rawOrder(t, v1.PaymentOrderStatus{Phase: v1.PhasePending, Conditions: conds(ready(F, v1.ReasonProviderError, "timeout"))}),
			"Progressing", "Pending (ProviderError): timeout", false},
		{"unknown phase", "a phase this script does not know (a newer kubepay) is not guessed at",
			with(rawOrder(t, settled(v1.PhasePaid, "paid")), "status.phase", "Disputed"), "Unknown", "unknown phase Disputed", false},
	}
	runCases(t, "PaymentOrder", cases)
}
