package providers

import (
	"context"
	"errors"
	"net/http"
)

// ErrNotImplemented is what a call without an implementation answers: a ProviderFns call whose
// function is not set (so a unit test that reaches a call it did not expect fails on a clear
// error), or a provider that lacks the call.
var ErrNotImplemented = errors.New("provider call not implemented")

// ProviderFns is a Provider whose calls are function fields, for unit tests of the code that
// drives providers (in the spirit of crossplane's ExternalClientFns): each test sets the calls it
// expects and records what it was asked.
type ProviderFns struct {
	TypeName            string
	CreateFn            func(ctx context.Context, order Order) (Payment, error)
	QueryFn             func(ctx context.Context, outTradeNo, providerPaymentID string) (Payment, error)
	CloseFn             func(ctx context.Context, outTradeNo, providerPaymentID string) error
	ParseNotificationFn func(ctx context.Context, r *http.Request, body []byte) (Notification, error)
	AckFn               func(w http.ResponseWriter, err error)
	VerifyFn            func(ctx context.Context) error
	RefundFn            func(ctx context.Context, req RefundRequest) (Refund, error)
	QueryRefundFn       func(ctx context.Context, req RefundRequest) (Refund, error)
}

var _ Provider = &ProviderFns{}

// Type returns TypeName, or "fake".
func (p *ProviderFns) Type() string {
	if p.TypeName == "" {
		return "fake"
	}
	return p.TypeName
}

// Create calls CreateFn.
func (p *ProviderFns) Create(ctx context.Context, order Order) (Payment, error) {
	if p.CreateFn == nil {
		return Payment{}, Terminal("create", "", ErrNotImplemented)
	}
	return p.CreateFn(ctx, order)
}

// Query calls QueryFn.
func (p *ProviderFns) Query(ctx context.Context, outTradeNo, providerPaymentID string) (Payment, error) {
	if p.QueryFn == nil {
		return Payment{}, Terminal("query", "", ErrNotImplemented)
	}
	return p.QueryFn(ctx, outTradeNo, providerPaymentID)
}

// Close calls CloseFn.
func (p *ProviderFns) Close(ctx context.Context, outTradeNo, providerPaymentID string) error {
	if p.CloseFn == nil {
		return Terminal("close", "", ErrNotImplemented)
	}
	return p.CloseFn(ctx, outTradeNo, providerPaymentID)
}

// ParseNotification calls ParseNotificationFn.
func (p *ProviderFns) ParseNotification(ctx context.Context, r *http.Request, body []byte) (Notification, error) {
	if p.ParseNotificationFn == nil {
		return Notification{}, ErrNotImplemented
	}
	return p.ParseNotificationFn(ctx, r, body)
}

// Ack calls AckFn, or answers like most providers (200 success, failure otherwise).
func (p *ProviderFns) Ack(w http.ResponseWriter, err error) {
	if p.AckFn != nil {
		p.AckFn(w, err)
		return
	}
	Acknowledge(w, err, "text/plain; charset=utf-8", "success", "fail")
}

// Verify calls VerifyFn, or accepts the credentials.
func (p *ProviderFns) Verify(ctx context.Context) error {
	if p.VerifyFn == nil {
		return nil
	}
	return p.VerifyFn(ctx)
}

// Refund calls RefundFn.
func (p *ProviderFns) Refund(ctx context.Context, req RefundRequest) (Refund, error) {
	if p.RefundFn == nil {
		return Refund{}, Terminal("refund", "", ErrNotImplemented)
	}
	return p.RefundFn(ctx, req)
}

// QueryRefund calls QueryRefundFn.
func (p *ProviderFns) QueryRefund(ctx context.Context, req RefundRequest) (Refund, error) {
	if p.QueryRefundFn == nil {
		return Refund{}, Terminal("query_refund", "", ErrNotImplemented)
	}
	return p.QueryRefundFn(ctx, req)
}
