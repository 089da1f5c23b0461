package v1alpha1

// Condition types kubepay sets on its objects' status.conditions.
const (
	// ConditionReady is True while the object is where it should be: a PaymentOrder with a payment
	// to pay or settled, a PaymentProvider whose credentials work.
	ConditionReady = "Ready"
	// ConditionNotificationRejected is True on a PaymentOrder after a verified notification did not
	// match it (amount, currency, merchant, payment id); the message names the notification. A
	// matching notification applied later clears it.
	ConditionNotificationRejected = "NotificationRejected"
	// ConditionReconciling (kstatus) is True while kubepay still has work to do on the object on
	// its own: creating, retrying, waiting on credentials, a refund in flight. Absent otherwise.
	ConditionReconciling = "Reconciling"
	// ConditionStalled (kstatus) is True when only a person can move the object on: Failed, an
	// invalid amount, a blocked close, unwanted money with no refund. Absent otherwise.
	ConditionStalled = "Stalled"
	// ConditionSettled is True once the object reached a terminal phase, whatever the outcome, so
	// `kubectl wait --for=condition=Settled` returns on every outcome; status.phase says which.
	ConditionSettled = "Settled"
)

// Reasons of PaymentOrder conditions, history entries and Events. A reason is CamelCase and
// stable: alerts and scripts match on it, so a reason is never renamed, only added.
const (
	// ReasonCreating: the order was initialised and its payment is being created.
	ReasonCreating = "Creating"
	// ReasonAwaitingPayment: the payment exists; the customer pays at status.paymentURL.
	ReasonAwaitingPayment = "AwaitingPayment"
	// ReasonPaid: the provider reports the money moved.
	ReasonPaid = "Paid"
	// ReasonFailed: the customer's payment failed at the provider.
	ReasonFailed = "Failed"
	// ReasonExpired: the order was not paid by expiresAt and was closed at the provider.
	ReasonExpired = "Expired"
	// ReasonCancelled: the payment was closed before expiresAt (deleted order, closed elsewhere).
	ReasonCancelled = "Cancelled"
	// ReasonInvalidAmount: spec.amount cannot be converted for the currency (the CRD's rules
	// should have refused it).
	ReasonInvalidAmount = "InvalidAmount"
	// ReasonProviderRejected: the provider refused to create the payment, terminally.
	ReasonProviderRejected = "ProviderRejected"
	// ReasonProviderError: a provider call failed in a way worth retrying; retried with backoff.
	ReasonProviderError = "ProviderError"
	// ReasonProviderNotFound: the order's PaymentProvider does not exist (yet).
	ReasonProviderNotFound = "ProviderNotFound"
	// ReasonProviderNotReady: the PaymentProvider exists but cannot be used.
	ReasonProviderNotReady = "ProviderNotReady"
	// ReasonCredentialsInvalid: the credentials Secret is missing, unlabelled or does not parse.
	ReasonCredentialsInvalid = "CredentialsInvalid"
	// ReasonNotificationRejected: a verified notification did not match the order.
	ReasonNotificationRejected = "NotificationRejected"
	// ReasonIrreconcilable: the provider reports money moved for an order that is already closed.
	ReasonIrreconcilable = "Irreconcilable"
	// ReasonCloseSkipped: a deleted order's payment could not be closed (its provider is gone).
	ReasonCloseSkipped = "CloseSkipped"
	// ReasonPaidBeforeDeletion: the payment of an order being deleted turned out to be paid.
	ReasonPaidBeforeDeletion = "PaidBeforeDeletion"
)

// Reasons of PaymentProvider conditions and Events.
const (
	// ReasonCredentialsLoaded: the credentials Secret loads and parses.
	ReasonCredentialsLoaded = "CredentialsLoaded"
)

// Event actions: what kubepay was doing when it emitted an Event (events.k8s.io/v1 action).
const (
	// ActionTransition: a phase transition was written to status.
	ActionTransition = "Transition"
	// ActionReconcile: the controller's reconcile found something worth telling.
	ActionReconcile = "Reconcile"
	// ActionNotification: the callback server handled a notification.
	ActionNotification = "Notification"
	// ActionDelete: the finalizer handled a deletion.
	ActionDelete = "Delete"
)

