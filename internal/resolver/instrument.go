package resolver

import (
	"context"
	"errors"
	"time"

	"github.com/kubepay/kubepay/internal/metrics"
	"github.com/kubepay/kubepay/providers"
)

// Instrument wraps a provider so every outbound call is counted and timed.
func Instrument(p providers.Provider) providers.Provider {
	return instrumented{Provider: p}
}

type instrumented struct{ providers.Provider }

func observe(typ, op string, start time.Time, err error) {
	metrics.ProviderRequestDuration.WithLabelValues(typ, op).Observe(time.Since(start).Seconds())
	metrics.ProviderRequests.WithLabelValues(typ, op, result(err)).Inc()
}

func result(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, providers.ErrNotFound):
		return "not_found"
	case errors.Is(err, providers.ErrAlreadyPaid):
		return "already_paid"
	case providers.IsRetryable(err):
		return "retryable"
	}
	return "terminal"
}

func (i instrumented) Create(ctx context.Context, o providers.Order) (providers.Payment, error) {
	start := time.Now()
	p, err := i.Provider.Create(ctx, o)
	observe(i.Type(), "create", start, err)
	return p, err
}

func (i instrumented) Query(ctx context.Context, outTradeNo, id string) (providers.Payment, error) {
	start := time.Now()
	p, err := i.Provider.Query(ctx, outTradeNo, id)
	observe(i.Type(), "query", start, err)
	return p, err
}

func (i instrumented) Close(ctx context.Context, outTradeNo, id string) error {
	start := time.Now()
	err := i.Provider.Close(ctx, outTradeNo, id)
	observe(i.Type(), "close", start, err)
	return err
}

func (i instrumented) Verify(ctx context.Context) error {
	start := time.Now()
	err := i.Provider.Verify(ctx)
	observe(i.Type(), "verify", start, err)
	return err
}

func (i instrumented) Refund(ctx context.Context, req providers.RefundRequest) (providers.Refund, error) {
	start := time.Now()
	r, err := i.Provider.Refund(ctx, req)
	observe(i.Type(), "refund", start, err)
	return r, err
}

func (i instrumented) QueryRefund(ctx context.Context, req providers.RefundRequest) (providers.Refund, error) {
	start := time.Now()
	r, err := i.Provider.QueryRefund(ctx, req)
	observe(i.Type(), "query_refund", start, err)
	return r, err
}
