// Package statemachine is the one place that decides how a PaymentOrder's phase moves. The
// controller (create, query, expiry) and the callback server (notifications) both describe what
// happened as an Event and call Next; nobody else writes status.phase.
//
// Next is pure: the same status and event always give the same answer, so the callback server can
// re-decide after an optimistic-lock conflict, and duplicates or stale events are recognised
// instead of applied twice.
package statemachine

import (
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
)

// EventType is what happened to the payment.
type EventType string

const (
	// Initialized means the controller derived outTradeNo, amountMinor and expiresAt ("" -> Pending).
	Initialized EventType = "Initialized"
	// Created means the provider created the payment (Pending -> AwaitingPayment).
	Created EventType = "Created"
	// CreateRejected means the provider refused the payment terminally, or kubepay refused the
	// order before any provider call (a duplicate orderID) ("" | Pending -> Failed).
	CreateRejected EventType = "CreateRejected"
	// Succeeded means the provider says the money moved (Pending|AwaitingPayment -> Paid).
	Succeeded EventType = "Succeeded"
	// PaymentFailed means the provider says the customer's payment failed (AwaitingPayment -> Failed).
	PaymentFailed EventType = "PaymentFailed"
	// Closed means the payment was closed unpaid at the provider; Expired at or after expiresAt,
	// Cancelled before it (closed by someone else).
	Closed EventType = "Closed"
	// ExpiryReached means the controller closed the unpaid payment at expiresAt (-> Expired).
	ExpiryReached EventType = "ExpiryReached"
)

// Event is one fact about the payment, from any source.
type Event struct {
	Type   EventType
	Source v1.TransitionSource
	// At is when the event was observed; it stamps history, paidAt and conditions.
	At time.Time
	// NotificationID and NotificationType are set for notifications; a notification whose id is
	// the order's lastNotification is a duplicate.
	NotificationID   string
	NotificationType string
	// ProviderPaymentID and PaymentURL come with Created (and may with Succeeded).
	ProviderPaymentID string
	PaymentURL        string
	// PaidAmount is the provider's decimal amount with Succeeded, PaidAmountMinor the same in
	// minor units.
	PaidAmount      string
	PaidAmountMinor int64
	// TransactionID is the provider's id of the money movement, with Succeeded.
	TransactionID string
	// PaymentExpiresAt is when the provider stops accepting the payment, with Created (zero:
	// the order's expiresAt).
	PaymentExpiresAt time.Time
	// PaidAt is the provider's payment time with Succeeded, when it has one (else At).
	PaidAt time.Time
	// Initialized carries the derived fields.
	OutTradeNo  string
	AmountMinor int64
	ExpiresAt   time.Time
	// Reason is a CamelCase cause for the history and the Ready condition; Message explains it.
	Reason  string
	Message string
}

// ErrTooManyLatePayments reports a late payment that arrived for an order whose status already records
// v1.MaxLatePayments of them. Nothing is written; callers say so in a Warning Event, and the
// metric counts it, since redelivery cannot make room.
var ErrTooManyLatePayments = errors.New("late payment not recorded: the order already records the most it can hold")

// ErrInvalidEvent reports an event that cannot apply to any phase (programming error or an event without
// its required fields).
var ErrInvalidEvent = errors.New("invalid payment event")

// Next returns the status after ev, whether anything changed, and an error for events that must
// not be applied. Duplicate and stale events return the status unchanged with changed=false.
func Next(cur v1.PaymentOrderStatus, ev Event) (v1.PaymentOrderStatus, bool, error) {
	if ev.At.IsZero() {
		return cur, false, fmt.Errorf("%w: %s has no time", ErrInvalidEvent, ev.Type)
	}
	if ev.NotificationID != "" && cur.LastNotification != nil && cur.LastNotification.ID == ev.NotificationID {
		return cur, false, nil
	}
	if ev.Type == Succeeded && closedUnpaid(cur.Phase) {
		return recordLate(cur, ev)
	}
	to, err := target(cur, ev)
	if err != nil || to == "" {
		return cur, false, err
	}
	next := *cur.DeepCopy()
	at := metav1.NewTime(ev.At)
	switch ev.Type {
	case Initialized:
		next.OutTradeNo, next.AmountMinor = ev.OutTradeNo, ev.AmountMinor
		exp := metav1.NewTime(ev.ExpiresAt)
		next.ExpiresAt = &exp
	case Created:
		next.ProviderPaymentID, next.PaymentURL = ev.ProviderPaymentID, ev.PaymentURL
		if !ev.PaymentExpiresAt.IsZero() {
			pe := metav1.NewTime(ev.PaymentExpiresAt)
			next.PaymentExpiresAt = &pe
		}
	case Succeeded:
		if ev.TransactionID != "" {
			next.ProviderTransactionID = ev.TransactionID
		}
		if next.ProviderPaymentID == "" {
			next.ProviderPaymentID = ev.ProviderPaymentID
		}
		paidAt := at
		if !ev.PaidAt.IsZero() {
			paidAt = metav1.NewTime(ev.PaidAt)
		}
		if next.PaidAt == nil {
			next.PaidAt = &paidAt
		}
		next.PaidAmount = ev.PaidAmount
	}
	if ev.NotificationID != "" {
		next.LastNotification = &v1.NotificationRef{ID: ev.NotificationID, Type: ev.NotificationType, ReceivedAt: at}
	}
	reason := ev.Reason
	if reason == "" {
		reason = string(to)
	}
	next.History = appendBounded(next.History, v1.Transition{
		Time: at, From: cur.Phase, To: to, Source: ev.Source, NotificationID: ev.NotificationID, Reason: reason,
	})
	next.Phase = to
	setReady(&next, to, reason, ev.Message, at)
	return next, true, nil
}

