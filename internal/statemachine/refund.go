package statemachine

import (
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/money"
)

// RefundEventType is what happened to a refund.
type RefundEventType string

const (
	// RefundAccepted means kubepay took the refund and derived its number ("" -> Pending).
	RefundAccepted RefundEventType = "Accepted"
	// RefundRejected means kubepay or the provider refused the refund before any money moved
	// ("" | Pending -> Failed).
	RefundRejected RefundEventType = "Rejected"
	// RefundSent means the provider accepted the refund and answers later (Pending -> Processing).
	RefundSent RefundEventType = "Sent"
	// RefundSucceededEvent means the money went back (Pending | Processing -> Succeeded).
	RefundSucceededEvent RefundEventType = "Succeeded"
	// RefundFailedEvent means the provider gave the refund up (Pending | Processing -> Failed).
	RefundFailedEvent RefundEventType = "Failed"
)

// RefundEvent is one fact about a refund, from any source.
type RefundEvent struct {
	Type   RefundEventType
	Source v1.TransitionSource
	At     time.Time
	// NotificationID and NotificationType are set for notifications; a notification whose id
	// is the refund's lastNotification is a duplicate.
	NotificationID, NotificationType string
	// OutRefundNo, AmountMinor and Currency come with RefundAccepted.
	OutRefundNo string
	AmountMinor int64
	Currency    string
	// ProviderRefundID comes with the provider's answers; RefundedAt with success.
	ProviderRefundID string
	RefundedAt       time.Time
	// Reason is a CamelCase cause for history and the Ready condition; Message explains it.
	Reason, Message string
}

// NextRefund is Next for refunds: the refund's status after ev, whether it changed, or an error
// for an event that must not be applied. Duplicates and stale events change nothing.
func NextRefund(cur v1.PaymentRefundStatus, ev RefundEvent) (v1.PaymentRefundStatus, bool, error) {
	if ev.At.IsZero() {
		return cur, false, fmt.Errorf("%w: refund %s has no time", ErrInvalidEvent, ev.Type)
	}
	if ev.NotificationID != "" && cur.LastNotification != nil && cur.LastNotification.ID == ev.NotificationID {
		return cur, false, nil
	}
	to, err := refundTarget(cur.Phase, ev)
	if err != nil || to == "" {
		return cur, false, err
	}
	next := *cur.DeepCopy()
	at := metav1.NewTime(ev.At)
	switch ev.Type {
	case RefundAccepted:
		next.OutRefundNo, next.AmountMinor, next.Currency = ev.OutRefundNo, ev.AmountMinor, ev.Currency
	case RefundSucceededEvent:
		refundedAt := at
		if !ev.RefundedAt.IsZero() {
			refundedAt = metav1.NewTime(ev.RefundedAt)
		}
		if next.RefundedAt == nil {
			next.RefundedAt = &refundedAt
		}
	}
	if ev.ProviderRefundID != "" {
		next.ProviderRefundID = ev.ProviderRefundID
	}
	if ev.NotificationID != "" {
		next.LastNotification = &v1.NotificationRef{ID: ev.NotificationID, Type: ev.NotificationType, ReceivedAt: at}
	}
	reason := ev.Reason
	if reason == "" {
		reason = string(to)
	}
	next.History = append(next.History, v1.RefundTransition{Time: at, From: cur.Phase, To: to, Source: ev.Source,
		NotificationID: ev.NotificationID, Reason: reason})
	if n := len(next.History); n > v1.MaxHistory {
		next.History = next.History[n-v1.MaxHistory:]
	}
	next.Phase = to
	status := metav1.ConditionTrue
	if to == v1.RefundFailed {
		status = metav1.ConditionFalse
	}
	message := ev.Message
	if message == "" {
		message = "refund is " + string(to)
	}
	meta.SetStatusCondition(&next.Conditions, metav1.Condition{Type: v1.ConditionReady, Status: status, Reason: reason,
		Message: message, LastTransitionTime: at})
	return next, true, nil
}

