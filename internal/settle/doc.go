// Package settle is the one owner of "what the provider said → what the order becomes".
//
// A provider speaks about a payment in two ways: a Payment, answered to the controller's own
// authenticated create or query, and a Notification, pushed to the callback server and verified
// there. Both are turned into one Fact here; Decide checks the fact against the order and gives
// the state-machine event to apply, or the reason it must not be applied; Emitter writes the
// Kubernetes Events and metrics of what was committed. The controller and the callback server
// call these and do nothing of their own beyond reading and writing objects.
package settle
