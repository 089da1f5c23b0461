package controllers_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/controllers"
	"github.com/kubepay/kubepay/internal/metrics"
	"github.com/kubepay/kubepay/internal/testenv"
	"github.com/kubepay/kubepay/internal/testfixture"
)

// TestRetentionDeletesOnlySettledOrders: with spec.retention.settledOrderTTL, a settled order
// and its refunds leave etcd once the TTL has passed; an order with money still to give back,
// and an open one, stay whatever their age.
func TestRetentionDeletesOnlySettledOrders(t *testing.T) {
	f := testfixture.New(t, env, quickRefunds, testfixture.Provider{CallbackBaseURL: mgrCallback()})
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pp := provider(t, f)
		pp.Spec.Retention = &v1.RetentionSettings{SettledOrderTTL: &metav1.Duration{Duration: time.Hour}}
		pp.Spec.LatePayments = v1.LatePaymentsRecord // keeps the late payment below unsettled
		return env.Client.Update(t.Context(), pp)
	})
	if err != nil {
		t.Fatal(err)
	}
	paidOrder(t, f, "old-paid", "5.00")
	createRefund(t, f, "old-paid-part", "old-paid", "1.00", "")
	waitRefund(t, f, "old-paid-part", v1.RefundSucceeded)
	f.WaitPhase("old-paid", v1.PhasePartiallyRefunded, 30*time.Second)
	f.Order("late", "2.00", "CNY", 2*time.Second)
	o := f.WaitPhase("late", v1.PhaseExpired, 30*time.Second)
	payLate(t, f, o.Status.ProviderPaymentID)
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		return len(f.Get("late").Status.LatePayments) == 1, "late payment not recorded yet"
	})
	f.Order("open", "3.00", "CNY", 30*time.Minute)
	f.WaitPhase("open", v1.PhaseAwaitingPayment, 30*time.Second)
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		got := f.Get("old-paid")
		return got.Status.Settled, fmt.Sprintf("old-paid is %q and not settled", got.Status.Phase)
	})

	before := testutil.ToFloat64(metrics.RetentionDeleted.WithLabelValues("order"))
	h := &controllers.Housekeeper{Client: env.Client, APIReader: env.Client, Recorder: events.NewFakeRecorder(10),
		Log: ctrl.Log.WithName("retention-test"), Now: func() time.Time { return time.Now().Add(2 * time.Hour) }}
	h.RunOnce(t.Context())

	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: f.NS, Name: "old-paid"}, &v1.PaymentOrder{})
		return apierrors.IsNotFound(err), fmt.Sprintf("the settled order is still there (err %v)", err)
	})
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: f.NS, Name: "old-paid-part"}, &v1.PaymentRefund{})
		return apierrors.IsNotFound(err), fmt.Sprintf("the settled order's refund is still there (err %v)", err)
	})
	for _, name := range []string{"late", "open"} {
		if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: f.NS, Name: name}, &v1.PaymentOrder{}); err != nil {
			t.Errorf("order %s, which is not settled, was deleted by retention: %v", name, err)
		}
	}
	if after := testutil.ToFloat64(metrics.RetentionDeleted.WithLabelValues("order")); after-before != 1 {
		t.Errorf("retention counted %v deleted orders, want 1", after-before)
	}
}

// countingReader counts the PaymentRefund lists made through it, per namespace.
type countingReader struct {
	client.Reader
	mu          sync.Mutex
	refundLists map[string]int
}

func (c *countingReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if _, ok := list.(*v1.PaymentRefundList); ok {
		lo := (&client.ListOptions{}).ApplyOptions(opts)
		c.mu.Lock()
		c.refundLists[lo.Namespace]++
		c.mu.Unlock()
	}
	return c.Reader.List(ctx, list, opts...)
}

// TestRetentionReadsRefundsOncePerPage: retention reads a namespace's refunds once per page of
// settled orders, not once per order (each read around the cache is a consistent LIST, which the
// API server answers in about 100 ms on a resource nobody writes: read per order, it held
// retention near 10 deletions a second, measured by make bench-scale), and each order still goes
// with its own refunds and no other's.
func TestRetentionReadsRefundsOncePerPage(t *testing.T) {
	f := testfixture.New(t, env, quickRefunds, testfixture.Provider{CallbackBaseURL: mgrCallback()})
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pp := provider(t, f)
		pp.Spec.Retention = &v1.RetentionSettings{SettledOrderTTL: &metav1.Duration{Duration: time.Hour}}
		return env.Client.Update(t.Context(), pp)
	})
	if err != nil {
		t.Fatal(err)
	}
	orders := []string{"a", "b", "c"}
	for _, name := range orders {
		paidOrder(t, f, name, "3.00")
	}
	refunds := []string{"a-part", "b-part"}
	createRefund(t, f, "a-part", "a", "1.00", "")
	createRefund(t, f, "b-part", "b", "1.00", "")
	for _, name := range refunds {
		waitRefund(t, f, name, v1.RefundSucceeded)
	}
	for _, name := range orders {
		testenv.Eventually(t, 30*time.Second, func() (bool, string) {
			got := f.Get(name)
			return got.Status.Settled, fmt.Sprintf("%s is %q and not settled", name, got.Status.Phase)
		})
	}

	reader := &countingReader{Reader: env.Client, refundLists: map[string]int{}}
	h := &controllers.Housekeeper{Client: env.Client, APIReader: reader, Recorder: events.NewFakeRecorder(10),
		Log: ctrl.Log.WithName("retention-test"), Now: func() time.Time { return time.Now().Add(2 * time.Hour) }}
	h.RunOnce(t.Context())

	// Retention takes a settled order's finalizer off itself before deleting it, so the order is
	// gone when the round returns, not left Terminating for SettledRelease to let go.
	for _, name := range orders {
		err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: f.NS, Name: name}, &v1.PaymentOrder{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("order %s/%s still there right after the retention round (err %v), want deleted by it", f.NS, name, err)
		}
	}
	gone := func(obj client.Object, name string) {
		testenv.Eventually(t, 30*time.Second, func() (bool, string) {
			err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: f.NS, Name: name}, obj)
			return apierrors.IsNotFound(err), fmt.Sprintf("%T %s is still there (err %v)", obj, name, err)
		})
	}
	for _, name := range orders {
		gone(&v1.PaymentOrder{}, name)
	}
	for _, name := range refunds {
		gone(&v1.PaymentRefund{}, name)
	}
	reader.mu.Lock()
	defer reader.mu.Unlock()
	if got := reader.refundLists[f.NS]; got != 1 {
		t.Errorf("retention listed the namespace's refunds %d times for %d settled orders, want once per page of orders", got, len(orders))
	}
}