func refundTarget(p v1.RefundPhase, ev RefundEvent) (v1.RefundPhase, error) {
	inFlight := p == v1.RefundPending || p == v1.RefundProcessing
	switch ev.Type {
	case RefundAccepted:
		if ev.OutRefundNo == "" || ev.AmountMinor <= 0 || ev.Currency == "" {
			return "", fmt.Errorf("%w: Accepted needs the refund number, amount and currency", ErrInvalidEvent)
		}
		return refundWhen(p == "", v1.RefundPending), nil
	case RefundRejected:
		return refundWhen(p == "" || p == v1.RefundPending, v1.RefundFailed), nil
	case RefundSent:
		return refundWhen(p == v1.RefundPending, v1.RefundProcessing), nil
	case RefundSucceededEvent:
		return refundWhen(inFlight, v1.RefundSucceeded), nil
	case RefundFailedEvent:
		return refundWhen(inFlight, v1.RefundFailed), nil
	}
	return "", fmt.Errorf("%w: unknown refund event type %q", ErrInvalidEvent, ev.Type)
}

func refundWhen(ok bool, to v1.RefundPhase) v1.RefundPhase {
	if ok {
		return to
	}
	return ""
}

var (
	// ErrOrderNotPaid reports a refund of an order with no paid money to give back (or of a late
	// payment the order does not record).
	ErrOrderNotPaid = errors.New("the order has no paid money to refund")
	// ErrExceedsRefundable reports a refund that, with the order's other refunds, would give
	// back more than was paid.
	ErrExceedsRefundable = errors.New("refund exceeds what is left to refund")
	// ErrTooManyRefunds reports an order that already carries v1.MaxRefunds refunds.
	ErrTooManyRefunds = errors.New("the order already has the most refunds it can hold")
)

// Reserve sets r's amount aside on the order: it is what makes concurrent refunds safe, since the
// caller writes the result with the order's resourceVersion. A refund already reserved changes
// nothing. A refund of the main payment needs a Paid or PartiallyRefunded order; a refund of a
// late payment needs that late payment, not yet refunded.
func Reserve(cur v1.PaymentOrderStatus, r v1.RefundReservation, currency string) (v1.PaymentOrderStatus, error) {
	for _, existing := range cur.Refunds {
		if existing.Name == r.Name {
			return cur, nil
		}
	}
	paid, err := refundable(cur, r.LatePaymentID)
	if err != nil {
		return cur, err
	}
	var taken int64
	for _, existing := range cur.Refunds {
		if existing.LatePaymentID == r.LatePaymentID {
			taken += existing.AmountMinor
		}
	}
	if taken+r.AmountMinor > paid {
		left, _ := money.FromMinor(max(paid-taken, 0), currency)
		return cur, fmt.Errorf("%w: %s can still be refunded of %s paid", ErrExceedsRefundable, left, formatMinor(paid, currency))
	}
	if len(cur.Refunds) >= v1.MaxRefunds {
		return cur, fmt.Errorf("%w (%d)", ErrTooManyRefunds, v1.MaxRefunds)
	}
	next := *cur.DeepCopy()
	r.State = v1.RefundReserved
	next.Refunds = append(next.Refunds, r)
	return next, nil
}

// refundable is what was paid and can be refunded: the main payment, or one late payment.
func refundable(cur v1.PaymentOrderStatus, latePaymentID string) (int64, error) {
	if latePaymentID == "" {
		// Refunded was paid: what is left of it (nothing) is ExceedsRefundable's to say.
		if cur.Phase != v1.PhasePaid && cur.Phase != v1.PhasePartiallyRefunded && cur.Phase != v1.PhaseRefunded {
			return 0, fmt.Errorf("%w (order is %q)", ErrOrderNotPaid, cur.Phase)
		}
		return cur.AmountMinor, nil
	}
	for _, lp := range cur.LatePayments {
		if lp.ID == latePaymentID {
			return lp.AmountMinor, nil
		}
	}
	return 0, fmt.Errorf("%w: it records no late payment %q", ErrOrderNotPaid, latePaymentID)
}

