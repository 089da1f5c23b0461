package v1alpha1

// Finalizers, labels and keys kubepay writes on objects and payments. They are part of the API:
// users select on the labels, and providers' dashboards show the metadata keys.
const (
	// Finalizer keeps a PaymentOrder until its open payment is closed at the provider.
	Finalizer = "kubepay.io/finalizer"

	// LabelCredentials marks the Secrets kubepay may read; the manager's cache holds only those.
	LabelCredentials = "kubepay.io/credentials"

	// MetadataNamespace and MetadataName are added to every payment's provider metadata, so a
	// payment seen in the provider's dashboard leads back to its PaymentOrder.
	MetadataNamespace = "kubepay.io/namespace"
	MetadataName      = "kubepay.io/name"
)
