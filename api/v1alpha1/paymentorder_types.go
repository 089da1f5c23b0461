package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Phase is where a PaymentOrder is in its life. Only the state machine in internal/statemachine
// moves it, and the CRD's CEL rules refuse any write that moves a terminal phase.
// +kubebuilder:validation:Enum=Pending;AwaitingPayment;Paid;Failed;Expired;Cancelled;PartiallyRefunded;Refunded
type Phase string

// The phases of a PaymentOrder; see internal/statemachine for how each is reached.
const (
	PhasePending           Phase = "Pending"
	PhaseAwaitingPayment   Phase = "AwaitingPayment"
	PhasePaid              Phase = "Paid"
	PhaseFailed            Phase = "Failed"
	PhaseExpired           Phase = "Expired"
	PhaseCancelled         Phase = "Cancelled"
	PhasePartiallyRefunded Phase = "PartiallyRefunded"
	PhaseRefunded          Phase = "Refunded"
)

// Terminal reports whether no payment event can move the order out of this phase any more
// (refunds aside, which only leave Paid).
func (p Phase) Terminal() bool {
	switch p {
	case PhasePaid, PhaseFailed, PhaseExpired, PhaseCancelled, PhasePartiallyRefunded, PhaseRefunded:
		return true
	}
	return false
}

// TransitionSource says what brought the event that moved an order.
// +kubebuilder:validation:Enum=controller;notification;query
type TransitionSource string

// The sources of a transition, recorded in history and in late payments.
const (
	SourceController   TransitionSource = "controller"
	SourceNotification TransitionSource = "notification"
	SourceQuery        TransitionSource = "query"
)