// Release frees a reservation whose refund failed. Committed refunds are never released. A
// failed refund of a late payment leaves that money with nobody to give it back: the LatePayment
// condition says so (reason RefundFailed), for a person to act.
func Release(cur v1.PaymentOrderStatus, name string) v1.PaymentOrderStatus {
	for i, r := range cur.Refunds {
		if r.Name == name && r.State == v1.RefundReserved {
			next := *cur.DeepCopy()
			next.Refunds = append(next.Refunds[:i], next.Refunds[i+1:]...)
			if r.LatePaymentID != "" {
				meta.SetStatusCondition(&next.Conditions, metav1.Condition{Type: v1.ConditionLatePayment, Status: metav1.ConditionTrue,
					Reason: v1.ReasonRefundFailed, LastTransitionTime: metav1.Now(),
					Message: fmt.Sprintf("refund %s of late payment %s failed; the money is still to be given back", r.Name, r.LatePaymentID)})
			}
			return next
		}
	}
	return cur
}

// CommitRefund counts a succeeded refund on the order, once: its reservation becomes Succeeded,
// the main payment's refundedAmount grows and the phase moves Paid -> PartiallyRefunded ->
// Refunded; a late payment is marked refunded and, once all are, LatePayment turns False.
func CommitRefund(cur v1.PaymentOrderStatus, name, currency string, at time.Time, source v1.TransitionSource) (v1.PaymentOrderStatus, bool, error) {
	i := -1
	for j, r := range cur.Refunds {
		if r.Name == name {
			i = j
		}
	}
	if i < 0 {
		return cur, false, fmt.Errorf("%w: refund %s has no reservation on the order", ErrInvalidEvent, name)
	}
	if cur.Refunds[i].State == v1.RefundCommitted {
		return cur, false, nil
	}
	next := *cur.DeepCopy()
	r := &next.Refunds[i]
	r.State = v1.RefundCommitted
	stamp := metav1.NewTime(at)
	if r.LatePaymentID != "" {
		commitLate(&next, r, stamp)
		return next, true, nil
	}
	next.RefundedAmountMinor += r.AmountMinor
	next.RefundedAmount = formatMinor(next.RefundedAmountMinor, currency)
	to, reason := v1.PhasePartiallyRefunded, v1.ReasonPartiallyRefunded
	if next.RefundedAmountMinor >= next.AmountMinor {
		to, reason = v1.PhaseRefunded, v1.ReasonRefunded
	}
	if to != cur.Phase {
		next.History = appendBounded(next.History, v1.Transition{Time: stamp, From: cur.Phase, To: to, Source: source, Reason: reason})
		next.Phase = to
		setReady(&next, to, reason, fmt.Sprintf("%s of %s refunded", next.RefundedAmount, formatMinor(next.AmountMinor, currency)), stamp)
	}
	return next, true, nil
}

// commitLate marks the late payment a refund gave back.
func commitLate(next *v1.PaymentOrderStatus, r *v1.RefundReservation, at metav1.Time) {
	open := 0
	for k := range next.LatePayments {
		lp := &next.LatePayments[k]
		if lp.ID == r.LatePaymentID {
			lp.Refunded, lp.Refund = true, r.Name
		}
		if !lp.Refunded {
			open++
		}
	}
	if open == 0 {
		meta.SetStatusCondition(&next.Conditions, metav1.Condition{Type: v1.ConditionLatePayment, Status: metav1.ConditionFalse,
			Reason: v1.ReasonRefunded, Message: "every late payment was refunded", LastTransitionTime: at})
	}
}

func formatMinor(minor int64, currency string) string {
	s, err := money.FromMinor(minor, currency)
	if err != nil {
		return fmt.Sprintf("%d minor units of %s", minor, currency)
	}
	return s
}