// Conditions and reasons of the guarantees around closed and deleted orders.
const (
	// ConditionLatePayment is True while the order records money that moved after it closed
	// (status.latePayments) and has not been refunded.
	ConditionLatePayment = "LatePayment"
	// ConditionPaidWhileDeleting is True on an order being deleted whose payment turned out to be
	// paid: the order is kept, Paid, until the money is refunded or someone releases it.
	ConditionPaidWhileDeleting = "PaidWhileDeleting"
	// ConditionCloseBlocked is True on an order being deleted whose open payment cannot be closed
	// (provider or credentials gone, or a link payable until it expires): the order is kept
	// until the provider is back or the payment's own expiry has passed.
	ConditionCloseBlocked = "CloseBlocked"

	// ReasonLatePayment: money moved for an order that was Expired, Cancelled or Failed.
	ReasonLatePayment = "LatePayment"
	// ReasonDuplicateOrderID: another order of the same provider already holds this orderID.
	ReasonDuplicateOrderID = "DuplicateOrderID"
	// ReasonInvalidOrderID: the out_trade_no (prefix and orderID) breaks a provider's rule.
	ReasonInvalidOrderID = "InvalidOrderID"
	// ReasonPayableUntilExpiry: the provider has nothing to close yet but the link stays payable
	// until the payment expires.
	ReasonPayableUntilExpiry = "PayableUntilExpiry"
	// ReasonReleasedAfterExpiry: a blocked close was given up after the payment's own expiry.
	ReasonReleasedAfterExpiry = "ReleasedAfterExpiry"
	// ReasonInUse: a PaymentProvider being deleted is kept while unsettled orders use it.
	ReasonInUse = "InUse"
	// ReasonAuthenticated: the provider accepted an authenticated call with the credentials.
	ReasonAuthenticated = "Authenticated"
	// ReasonProviderUnreachable: the provider could not be asked whether the credentials work.
	ReasonProviderUnreachable = "ProviderUnreachable"
)

// Reasons of PaymentRefund conditions, history entries and Events, and of the order's refunds.
const (
	// ReasonRefundRequested: the refund was accepted by kubepay; its amount is being reserved.
	ReasonRefundRequested = "RefundRequested"
	// ReasonRefundProcessing: the provider accepted the refund and answers later.
	ReasonRefundProcessing = "RefundProcessing"
	// ReasonRefunded: the money went back to the customer.
	ReasonRefunded = "Refunded"
	// ReasonPartiallyRefunded: part of the order's payment went back to the customer.
	ReasonPartiallyRefunded = "PartiallyRefunded"
	// ReasonRefundFailed: the provider did not refund (closed, abnormal, refused later).
	ReasonRefundFailed = "RefundFailed"
	// ReasonRefundAbnormal: the provider holds the refund's money but could not give it back
	// (WeChat Pay ABNORMAL); a person must act at the provider. The refund stays in flight.
	ReasonRefundAbnormal = "RefundAbnormal"
	// ReasonOrderNotFound: the refund's order does not exist.
	ReasonOrderNotFound = "OrderNotFound"
	// ReasonOrderNotPaid: the order has no paid money to refund.
	ReasonOrderNotPaid = "OrderNotPaid"
	// ReasonExceedsRefundable: with the order's other refunds it would give back more than was paid.
	ReasonExceedsRefundable = "ExceedsRefundable"
	// ReasonDuplicateRefundID: another refund already uses this refund number at the provider.
	ReasonDuplicateRefundID = "DuplicateRefundID"
	// ReasonRefundInFlight: an order being deleted is kept while one of its refunds is in flight.
	ReasonRefundInFlight = "RefundInFlight"
	// ReasonLatePaymentRefund: kubepay created a refund for money nobody wanted.
	ReasonLatePaymentRefund = "LatePaymentRefund"
	// ReasonRetentionDeleted: the provider's retention deleted settled orders past their TTL.
	ReasonRetentionDeleted = "RetentionDeleted"
)