// PaymentOrderSpec is the intent to take one payment. It is immutable after create.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable after create"
// +kubebuilder:validation:XValidation:rule="self.amount.matches('[1-9]')",message="amount must be greater than 0",fieldPath=".amount"
// +kubebuilder:validation:XValidation:rule="self.currency in ['JPY','KRW','VND','CLP','ISK','PYG','XAF','XOF'] ? !self.amount.contains('.') : (self.currency in ['KWD','BHD','OMR','JOD','TND','IQD','LYD'] || self.amount.matches('^[0-9]+([.][0-9]{1,2})?$'))",message="amount has more decimal places than the currency allows (JPY, KRW, VND, CLP, ISK, PYG, XAF, XOF: 0; KWD, BHD, OMR, JOD, TND, IQD, LYD: 3; others: 2)",fieldPath=".amount"
type PaymentOrderSpec struct {
	// providerRef names the PaymentProvider, in the same namespace, that takes this payment.
	// +required
	ProviderRef LocalObjectReference `json:"providerRef"`

	// amount is a positive decimal string in the currency's major unit, e.g. "10.00".
	// +kubebuilder:validation:Pattern=`^[0-9]{1,15}([.][0-9]{1,3})?$`
	// +kubebuilder:validation:MaxLength=19
	// +required
	Amount string `json:"amount"`

	// currency is an upper-case ISO 4217 code.
	// +kubebuilder:validation:Pattern=`^[A-Z]{3}$`
	// +kubebuilder:validation:MaxLength=3
	// +required
	Currency string `json:"currency"`

	// channel is the provider-specific payment method.
	// +kubebuilder:validation:Enum=sandbox;card;alipay_wap;alipay_page;wechat_native;wechat_h5
	// +required
	Channel string `json:"channel"`

	// subject is the short title the customer sees.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +required
	Subject string `json:"subject"`

	// description is an optional longer text.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Description string `json:"description,omitempty"`

	// orderID is the merchant's order number sent to the provider as out_trade_no; when empty one is
	// derived from the object's UID.
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]{6,32}$`
	// +kubebuilder:validation:MaxLength=32
	// +optional
	OrderID string `json:"orderID,omitempty"`

	// returnURL is where the customer is sent after paying.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	// +optional
	ReturnURL string `json:"returnURL,omitempty"`

	// expiresAfter is how long after creation an unpaid order is closed (default 30m).
	// +kubebuilder:default="30m"
	// +optional
	ExpiresAfter *metav1.Duration `json:"expiresAfter,omitempty"`

	// metadata is passed to the provider with the payment.
	// +kubebuilder:validation:MaxProperties=20
	// +optional
	Metadata map[string]MetadataValue `json:"metadata,omitempty"`

	// payerClientIP is the customer's IP address as the shop saw it. WeChat Pay's h5 channel
	// requires it (scene_info.payer_client_ip) and an h5 order without it is refused; other
	// channels ignore it.
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="payerClientIP must be an IPv4 or IPv6 address"
	// +optional
	PayerClientIP string `json:"payerClientIP,omitempty"`
}

// MetadataValue is one value of PaymentOrderSpec.Metadata; bounded so CEL cost stays estimable.
// +kubebuilder:validation:MaxLength=256
type MetadataValue string

// NotificationRef records the last provider notification applied to an order.
type NotificationRef struct {
	// id is the provider's notification/event id.
	// +kubebuilder:validation:MaxLength=128
	ID string `json:"id"`
	// type is the provider's event type.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	Type string `json:"type,omitempty"`
	// receivedAt is when the callback server received it.
	ReceivedAt metav1.Time `json:"receivedAt"`
}

// Transition is one entry of an order's history.
type Transition struct {
	Time metav1.Time `json:"time"`
	// +optional
	From Phase `json:"from,omitempty"`
	To   Phase `json:"to"`
	// source is what brought the event.
	Source TransitionSource `json:"source"`
	// notificationID is set when source is notification.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	NotificationID string `json:"notificationID,omitempty"`
	// reason is a short CamelCase cause, e.g. ProviderRejected.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	Reason string `json:"reason,omitempty"`
}

// MaxHistory bounds status.history; older entries are dropped first.
const MaxHistory = 20

// MaxLatePayments bounds status.latePayments. Past it further late payments are still answered
// and counted, and a Warning Event names each one.
const MaxLatePayments = 8

// LatePayment is money the provider reports moved for an order that was already Expired,
// Cancelled or Failed (or that was being deleted): nobody wants it, so it must be refunded. The
// record is durable (the CRD's rules never let it be removed), unlike the Event beside it.
type LatePayment struct {
	// id identifies the payment at the provider: its transaction id, else its payment id.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	ID string `json:"id"`
	// amount is what the provider reports paid, as a decimal string in the order's currency.
	// +kubebuilder:validation:MaxLength=32
	Amount string `json:"amount"`
	// amountMinor is amount in the currency's minor unit.
	AmountMinor int64 `json:"amountMinor"`
	// receivedAt is when kubepay learnt of it.
	ReceivedAt metav1.Time `json:"receivedAt"`
	// paidAt is the provider's payment time, when it gives one.
	// +optional
	PaidAt *metav1.Time `json:"paidAt,omitempty"`
	// source is what brought the fact: a notification or a query.
	Source TransitionSource `json:"source"`
	// notificationID is the notification that reported it, when one did.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	NotificationID string `json:"notificationID,omitempty"`
	// phase is the order's phase when the money arrived.
	Phase Phase `json:"phase"`
}

// PaymentOrderStatus is the observed state of a PaymentOrder.
type PaymentOrderStatus struct {
	// +optional
	Phase Phase `json:"phase,omitempty"`

	// outTradeNo is the merchant reference sent to the provider; also the idempotency key.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	OutTradeNo string `json:"outTradeNo,omitempty"`

	// providerPaymentID is the provider's id of the payment.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	ProviderPaymentID string `json:"providerPaymentID,omitempty"`

	// paymentURL is where the customer pays (checkout page, QR code content).
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	PaymentURL string `json:"paymentURL,omitempty"`

	// amountMinor is spec.amount in the currency's minor unit.
	// +optional
	AmountMinor int64 `json:"amountMinor,omitempty"`

	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`

	// +optional
	PaidAt *metav1.Time `json:"paidAt,omitempty"`

	// paidAmount is the amount the provider reported paid, as a decimal string.
	// +kubebuilder:validation:MaxLength=32
	// +optional
	PaidAmount string `json:"paidAmount,omitempty"`

	// providerTransactionID is the provider's own id of the money movement (Alipay trade_no,
	// WeChat Pay transaction_id, Stripe payment_intent): what refunds and support requests name.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	ProviderTransactionID string `json:"providerTransactionID,omitempty"`

	// paymentExpiresAt is when the provider stops accepting the payment, when it differs from
	// expiresAt (Stripe sessions live at least 30 minutes). Until then a payment whose close was
	// blocked can still be paid, so a deleted order is kept at least that long.
	// +optional
	PaymentExpiresAt *metav1.Time `json:"paymentExpiresAt,omitempty"`

	// latePayments records money that moved after the order was closed, oldest first.
	// +kubebuilder:validation:MaxItems=8
	// +listType=map
	// +listMapKey=id
	// +optional
	LatePayments []LatePayment `json:"latePayments,omitempty"`

	// +optional
	LastNotification *NotificationRef `json:"lastNotification,omitempty"`

	// history lists the transitions, newest last, at most 20.
	// +kubebuilder:validation:MaxItems=20
	// +listType=atomic
	// +optional
	History []Transition `json:"history,omitempty"`

	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=pord,categories=payments
