package controllers_test

import (
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/testenv"
	"github.com/kubepay/kubepay/internal/testfixture"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
)

// The write that makes an order Paid also settles it (status.settled), so a payment costs one
// order write per notification, not a status write followed by a settling patch; the settled
// order keeps its finalizer, and leaving the manager's cache must not make its deletion hang.
func TestPaidNotificationSettlesTheOrderInTheSameWrite(t *testing.T) {
	f := testfixture.New(t, env, gateway.Options{}, byNotification())
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	f.Order("one-write", "8.00", "CNY", 30*time.Minute)
	o := f.WaitPhase("one-write", v1.PhaseAwaitingPayment, 30*time.Second)
	if o.Status.Settled {
		t.Fatalf("open order %s/%s is marked settled", o.Namespace, o.Name)
	}
	w, err := wc.Watch(t.Context(), &v1.PaymentOrderList{}, client.InNamespace(f.NS), client.MatchingFields{"metadata.name": o.Name})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	f.Pay(o.Status.ProviderPaymentID, "succeeded")

	// The first version the API server holds with phase Paid is the one to check: it must already
	// be settled and still carry its finalizer (nothing removes it on the way).
	deadline := time.After(30 * time.Second)
	var paid *v1.PaymentOrder
	for paid == nil {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("watch closed before the order was Paid")
			}
			if got, isOrder := ev.Object.(*v1.PaymentOrder); isOrder && ev.Type == watch.Modified && got.Status.Phase == v1.PhasePaid {
				paid = got
			}
		case <-deadline:
			t.Fatal("order not Paid within 30s")
		}
	}
	if last := paid.Status.History[len(paid.Status.History)-1]; last.Source != v1.SourceNotification {
		t.Fatalf("order %s/%s was made Paid by %s, want by the notification", paid.Namespace, paid.Name, last.Source)
	}
	if !paid.Status.Settled {
		t.Errorf("the write that made %s/%s Paid (resourceVersion %s) did not settle it: status.settled false, labels %v", paid.Namespace, paid.Name, paid.ResourceVersion, paid.Labels)
	}
	if !controllerutil.ContainsFinalizer(paid, v1.Finalizer) {
		t.Errorf("Paid order %s/%s lost its finalizer %s in the same write", paid.Namespace, paid.Name, v1.Finalizer)
	}

	// The API server selects it as settled (what the manager's cache leaves out).
	settled := &v1.PaymentOrderList{}
	if err := env.Client.List(t.Context(), settled, client.InNamespace(f.NS), client.MatchingFields{v1.FieldSettled: "true"}); err != nil {
		t.Fatal(err)
	}
	if len(settled.Items) != 1 || settled.Items[0].Name != o.Name {
		t.Errorf("orders selected by %s=true: %d, want only %s", v1.FieldSettled, len(settled.Items), o.Name)
	}

	// Deleting it completes although no cache holds it: the finalizer is released.
	if err := env.Client.Delete(t.Context(), paid); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(paid), &v1.PaymentOrder{})
		return apierrors.IsNotFound(err), fmt.Sprintf("deleted settled order %s/%s still there (%v)", paid.Namespace, paid.Name, err)
	})
}

// An order settled by a kubepay from before status.settled carries the old label and no
// finalizer, and no status.settled: the new cache holds it, so the controller writes what it
// lacks once (its finalizer back, status.settled) and it leaves the cache.
func TestOrderSettledByAnOlderKubepayIsMarkedSettled(t *testing.T) {
	f := testfixture.New(t, env, gateway.Options{}, testfixture.Provider{})
	o := &v1.PaymentOrder{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.NS, Name: "settled-before", Labels: map[string]string{"kubepay.io/settled": "true"}},
		Spec: v1.PaymentOrderSpec{ProviderRef: v1.ProviderReference{Name: "sandbox"}, Amount: "3.00", Currency: "CNY",
			Channel: "sandbox", Subject: "legacy"},
	}
	if err := env.Client.Create(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	// The controller adds the finalizer as soon as it sees the order: write the old status on
	// whatever version is current.
	expired := metav1.Now()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(o), o); err != nil {
			return err
		}
		o.Status = v1.PaymentOrderStatus{Phase: v1.PhaseExpired, OutTradeNo: "LEGACY0001", AmountMinor: 300, ExpiresAt: &expired}
		return env.Client.Status().Update(t.Context(), o)
	})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		got := f.Get(o.Name)
		return got.Status.Settled && controllerutil.ContainsFinalizer(got, v1.Finalizer),
			fmt.Sprintf("order %s/%s: status.settled %v, finalizers %v; want settled with %s", got.Namespace, got.Name, got.Status.Settled, got.Finalizers, v1.Finalizer)
	})
}

// An order paid by a notification leaves the manager's cache in that same write, so the
// controller never reconciles it as Paid: its query schedule must still go, or the manager's
// memory would grow with every payment ever made.
func TestSettledOrderLeavesNoQuerySchedule(t *testing.T) {
	f := testfixture.New(t, env, gateway.Options{}, byNotification())
	f.Order("forgotten", "6.00", "CNY", 30*time.Minute)
	o := f.WaitPhase("forgotten", v1.PhaseAwaitingPayment, 30*time.Second)
	orders := suiteManager.Orders
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		return orders.HasScheduledQueryForTest(o.UID), fmt.Sprintf("open order %s/%s has no query schedule", o.Namespace, o.Name)
	})
	f.Pay(o.Status.ProviderPaymentID, "succeeded")
	paid := f.WaitPhase("forgotten", v1.PhasePaid, 30*time.Second)
	if last := paid.Status.History[len(paid.Status.History)-1]; last.Source != v1.SourceNotification {
		t.Fatalf("order %s/%s was made Paid by %s, want by the notification", paid.Namespace, paid.Name, last.Source)
	}
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		return !orders.HasScheduledQueryForTest(o.UID), fmt.Sprintf("settled order %s/%s still has a query schedule in the manager", o.Namespace, o.Name)
	})
}

// byNotification is a provider whose payments reach kubepay by notification only: the gateway
// notifies the suite's callback server, and the controller's first query is an hour away.
func byNotification() testfixture.Provider {
	return testfixture.Provider{CallbackBaseURL: mgrCallback(), QueryInitial: time.Hour, QueryMax: time.Hour}
}
