package v1alpha1

// Finalizers, labels and keys kubepay writes on objects and payments. They are part of the API:
// users select on the labels, and providers' dashboards show the metadata keys.
const (
	// Finalizer keeps a PaymentOrder until its open payment is closed at the provider.
	Finalizer = "kubepay.io/finalizer"

	// FinalizerInUse keeps a PaymentProvider while unsettled PaymentOrders use it: deleting it
	// first (namespace deletion, kubectl delete -f dir/) would leave their payments payable with
	// nobody watching.
	FinalizerInUse = "kubepay.io/in-use"

	// AnnotationClaimOrder and AnnotationOutTradeNo mark the Lease that claims an out_trade_no for one
	// order (its holderIdentity is the order's UID): the API server's unique names make two
	// orders with the same orderID impossible to both create a payment.
	AnnotationClaimOrder = "kubepay.io/order"
	AnnotationOutTradeNo = "kubepay.io/out-trade-no"

	// LabelCredentials marks the Secrets kubepay may read; the manager's cache holds only those.
	LabelCredentials = "kubepay.io/credentials"

	// MetadataNamespace and MetadataName are added to every payment's provider metadata, so a
	// payment seen in the provider's dashboard leads back to its PaymentOrder.
	MetadataNamespace = "kubepay.io/namespace"
	MetadataName      = "kubepay.io/name"
)
