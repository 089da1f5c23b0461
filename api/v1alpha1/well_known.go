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

	// AnnotationClaimOrder and AnnotationOutTradeNo mark the Lease that claims a merchant number
	// (an out_trade_no, or an out_refund_no) for one object, whose UID is the Lease's
	// holderIdentity: the API server's unique names make two orders with the same orderID (or two
	// refunds with the same refundID) impossible to both reach the provider. AnnotationClaimOrder
	// names the holding object; AnnotationOutTradeNo carries the number.
	AnnotationClaimOrder = "kubepay.io/holder"
	AnnotationOutTradeNo = "kubepay.io/number"

	// FieldSettled is the selectable field of a settled PaymentOrder (status.settled: terminal, no
	// refund in flight, no late payment left to give back): the manager's cache selects
	// FieldSettled!=true, so its memory follows the orders that can still move money. It is a
	// status field, not a label, so the write that settles an order also takes it out of the
	// cache, and only status writers (kubepay) can set it.
	FieldSettled = "status.settled"

	// LabelOrder names, on a PaymentRefund kubepay creates, the order whose money it gives back.
	LabelOrder = "kubepay.io/order"

	// LabelCredentials marks the Secrets kubepay may read; the manager's cache holds only those.
	LabelCredentials = "kubepay.io/credentials"

	// MetadataNamespace and MetadataName are added to every payment's provider metadata, so a
	// payment seen in the provider's dashboard leads back to its PaymentOrder.
	MetadataNamespace = "kubepay.io/namespace"
	MetadataName      = "kubepay.io/name"
)
