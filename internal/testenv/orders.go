package testenv

import (
	"fmt"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
)

// Order reads a PaymentOrder from the API server, failing the test when it cannot.
func (e *Env) Order(t testing.TB, ns, name string) *v1.PaymentOrder {
	t.Helper()
	o := &v1.PaymentOrder{}
	if err := e.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, o); err != nil {
		t.Fatalf("reading PaymentOrder %s/%s: %v", ns, name, err)
	}
	return o
}

// WaitPhase waits until the PaymentOrder reaches phase and returns it.
func (e *Env) WaitPhase(t testing.TB, ns, name string, phase v1.Phase, timeout time.Duration) *v1.PaymentOrder {
	t.Helper()
	var o *v1.PaymentOrder
	Eventually(t, timeout, func() (bool, string) {
		o = e.Order(t, ns, name)
		return o.Status.Phase == phase, fmt.Sprintf("order %s/%s is %q (conditions %+v), want %s", ns, name, o.Status.Phase, o.Status.Conditions, phase)
	})
	return o
}
