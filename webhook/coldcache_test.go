package webhook_test

import (
	"context"
	"testing"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/resolver"
	"github.com/kubepay/kubepay/internal/testfixture"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
	"github.com/kubepay/kubepay/webhook"
)

// coldCache lists no PaymentOrders, as the cache of a replica that has just started and not yet
// seen the order; everything else goes to the real client.
type coldCache struct{ client.Client }

func (c coldCache) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if _, ok := list.(*v1.PaymentOrderList); ok {
		return nil
	}
	return c.Client.List(ctx, list, opts...)
}

// TestColdCacheFallsBackToAPIServer: a callback server whose cache does not have the order yet
// finds it on the API server (status.outTradeNo is a selectable field) and records the payment.
func TestColdCacheFallsBackToAPIServer(t *testing.T) {
	f := testfixture.New(t, env, gateway.Options{}, noQuery)
	f.Order("cold", "4.00", "CNY", 30*time.Minute)
	o := f.WaitPhase("cold", v1.PhaseAwaitingPayment, 30*time.Second)

	srv := &webhook.Server{
		Addr: "127.0.0.1:0", Client: coldCache{mgr.GetClient()}, APIReader: mgr.GetAPIReader(),
		Resolver: &resolver.Resolver{Reader: mgr.GetClient()}, Recorder: mgr.GetEventRecorder("cold-test"),
		Log: ctrl.Log.WithName("cold-test"),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("callback server stopped with: %v", err)
		}
	})
	base := "http://" + <-srv.Addresses()

	body := notification("evt_cold", "payment.succeeded", o, 400, "CNY")
	if code, answer := post(t, notifyURL(base, f), body, signed(body, time.Now())); code != 200 || answer != "success" {
		t.Fatalf("answered %d %q, want 200 success", code, answer)
	}
	if got := f.Get("cold"); got.Status.Phase != v1.PhasePaid || countTo(got, v1.PhasePaid) != 1 {
		t.Fatalf("want Paid once: %s", describe(got))
	}
}
