package settle

import (
	"fmt"
	"time"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/metrics"
	"github.com/kubepay/kubepay/internal/statemachine"
	"github.com/kubepay/kubepay/providers"
)

// RefundFact is one thing a provider said about a refund: an answer to the controller's refund
// or query, or a verified notification.
type RefundFact struct {
	Source           v1.TransitionSource
	Status           providers.RefundStatus
	OutRefundNo      string
	ProviderRefundID string
	// AmountMinor is 0 when the provider did not say (Alipay's trade notifications).
	AmountMinor   int64
	Currency      string
	RefundedAt    time.Time
	FailureReason string
	// NotificationID and NotificationType are set for notifications only.
	NotificationID, NotificationType string
}

// FromRefund is the fact of a provider's answer to refund or query-refund.
func FromRefund(r providers.Refund, source v1.TransitionSource) RefundFact {
	return RefundFact{Source: source, Status: r.Status, OutRefundNo: r.OutRefundNo, ProviderRefundID: r.ID,
		AmountMinor: r.AmountMinor, Currency: r.Currency, RefundedAt: r.RefundedAt, FailureReason: r.FailureReason}
}

// FromRefundNotification is the fact of a verified refund notification.
func FromRefundNotification(n providers.Notification) RefundFact {
	f := n.Refund
	return RefundFact{Source: v1.SourceNotification, Status: f.Status, OutRefundNo: f.OutRefundNo,
		ProviderRefundID: f.ProviderRefundID, AmountMinor: f.AmountMinor, Currency: f.Currency,
		RefundedAt: f.RefundedAt, FailureReason: f.FailureReason, NotificationID: n.ID, NotificationType: n.Type}
}

// DecideRefund turns a refund fact into the event for refund. ok is false when the fact asks for
// nothing (still processing, already known). A fact about another refund, amount or currency
// returns a *MismatchError and must change nothing.
func DecideRefund(refund *v1.PaymentRefund, f RefundFact, now time.Time) (ev statemachine.RefundEvent, ok bool, err error) {
	if why := refundMismatch(refund, f); why != "" {
		id := f.NotificationID
		if id == "" {
			id = string(f.Source)
		}
		return ev, false, &MismatchError{Order: refund.Namespace + "/" + refund.Name,
			Fact: Fact{Source: f.Source, NotificationID: id}, Why: why}
	}
	ev = statemachine.RefundEvent{Source: f.Source, At: now, ProviderRefundID: f.ProviderRefundID,
		NotificationID: f.NotificationID, NotificationType: f.NotificationType}
	switch f.Status {
	case providers.RefundSucceeded:
		ev.Type, ev.Reason, ev.RefundedAt = statemachine.RefundSucceededEvent, v1.ReasonRefunded, f.RefundedAt
		ev.Message = "the money went back to the customer"
	case providers.RefundFailed:
		ev.Type, ev.Reason = statemachine.RefundFailedEvent, v1.ReasonRefundFailed
		ev.Message = "the provider did not refund"
		if f.FailureReason != "" {
			ev.Message += ": " + f.FailureReason
		}
	case providers.RefundProcessing:
		ev.Type, ev.Reason = statemachine.RefundSent, v1.ReasonRefundProcessing
		ev.Message = "the provider accepted the refund; its result comes later"
	default:
		return statemachine.RefundEvent{}, false, nil
	}
	return ev, true, nil
}

// refundMismatch says why a fact cannot be about refund, or "".
func refundMismatch(refund *v1.PaymentRefund, f RefundFact) string {
	switch {
	case refund.Status.OutRefundNo != "" && f.OutRefundNo != "" && f.OutRefundNo != refund.Status.OutRefundNo:
		return fmt.Sprintf("refund number %q, refund is %q", f.OutRefundNo, refund.Status.OutRefundNo)
	case f.AmountMinor != 0 && refund.Status.AmountMinor != 0 && f.AmountMinor != refund.Status.AmountMinor:
		return fmt.Sprintf("amount %d minor units, refund is %d", f.AmountMinor, refund.Status.AmountMinor)
	case f.Currency != "" && refund.Status.Currency != "" && f.Currency != refund.Status.Currency:
		return fmt.Sprintf("currency %q, refund is %q", f.Currency, refund.Status.Currency)
	case refund.Status.ProviderRefundID != "" && f.ProviderRefundID != "" && f.ProviderRefundID != refund.Status.ProviderRefundID:
		return fmt.Sprintf("provider refund id %q, refund has %q", f.ProviderRefundID, refund.Status.ProviderRefundID)
	}
	return ""
}

// EmitRefund tells of the refund transitions one status write committed: one Event naming the
// path, a metric sample each.
func (e Emitter) EmitRefund(refund *v1.PaymentRefund, ts []v1.RefundTransition) {
	if len(ts) == 0 {
		return
	}
	path := "(new)"
	if ts[0].From != "" {
		path = string(ts[0].From)
	}
	for _, t := range ts {
		metrics.RefundTransitions.WithLabelValues(string(t.From), string(t.To)).Inc()
		path += " -> " + string(t.To)
	}
	last := ts[len(ts)-1]
	msg := fmt.Sprintf("%s (source %s, outRefundNo %s)", path, last.Source, refund.Status.OutRefundNo)
	if last.To == v1.RefundFailed {
		e.Warning(refund, last.Reason, v1.ActionTransition, msg)
		return
	}
	e.Normal(refund, last.Reason, v1.ActionTransition, msg)
}
