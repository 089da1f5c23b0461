package controllers_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/manager"
	"github.com/kubepay/kubepay/internal/testenv"
	"github.com/kubepay/kubepay/internal/testfixture"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
	"github.com/kubepay/kubepay/providers/sandbox/gatewaytest"
)

// TestClusterPaymentProviderServesEveryNamespace: one merchant account, declared once with its
// Secret in the manager's namespace, takes payments for orders in two namespaces; its
// notifications arrive on a route of their own; an orderID is unique across those namespaces,
// since they share the account.
func TestClusterPaymentProviderServesEveryNamespace(t *testing.T) {
	shopA := env.Namespace(t)
	shopB := env.Namespace(t)
	gw, srv := gatewaytest.StartTest(t, gateway.Options{})
	name := "shared-" + shopA // cluster-scoped: unique per test run
	ensureNamespace(t, manager.DefaultClusterNamespace())
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: manager.DefaultClusterNamespace(), Name: name, Labels: map[string]string{v1.LabelCredentials: "true"}},
		Data:       gatewaytest.Secret(gw, gatewaytest.APIKey),
	}
	if err := env.Client.Create(t.Context(), secret); err != nil {
		t.Fatal(err)
	}
	cpp := &v1.ClusterPaymentProvider{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1.PaymentProviderSpec{
		Type: v1.ProviderSandbox, Endpoint: srv.URL, CredentialsSecretRef: v1.LocalObjectReference{Name: name},
		CallbackBaseURL: mgrCallback(), Query: &v1.QuerySettings{InitialInterval: &metav1.Duration{Duration: time.Hour}},
	}}
	if err := env.Client.Create(t.Context(), cpp); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		got := &v1.ClusterPaymentProvider{}
		if err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(cpp), got); err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(got.Status.Conditions, v1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionTrue && strings.HasSuffix(got.Status.NotifyURL, "/notify/_cluster/"+name),
			fmt.Sprintf("Ready %+v notifyURL %q, want Ready and the cluster route", c, got.Status.NotifyURL)
	})

	order := func(ns, orderName string) *v1.PaymentOrder {
		o := &v1.PaymentOrder{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: orderName}, Spec: v1.PaymentOrderSpec{
			ProviderRef: v1.ProviderReference{Kind: v1.KindClusterPaymentProvider, Name: name},
			Amount:      "3.00", Currency: "CNY", Channel: "sandbox", Subject: orderName, OrderID: "SHARED_0001",
		}}
		if err := env.Client.Create(t.Context(), o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	first := order(shopA, "first")
	a := env.WaitPhase(t, shopA, "first", v1.PhaseAwaitingPayment, 30*time.Second)
	order(shopB, "second")
	b := env.WaitPhase(t, shopB, "second", v1.PhaseFailed, 30*time.Second)
	if last := b.Status.History[len(b.Status.History)-1]; last.Reason != v1.ReasonDuplicateOrderID {
		t.Errorf("the same orderID in another namespace on the shared account failed with %q, want %s", last.Reason, v1.ReasonDuplicateOrderID)
	}
	(&testfixture.Fixture{T: t, URL: srv.URL}).Pay(a.Status.ProviderPaymentID, "succeeded")
	paid := env.WaitPhase(t, shopA, "first", v1.PhasePaid, 30*time.Second)
	if last := paid.Status.History[len(paid.Status.History)-1]; last.Source != v1.SourceNotification {
		t.Errorf("paid by %s, want by the notification on the cluster route", last.Source)
	}
	// The claim lives in the manager's namespace (no owner reference can reach it there) and goes
	// with the order.
	leases := &coordinationv1.LeaseList{}
	if err := env.Client.List(t.Context(), leases, client.InNamespace(manager.DefaultClusterNamespace())); err != nil {
		t.Fatal(err)
	}
	claim := ""
	for _, l := range leases.Items {
		if l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity == string(paid.UID) {
			claim = l.Name
		}
	}
	if claim == "" {
		t.Fatal("no claim of the order's out_trade_no in the manager's namespace")
	}
	if err := env.Client.Delete(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: manager.DefaultClusterNamespace(), Name: claim}, &coordinationv1.Lease{})
		return apierrors.IsNotFound(err), fmt.Sprintf("claim %s still there after its order was deleted (err %v)", claim, err)
	})
}

func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	err := env.Client.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}
