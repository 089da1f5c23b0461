package providers

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound means the provider has no payment for the reference. The controller takes it
	// as nothing to pay and nothing to close, so an expiry or a deletion goes ahead.
	ErrNotFound = errors.New("payment not found at provider")
	// ErrAlreadyPaid reports a close refused because the payment is paid: money moved, so the
	// order must not be settled as closed.
	ErrAlreadyPaid = errors.New("payment already paid")
	// ErrSignature reports a notification that failed verification (signature, key, timestamp
	// window). It is answered with 400, since that notification will never verify.
	ErrSignature = errors.New("notification verification failed")
	// ErrMalformed reports a verified notification that could not be parsed. It is answered with
	// 400, since parsing it again cannot succeed.
	ErrMalformed = errors.New("malformed notification")
	// ErrCredentials reports a provider Secret with missing keys or keys that do not parse, or
	// credentials the provider refused (401/403, invalid signature or app id). An order never
	// fails on it: only the account can be fixed, so orders wait, retried with backoff, and an
	// edit of the Secret wakes them at once.
	ErrCredentials = errors.New("invalid provider credentials")
	// ErrPayableUntilExpiry reports that the provider has no payment to close yet, but the link kubepay handed
	// out stays payable until the payment's expiry (Alipay page/wap create no trade until the
	// buyer opens the link). Not closed: whoever needed it closed must wait for the expiry.
	ErrPayableUntilExpiry = errors.New("no payment to close yet, but its link stays payable until it expires")
	// ErrRefundExceedsPayment reports that the provider refused a refund because it would exceed what is
	// left of the payment.
	ErrRefundExceedsPayment = errors.New("refund exceeds the refundable amount of the payment")
)

// Error is a provider call failure, classified so the controller knows whether to retry.
type Error struct {
	// Op is the provider operation: create, query, close.
	Op string
	// Code is the provider's own error code or the HTTP status, for logs and conditions.
	Code string
	// Retryable errors (network, 5xx, 429, timeouts) are retried with backoff; the others
	// (invalid request, conflicting idempotent create) are terminal for the order.
	Retryable bool
	Err       error
}

func (e *Error) Error() string {
	kind := "terminal"
	if e.Retryable {
		kind = "retryable"
	}
	if e.Code != "" {
		return fmt.Sprintf("%s: %s error %s: %v", e.Op, kind, e.Code, e.Err)
	}
	return fmt.Sprintf("%s: %s error: %v", e.Op, kind, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable wraps err as a retryable failure of op.
func Retryable(op, code string, err error) error {
	return &Error{Op: op, Code: code, Retryable: true, Err: err}
}

// Terminal wraps err as a terminal failure of op.
func Terminal(op, code string, err error) error {
	return &Error{Op: op, Code: code, Retryable: false, Err: err}
}

// IsRetryable reports whether err should be retried. Unclassified errors are retryable: when in
// doubt about money, ask again rather than give up on the order.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Retryable
	}
	return !errors.Is(err, ErrCredentials)
}

// Code returns the provider's error code carried by err, or "".
func Code(err error) string {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}
