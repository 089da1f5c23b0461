package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RefundPhase is where a PaymentRefund is in its life. Only internal/statemachine moves it, and
// the CRD's rules refuse any write that moves a terminal phase.
// +kubebuilder:validation:Enum=Pending;Processing;Succeeded;Failed
type RefundPhase string

// The phases of a PaymentRefund.
const (
	// RefundPending means accepted by kubepay; the amount is being reserved on the order.
	RefundPending RefundPhase = "Pending"
	// RefundProcessing means reserved and sent to the provider, which answers later.
	RefundProcessing RefundPhase = "Processing"
	// RefundSucceeded means the money went back to the customer.
	RefundSucceeded RefundPhase = "Succeeded"
	// RefundFailed means nothing was refunded (refused by kubepay or the provider); the reservation is
	// released.
	RefundFailed RefundPhase = "Failed"
)

// Terminal reports whether nothing can move the refund any more.
func (p RefundPhase) Terminal() bool { return p == RefundSucceeded || p == RefundFailed }

// PaymentRefundSpec is the intent to give back part or all of a paid order. It is immutable.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable after create"
// +kubebuilder:validation:XValidation:rule="self.amount.matches('[1-9]')",message="amount must be greater than 0",fieldPath=".amount"
type PaymentRefundSpec struct {
	// orderRef names the PaymentOrder, in the same namespace, whose payment is refunded.
	// +required
	OrderRef LocalObjectReference `json:"orderRef"`

	// amount is a positive decimal string in the order's currency, with at most the currency's
	// minor digits; together with the order's other refunds it may not exceed what was paid.
	// +kubebuilder:validation:Pattern=`^([0-9]{1,15}([.][0-9]{1,3})?|[0-9]{1,14}[.][0-9]{4})$`
	// +kubebuilder:validation:MaxLength=19
	// +required
	Amount string `json:"amount"`

	// reason is a short text passed to the provider and shown to the customer where the
	// provider does.
	// +kubebuilder:validation:MaxLength=80
	// +optional
	Reason string `json:"reason,omitempty"`

	// refundID is the merchant's refund number: the provider's out_refund_no / out_request_no
	// and the idempotency key. When empty one is derived from the object's UID.
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_]{6,64}$`
	// +kubebuilder:validation:MaxLength=64
	// +optional
	RefundID string `json:"refundID,omitempty"`

	// latePaymentID, when set, refunds that late payment of the order (status.latePayments[].id)
	// instead of its main payment. kubepay sets it on the refunds it creates for late payments.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	LatePaymentID string `json:"latePaymentID,omitempty"`
}

// RefundTransition is one entry of a refund's history.
type RefundTransition struct {
	Time metav1.Time `json:"time"`
	// +optional
	From RefundPhase `json:"from,omitempty"`
	To   RefundPhase `json:"to"`
	// source is what brought the event.
	Source TransitionSource `json:"source"`
	// notificationID is set when source is notification.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	NotificationID string `json:"notificationID,omitempty"`
	// reason is a short CamelCase cause.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	Reason string `json:"reason,omitempty"`
}

// PaymentRefundStatus is the observed state of a PaymentRefund.
type PaymentRefundStatus struct {
	// +optional
	Phase RefundPhase `json:"phase,omitempty"`

	// outRefundNo is the refund number sent to the provider; also the idempotency key.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	OutRefundNo string `json:"outRefundNo,omitempty"`

	// providerRefundID is the provider's id of the refund.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	ProviderRefundID string `json:"providerRefundID,omitempty"`

	// amountMinor is spec.amount in the currency's minor unit; currency is the order's.
	// +optional
	AmountMinor int64 `json:"amountMinor,omitempty"`
	// +kubebuilder:validation:MaxLength=3
	// +optional
	Currency string `json:"currency,omitempty"`

	// +optional
	RefundedAt *metav1.Time `json:"refundedAt,omitempty"`

	// +optional
	LastNotification *NotificationRef `json:"lastNotification,omitempty"`

	// history lists the transitions, newest last, at most 20.
	// +kubebuilder:validation:MaxItems=20
	// +listType=atomic
	// +optional
	History []RefundTransition `json:"history,omitempty"`

	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Reconciling and Stalled (kstatus), Settled, and the ones that say why
	// the object is kept or what money it records.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=12
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=pref,categories=payments
// +kubebuilder:selectablefield:JSONPath=`.status.outRefundNo`
// +kubebuilder:printcolumn:name="Order",type=string,JSONPath=`.spec.orderRef.name`
// +kubebuilder:printcolumn:name="Amount",type=string,JSONPath=`.spec.amount`
// +kubebuilder:printcolumn:name="Currency",type=string,JSONPath=`.status.currency`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Refund",type=string,JSONPath=`.status.outRefundNo`,priority=1
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !has(oldSelf.status.phase) || !(oldSelf.status.phase in ['Succeeded','Failed']) || (has(self.status) && has(self.status.phase) && self.status.phase == oldSelf.status.phase)",message="a terminal refund phase never changes",fieldPath=".status.phase"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !has(oldSelf.status.refundedAt) || (has(self.status) && has(self.status.refundedAt) && self.status.refundedAt == oldSelf.status.refundedAt)",message="refundedAt never changes once set",fieldPath=".status.refundedAt"

// PaymentRefund gives back part or all of a PaymentOrder's payment; its status is the refund's
// state at the provider.
type PaymentRefund struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec PaymentRefundSpec `json:"spec"`
	// +optional
	Status PaymentRefundStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// PaymentRefundList contains a list of PaymentRefund.
type PaymentRefundList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PaymentRefund `json:"items"`
}
