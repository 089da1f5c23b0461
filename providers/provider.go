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
	// PayerClientIP is the customer's IP address, for channels that need it (WeChat Pay h5).
	PayerClientIP string
}

// Payment is the provider's view of a payment.
type Payment struct {
	// ID is the provider's payment id, the one Query and Close take.
	ID          string
	OutTradeNo  string
	Status      PaymentStatus
	AmountMinor int64
	Currency    string
	// PaymentURL is where the customer pays.
	PaymentURL string
	// PaidAt is set when Status is StatusSucceeded and the provider reports the time.
	PaidAt time.Time
	// TransactionID is the provider's own id of the money movement, once there is one: Alipay
	// trade_no, WeChat Pay transaction_id, Stripe payment_intent, the sandbox payment id. Refunds
	// and support requests name it.
	TransactionID string
	// ExpiresAt is when the provider stops accepting the payment, when it says (it can be later
	// than the order's expiresAt: Stripe sessions live at least 30 minutes). Zero: the order's.
	ExpiresAt time.Time
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
	// TransactionID is the provider's id of the money movement (see Payment.TransactionID).
	TransactionID string
	// Refund is set when the notification is about a refund of the payment (a refund event, or
	// a trade notification that reports refunded money); Status is then empty, so it is never
	// mistaken for a payment, a failure or an expiry.
	Refund *RefundFact
}

// RefundStatus is a refund's state, normalised across providers.
type RefundStatus string

const (
	// RefundProcessing means accepted by the provider; the result comes later.
	RefundProcessing RefundStatus = "processing"
	// RefundSucceeded means the money went back to the customer.
	RefundSucceeded RefundStatus = "succeeded"
	// RefundFailed means the provider will not refund (closed, abnormal, refused); nothing moved.
	RefundFailed RefundStatus = "failed"
)

// RefundRequest is what a provider needs to refund part or all of a payment.
type RefundRequest struct {
	// OutTradeNo, ProviderPaymentID and TransactionID name the payment (providers use the one
	// they need).
	OutTradeNo, ProviderPaymentID, TransactionID string
	// OutRefundNo is the merchant's refund number and the idempotency key: a repeat returns the
	// same refund, never a second one.
	OutRefundNo string
	// ProviderRefundID is the provider's refund id once known (from Refund or a notification);
	// QueryRefund uses it when set.
	ProviderRefundID string
	AmountMinor      int64
	// Amount is AmountMinor as a decimal string in the major unit; TotalMinor is the payment's.
	Amount     string
	TotalMinor int64
	Currency   string
	Reason     string
	// NotifyURL is where the provider sends the refund's result, for providers that take one.
	NotifyURL string
}

// Refund is the provider's view of one refund.
type Refund struct {
	// ID is the provider's refund id.
	ID          string
	OutRefundNo string
	OutTradeNo  string
	Status      RefundStatus
	AmountMinor int64
	Currency    string
	// RefundedAt is set when Status is RefundSucceeded and the provider reports the time.
	RefundedAt time.Time
	// FailureReason is the provider's reason for RefundFailed, safe to show.
	FailureReason string
}

// RefundFact is what a notification says about a refund.
type RefundFact struct {
	OutRefundNo      string
	ProviderRefundID string
	Status           RefundStatus
	// AmountMinor is this refund's amount; 0 when the message does not say (Alipay's trade
	// notifications carry only the cumulative refund_fee, in TotalRefundedMinor).
	AmountMinor        int64
	TotalRefundedMinor int64
	Currency           string
	RefundedAt         time.Time
	FailureReason      string
}

// Provider is one configured merchant account at a payment provider.
type Provider interface {
	// Type is the PaymentProvider.spec.type this implementation serves.
	Type() string
	// Create creates the payment, idempotently on order.OutTradeNo: a repeat with the same order
	// returns the existing payment; a repeat with a different order is a terminal error.
	Create(ctx context.Context, order Order) (Payment, error)
	// Query returns the payment's current state; ErrNotFound only when the provider itself says,
	// in its own signed or structured answer, that it has none (a bare 404 from a proxy is
	// retryable, never "no payment").
	Query(ctx context.Context, outTradeNo, providerPaymentID string) (Payment, error)
	// Close closes an unpaid payment so it can no longer be paid. Closing a closed payment
	// succeeds; closing a paid one returns ErrAlreadyPaid; a payment the provider does not know
	// but whose link stays payable until it expires (Alipay page/wap before the buyer opens it)
	// returns ErrPayableUntilExpiry.
	Close(ctx context.Context, outTradeNo, providerPaymentID string) error
	// Verify makes the cheapest authenticated call the provider offers (a signed query of a
	// payment that does not exist) and returns nil when the provider accepted the credentials,
	// an error wrapping ErrCredentials when it refused them, and a retryable error otherwise.
	Verify(ctx context.Context) error
	// Refund refunds part or all of a paid payment, idempotently on req.OutRefundNo. The answer
	// is often RefundProcessing; the result comes by notification or QueryRefund.
	Refund(ctx context.Context, req RefundRequest) (Refund, error)
	// QueryRefund returns a refund's current state; ErrNotFound (from the provider's own answer)
	// when it has none with that number. req names the payment and the refund as for Refund.
	QueryRefund(ctx context.Context, req RefundRequest) (Refund, error)
	// ParseNotification verifies the raw request body (signature, timestamp window) before it
	// parses anything, and returns the normalised notification. Verification failures wrap
	// ErrSignature; anything else unparseable wraps ErrMalformed.
	ParseNotification(ctx context.Context, r *http.Request, body []byte) (Notification, error)
	// Ack writes the provider's own answer: success when err is nil, the provider's failure
	// answer (which makes it retry) otherwise. It never writes err's text to the provider.
	Ack(w http.ResponseWriter, err error)
}
