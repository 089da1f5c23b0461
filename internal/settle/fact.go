package settle

import (
	"time"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/providers"
)

// Fact is one thing a provider said about a payment, whatever brought it.
type Fact struct {
	// Source is how the fact arrived: the controller's create, a query, or a notification.
	Source v1.TransitionSource
	Status providers.PaymentStatus
	// OutTradeNo and ProviderPaymentID name the payment; TransactionID is the provider's id of
	// the money movement, when there is one.
	OutTradeNo        string
	ProviderPaymentID string
	TransactionID     string
	AmountMinor       int64
	Currency          string
	// OccurredAt is the provider's time of the fact (payment time), zero when it gives none.
	OccurredAt time.Time
	// AppID and MerchantID are the account a notification claims to be for; a Payment has none
	// because it answered a call made with the account's own credentials.
	AppID, MerchantID string
	// NotificationID and NotificationType are set for notifications only.
	NotificationID, NotificationType string
}

// FromPayment is the fact of a provider's answer to create or query.
func FromPayment(p providers.Payment, source v1.TransitionSource) Fact {
	return Fact{
		Source: source, Status: p.Status, OutTradeNo: p.OutTradeNo, ProviderPaymentID: p.ID,
		AmountMinor: p.AmountMinor, Currency: p.Currency, OccurredAt: p.PaidAt, TransactionID: p.TransactionID,
	}
}

// FromNotification is the fact of a verified notification.
func FromNotification(n providers.Notification) Fact {
	return Fact{
		Source: v1.SourceNotification, Status: n.Status, OutTradeNo: n.OutTradeNo,
		ProviderPaymentID: n.ProviderPaymentID, AmountMinor: n.AmountMinor, Currency: n.Currency,
		OccurredAt: n.OccurredAt, AppID: n.AppID, MerchantID: n.MerchantID,
		NotificationID: n.ID, NotificationType: n.Type, TransactionID: n.TransactionID,
	}
}

// pushed reports whether the fact came unasked: only its signature ties it to the account, so
// everything it claims is checked, not only the money.
func (f Fact) pushed() bool { return f.Source == v1.SourceNotification }
