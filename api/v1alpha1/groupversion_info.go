// Package v1alpha1 contains the kubepay.io/v1alpha1 API: PaymentProvider, PaymentOrder and
// PaymentRefund.
//
// It depends on apimachinery only, so clients (apps that watch their orders, other operators) can
// import it without pulling controller-runtime in.
// +kubebuilder:object:generate=true
// +groupName=kubepay.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version used to register these objects.
	GroupVersion = schema.GroupVersion{Group: "kubepay.io", Version: "v1alpha1"}

	// SchemeBuilder collects the functions that add kubepay's types to a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types in this group-version to the given scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// addKnownTypes registers every kind of the group-version; a new kind is added here.
func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&PaymentOrder{}, &PaymentOrderList{},
		&PaymentProvider{}, &PaymentProviderList{},
		&PaymentRefund{}, &PaymentRefundList{},
		&ClusterPaymentProvider{}, &ClusterPaymentProviderList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
