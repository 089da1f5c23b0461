package controllers_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/testenv"
	"github.com/kubepay/kubepay/internal/testfixture"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
	"github.com/kubepay/kubepay/providers/sandbox/gatewaytest"
)

// The tests here are the "no money unaccounted for" cases: each one is a way a payment could
// move with nothing in the cluster left to notice, reproduced on a real API server and gateway.

// noQuery keeps the controller's query fallback out of the way, so only what the test does moves
// the order.
var noQuery = testfixture.Provider{QueryInitial: time.Hour, QueryMax: time.Hour}

func gone(t *testing.T, obj client.Object) (bool, string) {
	err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(obj), obj)
	return apierrors.IsNotFound(err), fmt.Sprintf("%s still there (err %v, finalizers %v)", obj.GetName(), err, obj.GetFinalizers())
}

func provider(t *testing.T, f *testfixture.Fixture) *v1.PaymentProvider {
	t.Helper()
	pp := &v1.PaymentProvider{}
	if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: f.NS, Name: "sandbox"}, pp); err != nil {
		t.Fatal(err)
	}
	return pp
}

// TestProviderDeletedBeforeItsOrdersIsKeptUntilTheyClose: `kubectl delete -f dir/` or an uninstall
// may delete the PaymentProvider first. It stays, saying why, until its open order is deleted and
// its payment closed at the gateway; then it goes.
func TestProviderDeletedBeforeItsOrdersIsKeptUntilTheyClose(t *testing.T) {
	f := testfixture.New(t, env, gateway.Options{}, noQuery)
	f.Order("open", "5.00", "CNY", 30*time.Minute)
	o := f.WaitPhase("open", v1.PhaseAwaitingPayment, 30*time.Second)
	pp := provider(t, f)
	if err := env.Client.Delete(t.Context(), pp); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		pp := provider(t, f)
		c := meta.FindStatusCondition(pp.Status.Conditions, v1.ConditionReady)
		return !pp.DeletionTimestamp.IsZero() && c != nil && c.Reason == v1.ReasonInUse,
			fmt.Sprintf("provider deleting=%v condition %+v, want kept with %s", !pp.DeletionTimestamp.IsZero(), c, v1.ReasonInUse)
	})
	if err := env.Client.Delete(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() (bool, string) { return gone(t, o) })
	if p := queryGateway(t, f, o.Status.ProviderPaymentID); p["status"] != "closed" {
		t.Errorf("payment of the order deleted after its provider is %v at the gateway, want closed", p["status"])
	}
	testenv.Eventually(t, 30*time.Second, func() (bool, string) { return gone(t, pp) })
}

// TestSecretDeletedBeforeTheOrderStillCloses: deleting a namespace deletes the credentials Secret
// at once; the order's payment is still closed with the client built from it before.
func TestSecretDeletedBeforeTheOrderStillCloses(t *testing.T) {
	f := testfixture.New(t, env, gateway.Options{}, noQuery)
	f.Order("orphan", "6.00", "CNY", 30*time.Minute)
	o := f.WaitPhase("orphan", v1.PhaseAwaitingPayment, 30*time.Second)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: f.NS, Name: testfixture.SecretName}}
	if err := env.Client.Delete(t.Context(), secret); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() (bool, string) { return gone(t, o) })
	if p := queryGateway(t, f, o.Status.ProviderPaymentID); p["status"] != "closed" {
		t.Errorf("payment of the order deleted after its Secret is %v at the gateway, want closed", p["status"])
	}
}

// TestRevokedCredentialsBlockTheCloseUntilExpiry: when the provider refuses the credentials, the
// deleted order cannot close its payment; it is kept with CloseBlocked until the payment's own
// expiry, and then released with a Warning that says it could not be checked.
func TestRevokedCredentialsBlockTheCloseUntilExpiry(t *testing.T) {
	f := testfixture.New(t, env, gateway.Options{}, noQuery)
	f.Order("revoked", "7.00", "CNY", 8*time.Second)
	o := f.WaitPhase("revoked", v1.PhaseAwaitingPayment, 30*time.Second)
	revoke(t, f)
	if err := env.Client.Delete(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		got := &v1.PaymentOrder{}
		if err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(o), got); err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(got.Status.Conditions, v1.ConditionCloseBlocked)
		return c != nil && c.Status == metav1.ConditionTrue && c.Reason == v1.ReasonCredentialsInvalid,
			fmt.Sprintf("conditions %+v, want CloseBlocked/CredentialsInvalid", got.Status.Conditions)
	})
	testenv.Eventually(t, 60*time.Second, func() (bool, string) { return gone(t, o) })
	if time.Now().Before(o.Status.ExpiresAt.Time) {
		t.Errorf("order released at %v, before its payment's expiry %v", time.Now(), o.Status.ExpiresAt.Time)
	}
	waitEvent(t, f.NS, "revoked", v1.ReasonReleasedAfterExpiry)
}

