package settle

import (
	"errors"
	"fmt"
	"time"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/money"
	"github.com/kubepay/kubepay/internal/statemachine"
	"github.com/kubepay/kubepay/providers"
)

// ErrMismatch is wrapped by Decide's refusals: the fact is genuine but is not about this order as
// the order stands (another amount, currency, account or payment).
var ErrMismatch = errors.New("provider fact does not match the order")

// MismatchError says which field disagreed; Why is safe for logs, conditions and Events.
type MismatchError struct {
	Order string
	Fact  Fact
	Why   string
}

func (e *MismatchError) Error() string {
	id := e.Fact.NotificationID
	if id == "" {
		id = string(e.Fact.Source)
	}
	return fmt.Sprintf("%v: PaymentOrder %s, %s: %s", ErrMismatch, e.Order, id, e.Why)
}

func (e *MismatchError) Unwrap() error { return ErrMismatch }

// Decide turns a fact into the state-machine event for order. ok is false when the fact asks for
// nothing (the payment is still open, or an event kubepay does not act on). A fact that does not
// match the order returns a *MismatchError and must change nothing but the rejection record.
// pp is the PaymentProvider the fact came through.
func Decide(order *v1.PaymentOrder, pp *v1.PaymentProvider, f Fact, now time.Time) (ev statemachine.Event, ok bool, err error) {
	if why := Mismatch(order, pp, f); why != "" {
		return statemachine.Event{}, false, &MismatchError{Order: order.Namespace + "/" + order.Name, Fact: f, Why: why}
	}
	ev = statemachine.Event{
		Source: f.Source, At: now, ProviderPaymentID: f.ProviderPaymentID,
		NotificationID: f.NotificationID, NotificationType: f.NotificationType,
	}
	switch f.Status {
	case providers.StatusSucceeded:
		ev.Type, ev.Reason, ev.PaidAt = statemachine.Succeeded, v1.ReasonPaid, f.OccurredAt
		ev.PaidAmountMinor, ev.TransactionID = f.AmountMinor, f.TransactionID
		// Mismatch has checked the currency against the order's, which the CRD keeps valid.
		ev.PaidAmount, _ = money.FromMinor(f.AmountMinor, f.Currency)
	case providers.StatusFailed:
		ev.Type, ev.Reason = statemachine.PaymentFailed, v1.ReasonFailed
	case providers.StatusClosed:
		// No reason: the state machine names it Expired or Cancelled from the time.
		ev.Type = statemachine.Closed
	default:
		return statemachine.Event{}, false, nil
	}
	return ev, true, nil
}

// Mismatch returns why fact f cannot be applied to order, or "". A fact can be genuine and still
// wrong for the order: a replay of another payment's notification with the same out_trade_no, a
// different amount or currency, another merchant's account, a notification sent to the wrong
// provider's route. Money is checked wherever it moved; a pushed notification is also checked
// for the account and the payment it names, since its signature is all that vouches for it.
func Mismatch(order *v1.PaymentOrder, pp *v1.PaymentProvider, f Fact) string {
	moneyMoved := f.Status == providers.StatusSucceeded
	if f.pushed() {
		switch {
		case pp != nil && !order.UsesProvider(pp):
			return fmt.Sprintf("order uses %s %q, notification came for %q", order.Spec.ProviderRef.Kind, order.Spec.ProviderRef.Name, pp.Name)
		case pp != nil && pp.Spec.AppID != "" && f.AppID != pp.Spec.AppID:
			return fmt.Sprintf("app id %q, provider is configured for %q", f.AppID, pp.Spec.AppID)
		case pp != nil && pp.Spec.MerchantID != "" && f.MerchantID != pp.Spec.MerchantID:
			return fmt.Sprintf("merchant id %q, provider is configured for %q", f.MerchantID, pp.Spec.MerchantID)
		case order.Status.ProviderPaymentID != "" && f.ProviderPaymentID != "" && f.ProviderPaymentID != order.Status.ProviderPaymentID:
			return fmt.Sprintf("provider payment id %q, order has %q", f.ProviderPaymentID, order.Status.ProviderPaymentID)
		}
		// Every notification states the payment's amount; one that disagrees is not about
		// this payment, whatever it says happened.
		moneyMoved = true
	}
	if !moneyMoved {
		return ""
	}
	switch {
	case f.Currency != order.Spec.Currency:
		return fmt.Sprintf("currency %q, order is %q", f.Currency, order.Spec.Currency)
	case f.AmountMinor != order.Status.AmountMinor:
		return fmt.Sprintf("amount %d minor units, order is %d", f.AmountMinor, order.Status.AmountMinor)
	}
	return ""
}
