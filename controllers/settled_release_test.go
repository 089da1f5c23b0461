package controllers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/metadata"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/controllers"
	"github.com/kubepay/kubepay/internal/shard"
	"github.com/kubepay/kubepay/internal/testenv"
)

// SettledRelease on a control plane of its own (the suite's manager would release everything
// itself): what it lets go, what it leaves to the order controller, and that a deletion made
// while no release ran is found by its first list.
func TestSettledReleaseLetsOnlyDeletedSettledOrdersGo(t *testing.T) {
	own := testenv.Start(t)
	ns, other := own.Namespace(t), own.Namespace(t)
	c := own.Client
	// order writes an order with kubepay's finalizer and the given settled status.
	order := func(ns, name string, settled bool) *v1.PaymentOrder {
		t.Helper()
		o := &v1.PaymentOrder{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Finalizers: []string{v1.Finalizer}},
			Spec: v1.PaymentOrderSpec{ProviderRef: v1.ProviderReference{Name: "sandbox"}, Amount: "1.00", Currency: "CNY",
				Channel: "sandbox", Subject: "release"},
		}
		if err := c.Create(t.Context(), o); err != nil {
			t.Fatal(err)
		}
		o.Status = v1.PaymentOrderStatus{Phase: v1.PhaseExpired, Settled: settled}
		if !settled {
			o.Status.Phase = v1.PhaseAwaitingPayment
		}
		if err := c.Status().Update(t.Context(), o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	del := func(o *v1.PaymentOrder) {
		t.Helper()
		if err := c.Delete(t.Context(), o); err != nil {
			t.Fatal(err)
		}
	}
	gone := func(o *v1.PaymentOrder) func() (bool, string) {
		return func() (bool, string) {
			err := c.Get(t.Context(), client.ObjectKeyFromObject(o), &v1.PaymentOrder{})
			return apierrors.IsNotFound(err), fmt.Sprintf("%s/%s still there (%v)", o.Namespace, o.Name, err)
		}
	}

	// Deleted before any release runs: only a list can find it.
	before := order(ns, "deleted-before", true)
	del(before)
	open := order(ns, "open", false)
	del(open)
	outside := order(other, "outside-the-share", true)
	del(outside)

	meta, err := metadata.NewForConfig(own.Config)
	if err != nil {
		t.Fatal(err)
	}
	rel := &controllers.SettledRelease{Metadata: meta, Share: shard.Share{Namespaces: []string{ns}}, Log: logr.Discard(), Backoff: 100 * time.Millisecond}
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan error, 1)
	go func() { stopped <- rel.Start(ctx) }()
	testenv.Eventually(t, 30*time.Second, gone(before))

	// Deleted while it runs: the watch brings it.
	during := order(ns, "deleted-during", true)
	del(during)
	testenv.Eventually(t, 30*time.Second, gone(during))

	// A settled order that is not deleted stays, with its finalizer; so do an open order being
	// deleted (the order controller's to finalize) and a settled order outside the share.
	kept := order(ns, "kept", true)
	for _, o := range []*v1.PaymentOrder{kept, open, outside} {
		got := &v1.PaymentOrder{}
		if err := c.Get(t.Context(), client.ObjectKeyFromObject(o), got); err != nil {
			t.Fatalf("%s/%s: %v", o.Namespace, o.Name, err)
		}
		if !controllerutil.ContainsFinalizer(got, v1.Finalizer) {
			t.Errorf("%s/%s lost its finalizer; only deleted settled orders of the share may", o.Namespace, o.Name)
		}
	}
	cancel()
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Start returned %v after its context ended", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("SettledRelease did not stop within 30s of its context ending")
	}
}
