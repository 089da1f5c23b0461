package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ProviderType names a payment provider implementation.
// +kubebuilder:validation:Enum=sandbox;stripe;alipay;wechatpay
type ProviderType string

// The provider types a PaymentProvider can have; each is a package under providers/.
const (
	ProviderSandbox   ProviderType = "sandbox"
	ProviderStripe    ProviderType = "stripe"
	ProviderAlipay    ProviderType = "alipay"
	ProviderWeChatPay ProviderType = "wechatpay"
)

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// name of the referenced object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
}

// The kinds a PaymentOrder's providerRef can name.
const (
	// KindPaymentProvider is a provider account in the order's own namespace.
	KindPaymentProvider = "PaymentProvider"
	// KindClusterPaymentProvider is a provider account shared by every namespace; its Secret lives
	// in the manager's namespace.
	KindClusterPaymentProvider = "ClusterPaymentProvider"
)

// ProviderReference names the provider account of a PaymentOrder.
type ProviderReference struct {
	// kind is PaymentProvider (in the order's namespace; the default) or ClusterPaymentProvider.
	// +kubebuilder:validation:Enum=PaymentProvider;ClusterPaymentProvider
	// +kubebuilder:default=PaymentProvider
	// +optional
	Kind string `json:"kind,omitempty"`
	// name of the PaymentProvider or ClusterPaymentProvider.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
}

// IsCluster reports whether the reference names a ClusterPaymentProvider.
func (r ProviderReference) IsCluster() bool { return r.Kind == KindClusterPaymentProvider }

// QuerySettings tunes the fallback polling of the provider while a payment awaits its notification.
type QuerySettings struct {
	// initialInterval is the first wait before querying the provider (default 30s).
	// +optional
	InitialInterval *metav1.Duration `json:"initialInterval,omitempty"`
	// maxInterval caps the doubling interval (default 10m).
	// +optional
	MaxInterval *metav1.Duration `json:"maxInterval,omitempty"`
}