// +kubebuilder:selectablefield:JSONPath=`.status.outTradeNo`
// +kubebuilder:printcolumn:name="Order",type=string,JSONPath=`.status.outTradeNo`
// +kubebuilder:printcolumn:name="Amount",type=string,JSONPath=`.spec.amount`
// +kubebuilder:printcolumn:name="Currency",type=string,JSONPath=`.spec.currency`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Provider",type=string,JSONPath=`.spec.providerRef.name`
// +kubebuilder:printcolumn:name="Late",type=string,JSONPath=`.status.latePayments[*].amount`,description="Money that arrived after the order closed; it is refunded or must be"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.paymentURL`,priority=1
// The status rules are on the object, not on status: a status write that omits status
// altogether would skip rules on status itself, and erase a Paid order.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !has(oldSelf.status.phase) || !(oldSelf.status.phase in ['Paid','PartiallyRefunded','Refunded','Failed','Expired','Cancelled']) || (has(self.status) && has(self.status.phase) && (self.status.phase == oldSelf.status.phase || (oldSelf.status.phase == 'Paid' && self.status.phase in ['PartiallyRefunded','Refunded']) || (oldSelf.status.phase == 'PartiallyRefunded' && self.status.phase == 'Refunded')))",message="a terminal phase never changes, except Paid to PartiallyRefunded or Refunded",fieldPath=".status.phase"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !has(oldSelf.status.paidAt) || (has(self.status) && has(self.status.paidAt) && self.status.paidAt == oldSelf.status.paidAt)",message="paidAt never changes once set",fieldPath=".status.paidAt"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !has(oldSelf.status.latePayments) || (has(self.status) && has(self.status.latePayments) && oldSelf.status.latePayments.all(o, self.status.latePayments.exists(n, n.id == o.id && n.amountMinor == o.amountMinor && n.receivedAt == o.receivedAt)))",message="a late payment record is never removed or changed",fieldPath=".status.latePayments"
// +kubebuilder:validation:XValidation:rule="self.spec.channel != 'wechat_h5' || has(self.spec.payerClientIP)",message="the wechat_h5 channel needs spec.payerClientIP (WeChat Pay requires the payer's IP for h5 payments)",fieldPath=".spec.payerClientIP"

// PaymentOrder is one payment to take, declared by the platform; its status is the payment's state.
type PaymentOrder struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec PaymentOrderSpec `json:"spec"`
	// +optional
	Status PaymentOrderStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// PaymentOrderList contains a list of PaymentOrder.
type PaymentOrderList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PaymentOrder `json:"items"`
}
