package settle

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
)

// Health conditions follow kstatus (sigs.k8s.io/cli-utils/pkg/kstatus): Reconciling is True while
// kubepay itself still has work to do (creating, retrying, waiting on credentials, a refund in
// flight), Stalled is True when only a person can move the object on (Failed, an invalid amount,
// a close that is blocked, money to give back under latePayments: Record), and both are absent
// otherwise. Settled is always present: True once the object reached a terminal phase, whatever
// it is, so `kubectl wait --for=condition=Settled` returns on every outcome. Every condition carries
// the generation it describes. The writers of each object call these just before writing status.

// retryReasons are Ready reasons under which kubepay keeps trying on its own.
var retryReasons = map[string]bool{
	v1.ReasonProviderError: true, v1.ReasonCredentialsInvalid: true, v1.ReasonProviderNotFound: true,
	v1.ReasonProviderNotReady: true, v1.ReasonCreating: true,
}

// OrderHealth sets the Reconciling, Stalled and Settled conditions of s, the status about to be
// written on order, from the rest of it, stamps every condition with the order's generation, and
// sets s.Settled: the write that settles an order is the one that takes it out of the cache.
func OrderHealth(order *v1.PaymentOrder, s *v1.PaymentOrderStatus, now time.Time) {
	generation := order.Generation
	s.Settled = !unsettled(order, s)
	ready := meta.FindStatusCondition(s.Conditions, v1.ConditionReady)
	readyReason := ""
	if ready != nil && ready.Status != metav1.ConditionTrue {
		readyReason = ready.Reason
	}
	var stalled, reconciling condition
	switch {
	case s.Phase == v1.PhaseFailed:
		stalled = condition{reasonOf(s), "the order failed; it will not be paid: " + messageOf(ready)}
	case readyReason == v1.ReasonInvalidAmount:
		stalled = condition{v1.ReasonInvalidAmount, messageOf(ready)}
	case meta.IsStatusConditionTrue(s.Conditions, v1.ConditionCloseBlocked):
		c := meta.FindStatusCondition(s.Conditions, v1.ConditionCloseBlocked)
		stalled = condition{c.Reason, c.Message}
	case lateRefundFailed(s):
		c := meta.FindStatusCondition(s.Conditions, v1.ConditionLatePayment)
		stalled = condition{v1.ReasonRefundFailed, c.Message}
	case unrefundedLateWithoutRefund(s):
		stalled = condition{v1.ReasonLatePayment, "money arrived for this closed order and no refund gives it back: create a PaymentRefund with spec.latePaymentID"}
	case s.Phase == "" || s.Phase == v1.PhasePending:
		reconciling = condition{v1.ReasonCreating, "creating the payment at the provider"}
		if retryReasons[readyReason] {
			reconciling = condition{readyReason, messageOf(ready)}
		}
	case retryReasons[readyReason]:
		reconciling = condition{readyReason, messageOf(ready)}
	case refundInFlight(s):
		reconciling = condition{v1.ReasonRefundProcessing, "a refund of this order is in flight"}
	}
	setAbnormal(&s.Conditions, v1.ConditionStalled, stalled, generation, now)
	setAbnormal(&s.Conditions, v1.ConditionReconciling, reconciling, generation, now)
	settled := condition{reason: "Open", message: "the order can still be paid"}
	if s.Phase.Terminal() {
		settled = condition{reason: string(s.Phase), message: "the order is " + string(s.Phase) + "; read status.phase for the outcome"}
	}
	setSettled(&s.Conditions, s.Phase.Terminal(), settled, generation, now)
	stamp(s.Conditions, generation)
}

// RefundHealth is OrderHealth for a refund: in flight is Reconciling (Stalled when the provider
// holds it for a person: WeChat Pay ABNORMAL), Failed is Stalled, Succeeded and Failed settle it.
func RefundHealth(s *v1.PaymentRefundStatus, generation int64, now time.Time) {
	ready := meta.FindStatusCondition(s.Conditions, v1.ConditionReady)
	var stalled, reconciling condition
	switch {
	case s.Phase == v1.RefundFailed:
		stalled = condition{reasonOfRefund(s), "the refund failed; nothing was given back: " + messageOf(ready)}
	case ready != nil && ready.Reason == v1.ReasonRefundAbnormal:
		stalled = condition{v1.ReasonRefundAbnormal, ready.Message}
	case !s.Phase.Terminal():
		reconciling = condition{v1.ReasonRefundProcessing, "the refund is in flight"}
		if ready != nil && ready.Status != metav1.ConditionTrue {
			reconciling = condition{ready.Reason, ready.Message}
		}
	}
	setAbnormal(&s.Conditions, v1.ConditionStalled, stalled, generation, now)
	setAbnormal(&s.Conditions, v1.ConditionReconciling, reconciling, generation, now)
	settled := condition{reason: "InFlight", message: "the refund has no result yet"}
	if s.Phase.Terminal() {
		settled = condition{reason: string(s.Phase), message: "the refund " + string(s.Phase) + "; read status.phase for the outcome"}
	}
	setSettled(&s.Conditions, s.Phase.Terminal(), settled, generation, now)
	stamp(s.Conditions, generation)
}