// PaymentProviderSpec configures one account at one payment provider.
// +kubebuilder:validation:XValidation:rule="has(self.outTradeNoPrefix) == has(oldSelf.outTradeNoPrefix) && (!has(self.outTradeNoPrefix) || self.outTradeNoPrefix == oldSelf.outTradeNoPrefix)",message="outTradeNoPrefix cannot change: payments already created are known by their prefixed number",fieldPath=".outTradeNoPrefix"
type PaymentProviderSpec struct {
	// type selects the provider implementation.
	// +required
	Type ProviderType `json:"type"`

	// endpoint overrides the provider's API base URL (sandbox gateway address, provider sandbox).
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// appID is the application id at providers that have one (Alipay app_id, WeChat appid).
	// +kubebuilder:validation:MaxLength=64
	// +optional
	AppID string `json:"appID,omitempty"`

	// merchantID is the merchant id at providers that have one (Alipay seller_id, WeChat mchid).
	// +kubebuilder:validation:MaxLength=64
	// +optional
	MerchantID string `json:"merchantID,omitempty"`

	// credentialsSecretRef names the Secret holding the provider's keys: in the same namespace for
	// a PaymentProvider, in the manager's namespace for a ClusterPaymentProvider. The Secret must
	// carry the label kubepay.io/credentials=true to be visible to the controller; the keys each
	// provider type reads are listed in docs/design.md.
	// +required
	CredentialsSecretRef LocalObjectReference `json:"credentialsSecretRef"`

	// callbackBaseURL is the public base URL at which the provider reaches kubepay's callback server;
	// the notify URL (shown in status.notifyURL) is <callbackBaseURL>/notify/<namespace>/<name> for
	// a PaymentProvider and <callbackBaseURL>/notify/_cluster/<name> for a ClusterPaymentProvider.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://[^\s?#]+$`
	// +optional
	CallbackBaseURL string `json:"callbackBaseURL,omitempty"`

	// query tunes the fallback polling of the provider.
	// +optional
	Query *QuerySettings `json:"query,omitempty"`

	// outTradeNoPrefix is put before every out_trade_no this provider sends, so namespaces (or
	// clusters) sharing one merchant account cannot collide on the same orderID. Letters, digits
	// and _ only (Alipay's rule), at most 16; prefix and orderID together at most 32 characters.
	// It cannot change: payments already created are known by their prefixed number.
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_]{1,16}$`
	// +kubebuilder:validation:MaxLength=16
	// +optional
	OutTradeNoPrefix string `json:"outTradeNoPrefix,omitempty"`

	// latePayments says what kubepay does with money that succeeds for an order already
	// Expired, Cancelled or Failed, or paid while its order was being deleted: Refund (default)
	// creates a PaymentRefund for the full amount, exactly once; Record only keeps the record in
	// the order's status for a person to act on.
	// +kubebuilder:validation:Enum=Refund;Record
	// +kubebuilder:default=Refund
	// +optional
	LatePayments LatePaymentPolicy `json:"latePayments,omitempty"`

	// retention deletes this provider's settled orders, and their refunds, some time after they
	// settled, so etcd does not grow with history. Off when unset. Keep a record elsewhere first
	// (docs/scaling.md says how).
	// +optional
	Retention *RetentionSettings `json:"retention,omitempty"`
}

// RetentionSettings says how long settled orders stay.
type RetentionSettings struct {
	// settledOrderTTL is how long after an order settled (terminal, no refund in flight, no late
	// payment left to give back) it is deleted with its refunds; at least 1h, e.g. "720h".
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h')",message="settledOrderTTL must be at least 1h"
	// +optional
	SettledOrderTTL *metav1.Duration `json:"settledOrderTTL,omitempty"`
}

// LatePaymentPolicy is what to do with money nobody wants.
type LatePaymentPolicy string

// The late payment policies.
const (
	// LatePaymentsRefund gives late money back automatically.
	LatePaymentsRefund LatePaymentPolicy = "Refund"
	// LatePaymentsRecord keeps the durable record only.
	LatePaymentsRecord LatePaymentPolicy = "Record"
)

// PaymentProviderStatus is the observed state of a PaymentProvider.
type PaymentProviderStatus struct {
	// notifyURL is the exact URL given to the provider for asynchronous notifications.
	// +optional
	NotifyURL string `json:"notifyURL,omitempty"`

	// observedGeneration is the generation last processed.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready is True when the credentials load and parse.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=payments
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Notify URL",type=string,JSONPath=`.status.notifyURL`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// PaymentProvider is one merchant account at a payment provider.
type PaymentProvider struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec PaymentProviderSpec `json:"spec"`
	// +optional
	Status PaymentProviderStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// PaymentProviderList contains a list of PaymentProvider.
type PaymentProviderList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PaymentProvider `json:"items"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,categories=payments
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Notify URL",type=string,JSONPath=`.status.notifyURL`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ClusterPaymentProvider is one merchant account at a payment provider shared by every
// namespace: orders name it with providerRef.kind ClusterPaymentProvider. Its credentials Secret
// lives in the manager's namespace, so app teams can take payments without holding the keys.
type ClusterPaymentProvider struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec PaymentProviderSpec `json:"spec"`
	// +optional
	Status PaymentProviderStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ClusterPaymentProviderList contains a list of ClusterPaymentProvider.
type ClusterPaymentProviderList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterPaymentProvider `json:"items"`
}

// AsPaymentProvider is the cluster provider seen as a PaymentProvider with no namespace, so code
// that builds, checks and routes providers handles both kinds alike.
func (c *ClusterPaymentProvider) AsPaymentProvider() *PaymentProvider {
	return &PaymentProvider{TypeMeta: c.TypeMeta, ObjectMeta: *c.ObjectMeta.DeepCopy(), Spec: *c.Spec.DeepCopy(), Status: *c.Status.DeepCopy()}
}
