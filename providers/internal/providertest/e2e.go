// Package providertest is end-to-end test support shared by the provider packages' external
// tests: a kubepay manager on a real control plane. Only tests import it.
package providertest

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/testenv"
	"github.com/kubepay/kubepay/internal/testfixture"
)

// E2ETimeout bounds every wait for the manager in an end-to-end test.
const E2ETimeout = 30 * time.Second

// E2E is one namespace on a real control plane with the kubepay manager running.
type E2E struct {
	T   *testing.T
	Env *testenv.Env
	NS  string
	// Manager is the running manager; its CallbackURL receives notifications.
	Manager *testfixture.Manager
}

// StartE2E starts a control plane and the kubepay manager, stopped when t ends.
func StartE2E(t *testing.T) *E2E {
	env := testenv.Start(t)
	mgr, err := testfixture.StartManager(env, nil, nil)
	if err != nil {
		t.Fatalf("starting the kubepay manager: %v", err)
	}
	t.Cleanup(mgr.Stop)
	return &E2E{T: t, Env: env, NS: env.Namespace(t), Manager: mgr}
}

// CreateProvider makes the labelled credentials Secret holding secret and a PaymentProvider with
// spec, pointed at that Secret.
func (e *E2E) CreateProvider(name string, secret map[string][]byte, spec v1.PaymentProviderSpec) {
	e.T.Helper()
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.NS, Name: name + "-credentials", Labels: map[string]string{"kubepay.io/credentials": "true"}},
		Data:       secret,
	}
	spec.CredentialsSecretRef = v1.LocalObjectReference{Name: s.Name}
	pp := &v1.PaymentProvider{ObjectMeta: metav1.ObjectMeta{Namespace: e.NS, Name: name}, Spec: spec}
	for _, o := range []client.Object{s, pp} {
		if err := e.Env.Client.Create(e.T.Context(), o); err != nil {
			e.T.Fatal(err)
		}
	}
}

// QueryEvery is query settings polling the provider at a fixed interval.
func QueryEvery(d time.Duration) *v1.QuerySettings {
	return &v1.QuerySettings{InitialInterval: &metav1.Duration{Duration: d}, MaxInterval: &metav1.Duration{Duration: d}}
}

// CreateOrder makes a PaymentOrder with spec.
func (e *E2E) CreateOrder(name string, spec v1.PaymentOrderSpec) {
	e.T.Helper()
	o := &v1.PaymentOrder{ObjectMeta: metav1.ObjectMeta{Namespace: e.NS, Name: name}, Spec: spec}
	if err := e.Env.Client.Create(e.T.Context(), o); err != nil {
		e.T.Fatal(err)
	}
}

// Get reads the PaymentOrder name.
func (e *E2E) Get(name string) *v1.PaymentOrder {
	e.T.Helper()
	return e.Env.Order(e.T, e.NS, name)
}

// WaitPhase waits up to E2ETimeout for the PaymentOrder name to reach phase and returns it.
func (e *E2E) WaitPhase(name string, phase v1.Phase) *v1.PaymentOrder {
	e.T.Helper()
	return e.Env.WaitPhase(e.T, e.NS, name, phase, E2ETimeout)
}

// WaitSettled waits until the order is settled (status.settled, written with the write that
// settles it) and returns it.
func (e *E2E) WaitSettled(name string) *v1.PaymentOrder {
	e.T.Helper()
	var o *v1.PaymentOrder
	testenv.Eventually(e.T, E2ETimeout, func() (bool, string) {
		o = e.Get(name)
		return o.Status.Settled, fmt.Sprintf("order %s/%s is %q and not settled", e.NS, name, o.Status.Phase)
	})
	return o
}
