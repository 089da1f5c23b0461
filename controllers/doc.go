// Package controllers holds kubepay's reconcilers. The PaymentOrder controller's wiring (watches,
// rate limits) is in paymentorder_controller.go and its decisions in paymentorder_sync.go and
// paymentorder_finalize.go; what a provider's answer means for an order is decided by
// internal/settle and internal/statemachine, which the callback server uses too.
package controllers