// ProviderHealth sets a PaymentProvider's Reconciling and Stalled from its Ready condition:
// refused or missing credentials need a person (Stalled); an unreachable provider, or one kept
// while its orders settle, is worked on (Reconciling).
func ProviderHealth(conds *[]metav1.Condition, generation int64, now time.Time) {
	ready := meta.FindStatusCondition(*conds, v1.ConditionReady)
	var stalled, reconciling condition
	if ready != nil && ready.Status != metav1.ConditionTrue {
		switch ready.Reason {
		case v1.ReasonCredentialsInvalid:
			stalled = condition{ready.Reason, ready.Message}
		default:
			reconciling = condition{ready.Reason, ready.Message}
		}
	}
	setAbnormal(conds, v1.ConditionStalled, stalled, generation, now)
	setAbnormal(conds, v1.ConditionReconciling, reconciling, generation, now)
	stamp(*conds, generation)
}

type condition struct{ reason, message string }

// setAbnormal sets an abnormal-true condition (kstatus): True with c when c is set, absent
// otherwise.
func setAbnormal(conds *[]metav1.Condition, typ string, c condition, generation int64, now time.Time) {
	if c.reason == "" {
		meta.RemoveStatusCondition(conds, typ)
		return
	}
	meta.SetStatusCondition(conds, metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: c.reason,
		Message: c.message, ObservedGeneration: generation, LastTransitionTime: metav1.NewTime(now)})
}

func setSettled(conds *[]metav1.Condition, settled bool, c condition, generation int64, now time.Time) {
	status := metav1.ConditionFalse
	if settled {
		status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(conds, metav1.Condition{Type: v1.ConditionSettled, Status: status, Reason: c.reason,
		Message: c.message, ObservedGeneration: generation, LastTransitionTime: metav1.NewTime(now)})
}

func stamp(conds []metav1.Condition, generation int64) {
	for i := range conds {
		conds[i].ObservedGeneration = generation
	}
}

func messageOf(c *metav1.Condition) string {
	if c == nil {
		return ""
	}
	return c.Message
}

// reasonOf is the reason of the order's last transition (why it failed).
func reasonOf(s *v1.PaymentOrderStatus) string {
	if n := len(s.History); n > 0 && s.History[n-1].Reason != "" {
		return s.History[n-1].Reason
	}
	return v1.ReasonFailed
}

func reasonOfRefund(s *v1.PaymentRefundStatus) string {
	if n := len(s.History); n > 0 && s.History[n-1].Reason != "" {
		return s.History[n-1].Reason
	}
	return v1.ReasonRefundFailed
}

// unrefundedLateWithoutRefund: money nobody wants that no refund is giving back (none created for
// it, none reserved on it).
func unrefundedLateWithoutRefund(s *v1.PaymentOrderStatus) bool {
	for _, lp := range s.LatePayments {
		if lp.Refunded || lp.Refund != "" {
			continue
		}
		reserved := false
		for _, r := range s.Refunds {
			reserved = reserved || (r.LatePaymentID == lp.ID && r.State == v1.RefundReserved)
		}
		if !reserved {
			return true
		}
	}
	return false
}

// lateRefundFailed: the refund of a late payment failed and nothing else is giving it back.
func lateRefundFailed(s *v1.PaymentOrderStatus) bool {
	c := meta.FindStatusCondition(s.Conditions, v1.ConditionLatePayment)
	return c != nil && c.Status == metav1.ConditionTrue && c.Reason == v1.ReasonRefundFailed && !refundInFlight(s)
}

func refundInFlight(s *v1.PaymentOrderStatus) bool {
	for _, r := range s.Refunds {
		if r.State == v1.RefundReserved {
			return true
		}
	}
	return false
}
