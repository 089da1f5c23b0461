// Package providers defines the contract every payment provider implements and the registry that
// maps PaymentProvider.spec.type to an implementation.
//
// The contract follows crossplane's external-client rules: every call is idempotent and
// non-blocking, Create is keyed on the merchant's out_trade_no so that repeating it (after a crash
// between the provider call and the status write) returns the same payment instead of a second one.
package providers

import (
	"context"
	"net/http"
	"time"
)

// PaymentStatus is a provider payment's state, normalised across providers.
type PaymentStatus string

const (
	// StatusOpen is a payment created and waiting for the customer.
	StatusOpen PaymentStatus = "open"
	// StatusSucceeded is a payment whose money moved, so the order is paid.
	StatusSucceeded PaymentStatus = "succeeded"
	// StatusFailed is a payment the customer failed to make; the provider will not take it any
	// more, so the order fails.
	StatusFailed PaymentStatus = "failed"
	// StatusClosed is a payment closed unpaid, expired or closed by the merchant.
	StatusClosed PaymentStatus = "closed"
)

// Order is what a provider needs to create a payment; built by the controller from a PaymentOrder.
type Order struct {
	// Namespace and Name identify the PaymentOrder, for the provider's metadata.
	Namespace, Name string
	// OutTradeNo is the merchant reference and the idempotency key.
	OutTradeNo  string
	AmountMinor int64
	// Amount is the same amount as a decimal string in the major unit ("10.00").
	Amount      string
	Currency    string
	Channel     string
	Subject     string
	Description string
	ReturnURL   string
	// NotifyURL is where the provider sends asynchronous notifications.
	NotifyURL string
	ExpiresAt time.Time
	Metadata  map[string]string
}

// Payment is the provider's view of a payment.
type Payment struct {
	// ID is the provider's payment id.
	ID          string
	OutTradeNo  string
	Status      PaymentStatus
	AmountMinor int64
	Currency    string
	// PaymentURL is where the customer pays.
	PaymentURL string
	// PaidAt is set when Status is StatusSucceeded and the provider reports the time.
	PaidAt time.Time
}

// Notification is a verified asynchronous notification, normalised.
type Notification struct {
	// ID is the provider's event/notification id; the same across the provider's retries.
	ID string
	// Type is the provider's own event type (payment.succeeded, TRADE_SUCCESS...).
	Type              string
	OutTradeNo        string
	ProviderPaymentID string
	// Status is what the notification says happened; empty means an event kubepay does not act
	// on, which is acknowledged and ignored.
	Status      PaymentStatus
	AmountMinor int64
	Currency    string
	// AppID and MerchantID are set by providers that carry them, to be checked against the spec.
	AppID      string
	MerchantID string
	// OccurredAt is the provider's event time, when it has one.
	OccurredAt time.Time
}

// Provider is one configured merchant account at a payment provider.
type Provider interface {
	// Type is the PaymentProvider.spec.type this implementation serves.
	Type() string
	// Create creates the payment, idempotently on order.OutTradeNo: a repeat with the same order
	// returns the existing payment; a repeat with a different order is a terminal error.
	Create(ctx context.Context, order Order) (Payment, error)
	// Query returns the payment's current state; ErrNotFound when the provider has none.
	Query(ctx context.Context, outTradeNo, providerPaymentID string) (Payment, error)
	// Close closes an unpaid payment so it can no longer be paid. Closing a closed payment
	// succeeds; closing a paid one returns ErrAlreadyPaid.
	Close(ctx context.Context, outTradeNo, providerPaymentID string) error
	// ParseNotification verifies the raw request body (signature, timestamp window) before it
	// parses anything, and returns the normalised notification. Verification failures wrap
	// ErrSignature; anything else unparseable wraps ErrMalformed.
	ParseNotification(ctx context.Context, r *http.Request, body []byte) (Notification, error)
	// Ack writes the provider's own answer: success when err is nil, the provider's failure
	// answer (which makes it retry) otherwise. It never writes err's text to the provider.
	Ack(w http.ResponseWriter, err error)
}
