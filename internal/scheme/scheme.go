// Package scheme holds the one runtime.Scheme kubepay's binaries and tests share.
package scheme

import (
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	kubepayv1alpha1 "github.com/kubepay/kubepay/api/v1alpha1"
)

// New returns a scheme with the built-in Kubernetes types and kubepay.io/v1alpha1.
func New() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := kubepayv1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}
