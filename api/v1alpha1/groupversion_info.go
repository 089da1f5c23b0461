// Package v1alpha1 contains the kubepay.io/v1alpha1 API: PaymentProvider and PaymentOrder.
// +kubebuilder:object:generate=true
// +groupName=kubepay.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version used to register these objects.
	GroupVersion = schema.GroupVersion{Group: "kubepay.io", Version: "v1alpha1"}

	// SchemeBuilder adds the kubepay types to a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types in this group-version to the given scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