// target is the phase ev moves cur to, "" for no change (duplicate, stale, out of order).
func target(cur v1.PaymentOrderStatus, ev Event) (v1.Phase, error) {
	p := cur.Phase
	open := p == v1.PhasePending || p == v1.PhaseAwaitingPayment
	switch ev.Type {
	case Initialized:
		if ev.OutTradeNo == "" || ev.ExpiresAt.IsZero() || ev.AmountMinor <= 0 {
			return "", fmt.Errorf("%w: Initialized needs outTradeNo, amountMinor and expiresAt", ErrInvalidEvent)
		}
		return when(p == "", v1.PhasePending), nil
	case Created:
		if ev.ProviderPaymentID == "" {
			return "", fmt.Errorf("%w: Created needs the provider's payment id", ErrInvalidEvent)
		}
		return when(p == v1.PhasePending, v1.PhaseAwaitingPayment), nil
	case CreateRejected:
		// A fresh order fails here too when its orderID is already claimed by another.
		return when(p == "" || p == v1.PhasePending, v1.PhaseFailed), nil
	case Succeeded:
		return when(open, v1.PhasePaid), nil
	case PaymentFailed:
		return when(open, v1.PhaseFailed), nil
	case Closed:
		if open && cur.ExpiresAt != nil && !ev.At.Before(cur.ExpiresAt.Time) {
			return v1.PhaseExpired, nil
		}
		return when(open, v1.PhaseCancelled), nil
	case ExpiryReached:
		return when(open, v1.PhaseExpired), nil
	}
	return "", fmt.Errorf("%w: unknown event type %q", ErrInvalidEvent, ev.Type)
}

// when is to if ok, else "" (no change).
func when(ok bool, to v1.Phase) v1.Phase {
	if ok {
		return to
	}
	return ""
}

// closedUnpaid reports whether the order was closed without money: a success from now on is a
// late payment.
func closedUnpaid(p v1.Phase) bool {
	return p == v1.PhaseExpired || p == v1.PhaseCancelled || p == v1.PhaseFailed
}

// recordLate records money that moved for a closed order: the phase never moves back, so the
// payment is kept in status.latePayments, with a history entry and the LatePayment condition, to
// be refunded. The same payment reported again (redelivery, a query) changes nothing.
func recordLate(cur v1.PaymentOrderStatus, ev Event) (v1.PaymentOrderStatus, bool, error) {
	id := ev.TransactionID
	if id == "" {
		id = ev.ProviderPaymentID
	}
	if id == "" {
		id = ev.NotificationID
	}
	if id == "" {
		return cur, false, fmt.Errorf("%w: a late payment without any id cannot be recorded once", ErrInvalidEvent)
	}
	for _, lp := range cur.LatePayments {
		if lp.ID == id {
			return cur, false, nil
		}
	}
	if len(cur.LatePayments) >= v1.MaxLatePayments {
		return cur, false, fmt.Errorf("%w (%d): payment %s of %s", ErrTooManyLatePayments, v1.MaxLatePayments, id, ev.PaidAmount)
	}
	next := *cur.DeepCopy()
	at := metav1.NewTime(ev.At)
	lp := v1.LatePayment{ID: id, Amount: ev.PaidAmount, AmountMinor: ev.PaidAmountMinor, ReceivedAt: at,
		Source: ev.Source, NotificationID: ev.NotificationID, Phase: cur.Phase}
	if !ev.PaidAt.IsZero() {
		paidAt := metav1.NewTime(ev.PaidAt)
		lp.PaidAt = &paidAt
	}
	next.LatePayments = append(next.LatePayments, lp)
	if ev.NotificationID != "" {
		next.LastNotification = &v1.NotificationRef{ID: ev.NotificationID, Type: ev.NotificationType, ReceivedAt: at}
	}
	next.History = appendBounded(next.History, v1.Transition{
		Time: at, From: cur.Phase, To: cur.Phase, Source: ev.Source, NotificationID: ev.NotificationID, Reason: v1.ReasonLatePayment,
	})
	meta.SetStatusCondition(&next.Conditions, metav1.Condition{
		Type: v1.ConditionLatePayment, Status: metav1.ConditionTrue, Reason: v1.ReasonLatePayment, LastTransitionTime: at,
		Message: fmt.Sprintf("%d late payment(s) for this %s order, latest %s of %s; it must be refunded", len(next.LatePayments), cur.Phase, id, ev.PaidAmount),
	})
	return next, true, nil
}

func appendBounded(h []v1.Transition, t v1.Transition) []v1.Transition {
	h = append(h, t)
	if n := len(h); n > v1.MaxHistory {
		h = h[n-v1.MaxHistory:]
	}
	return h
}

// setReady keeps the Ready condition in step with the phase: True where the order is where it
// should be (a payment URL to pay, or settled), False while it is being created or after failure.
func setReady(s *v1.PaymentOrderStatus, phase v1.Phase, reason, message string, at metav1.Time) {
	status := metav1.ConditionTrue
	if phase == v1.PhasePending || phase == v1.PhaseFailed {
		status = metav1.ConditionFalse
	}
	if message == "" {
		message = "order is " + string(phase)
	}
	meta.SetStatusCondition(&s.Conditions, metav1.Condition{
		Type: v1.ConditionReady, Status: status, Reason: reason, Message: message, LastTransitionTime: at,
	})
}
