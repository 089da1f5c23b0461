// Package controllers holds kubepay's reconcilers: the PaymentOrder controller (wiring in
// paymentorder_controller.go, logic in paymentorder_sync.go) and the state machine they share with
// the callback server.
package controllers
