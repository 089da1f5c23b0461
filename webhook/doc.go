// Package webhook is the notification callback server: it receives the providers' signed
// asynchronous notifications, verifies them, and applies them to PaymentOrder status exactly once.
package webhook