// revoke replaces the provider's API key with one the gateway does not know, as a key revoked in
// the provider's dashboard would be.
func revoke(t *testing.T, f *testfixture.Fixture) {
	t.Helper()
	s := &corev1.Secret{}
	if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: f.NS, Name: testfixture.SecretName}, s); err != nil {
		t.Fatal(err)
	}
	s.Data = gatewaytest.Secret(f.GW, "sk_revoked_0000000000")
	if err := env.Client.Update(t.Context(), s); err != nil {
		t.Fatal(err)
	}
}

// TestPaidAtDeletionIsKeptAsPaid: the customer pays just before the order is deleted and the
// notification is lost; the close finds it paid. The order is written Paid and kept as the record
// of the money, saying why.
func TestPaidAtDeletionIsKeptAsPaid(t *testing.T) {
	f := testfixture.New(t, env, gateway.Options{DropFirst: 1000}, noQuery)
	f.Order("last-second", "8.00", "CNY", 30*time.Minute)
	o := f.WaitPhase("last-second", v1.PhaseAwaitingPayment, 30*time.Second)
	f.Pay(o.Status.ProviderPaymentID, "succeeded")
	if err := env.Client.Delete(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	got := f.WaitPhase("last-second", v1.PhasePaid, 30*time.Second)
	if !meta.IsStatusConditionTrue(got.Status.Conditions, v1.ConditionPaidWhileDeleting) || got.Status.PaidAmount != "8.00" {
		t.Errorf("paid-at-deletion order: conditions %+v paidAmount %q, want PaidWhileDeleting and 8.00", got.Status.Conditions, got.Status.PaidAmount)
	}
	waitEvent(t, f.NS, "last-second", v1.ReasonPaidBeforeDeletion)
	// Kept: the finalizer is still there after the controller has had its say.
	if ok, _ := gone(t, got); ok {
		t.Fatal("the only record of the payment was deleted")
	}
}

// TestDuplicateOrderIDFailsTheSecondWithoutTouchingTheFirst: two orders with one orderID at one
// provider. The second fails at once with DuplicateOrderID; the first keeps its one payment,
// gets paid by its notification, and deleting the second never closes the first's payment.
func TestDuplicateOrderIDFailsTheSecondWithoutTouchingTheFirst(t *testing.T) {
	f := testfixture.New(t, env, gateway.Options{}, testfixture.Provider{})
	orderWithID(t, f, "first", "ORDER-DUP-1")
	first := f.WaitPhase("first", v1.PhaseAwaitingPayment, 30*time.Second)
	orderWithID(t, f, "second", "ORDER-DUP-1")
	second := f.WaitPhase("second", v1.PhaseFailed, 30*time.Second)
	last := second.Status.History[len(second.Status.History)-1]
	if last.Reason != v1.ReasonDuplicateOrderID || second.Status.OutTradeNo != "" {
		t.Errorf("second order failed with %q and outTradeNo %q, want DuplicateOrderID and none", last.Reason, second.Status.OutTradeNo)
	}
	if err := env.Client.Delete(t.Context(), second); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() (bool, string) { return gone(t, second) })
	if p := queryGateway(t, f, first.Status.ProviderPaymentID); p["status"] != "open" {
		t.Fatalf("deleting the duplicate left the first order's payment %v, want open", p["status"])
	}
	f.Pay(first.Status.ProviderPaymentID, "succeeded")
	f.WaitPhase("first", v1.PhasePaid, 30*time.Second)
	if s := f.GW.Stats(); s.PaymentsByOutTradeNo["ORDER-DUP-1"] != 1 {
		t.Errorf("gateway has %d payments for ORDER-DUP-1, want 1", s.PaymentsByOutTradeNo["ORDER-DUP-1"])
	}
}

func orderWithID(t *testing.T, f *testfixture.Fixture, name, orderID string) {
	t.Helper()
	o := &v1.PaymentOrder{ObjectMeta: metav1.ObjectMeta{Namespace: f.NS, Name: name}, Spec: v1.PaymentOrderSpec{
		ProviderRef: v1.ProviderReference{Name: "sandbox"}, Amount: "4.00", Currency: "CNY", Channel: "sandbox",
		Subject: name, OrderID: orderID,
	}}
	if err := env.Client.Create(t.Context(), o); err != nil {
		t.Fatal(err)
	}
}

