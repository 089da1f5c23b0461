// Package metrics defines kubepay's Prometheus metrics, registered on controller-runtime's
// registry so they are served on the manager's metrics endpoint.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// OrderTransitions counts phase transitions written to PaymentOrder status.
	OrderTransitions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubepay_order_transitions_total",
		Help: "PaymentOrder phase transitions, by from and to phase.",
	}, []string{"from", "to"})

	// LatePayments counts money that moved for orders already closed, by the order's phase then.
	LatePayments = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubepay_late_payments_total",
		Help: "Payments that succeeded for PaymentOrders already Expired, Cancelled or Failed (recorded in status.latePayments to be refunded), by the order's phase.",
	}, []string{"phase"})

	// RefundTransitions counts phase transitions written to PaymentRefund status.
	RefundTransitions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubepay_refund_transitions_total",
		Help: "PaymentRefund phase transitions, by from and to phase.",
	}, []string{"from", "to"})

	// ProviderRequests counts calls to payment providers by outcome.
	ProviderRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubepay_provider_requests_total",
		Help: "Calls to payment providers, by provider type, operation and result (ok, retryable, terminal, not_found, already_paid).",
	}, []string{"provider", "op", "result"})

	// ProviderRequestDuration measures provider call latency.
	ProviderRequestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kubepay_provider_request_duration_seconds",
		Help:    "Latency of calls to payment providers, by provider type and operation.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
	}, []string{"provider", "op"})

	// Notifications counts notifications received by the callback server by result.
	Notifications = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubepay_notifications_total",
		Help: "Provider notifications received, by provider type and result (applied, late_payment, duplicate, ignored, rejected_signature, rejected_mismatch, unknown_order, rate_limited, error).",
	}, []string{"provider", "result"})

	// NotificationDuration measures receipt-to-answer time of notifications.
	NotificationDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kubepay_notification_duration_seconds",
		Help:    "Time from receiving a notification to answering it, by provider type.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	}, []string{"provider"})
)

// Collectors returns kubepay's event metrics above, the ones init registers; the state gauges
// (State) are registered by the manager, which owns the cache they read.
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{OrderTransitions, LatePayments, RefundTransitions, ProviderRequests, ProviderRequestDuration, Notifications, NotificationDuration}
}

func init() {
	ctrlmetrics.Registry.MustRegister(Collectors()...)
}