// TestRecreatedProviderUsesItsOwnEndpoint: a PaymentProvider deleted and created again under the
// same name, pointing at another gateway with the same Secret, gets a client for the new gateway
// (the old client was cached by generation and Secret version, both of which repeat).
func TestRecreatedProviderUsesItsOwnEndpoint(t *testing.T) {
	f := testfixture.New(t, env, gateway.Options{}, testfixture.Provider{})
	other, otherSrv := gatewaytest.StartTest(t, gateway.Options{})
	f.Order("before", "1.00", "CNY", 30*time.Minute)
	before := f.WaitPhase("before", v1.PhaseAwaitingPayment, 30*time.Second)
	f.Pay(before.Status.ProviderPaymentID, "succeeded")
	f.WaitPhase("before", v1.PhasePaid, 30*time.Second)
	pp := provider(t, f)
	if err := env.Client.Delete(t.Context(), pp); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() (bool, string) { return gone(t, pp) })
	f.CreateProvider("sandbox", otherSrv.URL, testfixture.Provider{})
	f.Order("after", "2.00", "CNY", 30*time.Minute)
	after := f.WaitPhase("after", v1.PhaseAwaitingPayment, 30*time.Second)
	if n := other.Stats().PaymentsByOutTradeNo[after.Status.OutTradeNo]; n != 1 {
		t.Errorf("the re-created provider's gateway has %d payments for the new order, want 1", n)
	}
	if n := f.GW.Stats().PaymentsByOutTradeNo[after.Status.OutTradeNo]; n != 0 {
		t.Errorf("the deleted provider's gateway got %d payments for the new order, want 0", n)
	}
}

// TestRevokedCredentialsMakeOrdersWait: a key revoked at the provider fails the create with 401.
// The order waits (CredentialsInvalid) instead of failing for good, the PaymentProvider is not
// Ready, and both recover when the Secret is fixed.
func TestRevokedCredentialsMakeOrdersWait(t *testing.T) {
	f := testfixture.New(t, env, gateway.Options{}, testfixture.Provider{})
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		c := meta.FindStatusCondition(provider(t, f).Status.Conditions, v1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionTrue && c.Reason == v1.ReasonAuthenticated,
			fmt.Sprintf("provider Ready %+v, want True/%s after an authenticated call", c, v1.ReasonAuthenticated)
	})
	revoke(t, f)
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		c := meta.FindStatusCondition(provider(t, f).Status.Conditions, v1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == v1.ReasonCredentialsInvalid,
			fmt.Sprintf("provider Ready %+v, want False/%s once the gateway refuses the key", c, v1.ReasonCredentialsInvalid)
	})
	f.Order("waits", "3.00", "CNY", 30*time.Minute)
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		o := f.Get("waits")
		c := meta.FindStatusCondition(o.Status.Conditions, v1.ConditionReady)
		return o.Status.Phase == v1.PhasePending && c != nil && c.Reason == v1.ReasonCredentialsInvalid,
			fmt.Sprintf("order %q condition %+v, want Pending waiting with %s", o.Status.Phase, c, v1.ReasonCredentialsInvalid)
	})
	s := &corev1.Secret{}
	if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: f.NS, Name: testfixture.SecretName}, s); err != nil {
		t.Fatal(err)
	}
	s.Data = gatewaytest.Secret(f.GW, gatewaytest.APIKey)
	if err := env.Client.Update(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	f.WaitPhase("waits", v1.PhaseAwaitingPayment, 60*time.Second)
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		c := meta.FindStatusCondition(provider(t, f).Status.Conditions, v1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionTrue, fmt.Sprintf("provider Ready %+v after the fix, want True", c)
	})
}

// TestA404FromAnythingIsNotExpiry: a misrouted proxy answering 404 for every path used to read
// as "the provider has no payment", and an expiring order became Expired without any close. Only
// the provider's own structured not-found means that; this order keeps retrying.
func TestA404FromAnythingIsNotExpiry(t *testing.T) {
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "404 page not found", http.StatusNotFound)
	}))
	t.Cleanup(proxy.Close)
	gw, _ := gatewaytest.StartTest(t, gateway.Options{})
	f := &testfixture.Fixture{T: t, Env: env, NS: env.Namespace(t), GW: gw, URL: proxy.URL}
	f.CreateSecret(gatewaytest.Secret(gw, gatewaytest.APIKey))
	f.CreateProvider("sandbox", proxy.URL, testfixture.Provider{})
	f.Order("misrouted", "2.00", "CNY", 2*time.Second)
	testenv.Eventually(t, 60*time.Second, func() (bool, string) {
		o := f.Get("misrouted")
		c := meta.FindStatusCondition(o.Status.Conditions, v1.ConditionReady)
		expired := o.Status.ExpiresAt != nil && time.Now().After(o.Status.ExpiresAt.Time)
		return expired && c != nil && c.Reason == v1.ReasonProviderError && strings.Contains(c.Message, "query"),
			fmt.Sprintf("phase %q condition %+v: want, past expiry, a failed query waiting to be retried", o.Status.Phase, c)
	})
	if o := f.Get("misrouted"); o.Status.Phase.Terminal() {
		t.Fatalf("an order behind a 404-answering proxy became %s: the proxy's 404 was taken for the provider's word", o.Status.Phase)
	}
}
