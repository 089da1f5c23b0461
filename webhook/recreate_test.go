package webhook_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/resolver"
	"github.com/kubepay/kubepay/internal/testfixture"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
	"github.com/kubepay/kubepay/providers/sandbox/gatewaytest"
	"github.com/kubepay/kubepay/webhook"
)

// onConflict runs hook once, when a status write of key comes back 409 Conflict (the fault the
// test armed), before the caller sees the conflict: whatever hook does happens "during" the
// write, between the write and the caller's re-read.
type onConflict struct {
	client.Client
	key  client.ObjectKey
	once sync.Once
	hook func(context.Context) error
	err  error
}

func (c *onConflict) Status() client.SubResourceWriter {
	return onConflictStatus{SubResourceWriter: c.Client.Status(), c: c}
}

type onConflictStatus struct {
	client.SubResourceWriter
	c *onConflict
}

func (s onConflictStatus) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	err := s.SubResourceWriter.Update(ctx, obj, opts...)
	if apierrors.IsConflict(err) && client.ObjectKeyFromObject(obj) == s.c.key {
		s.c.once.Do(func() { s.c.err = s.c.hook(ctx) })
	}
	return err
}

// waitFor polls cond every 20 ms until it holds or timeout passes. It is for code that runs off the
// test goroutine, where t.Fatal must not be called; it returns cond's last explanation instead.
func waitFor(ctx context.Context, timeout time.Duration, cond func() (bool, string)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("not within %v: %s", timeout, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConflictRereadNeverLandsOnARecreatedOrder: a delivery's status write conflicts, and while it
// does the order is deleted and re-created under the same name with another spec.orderID. The
// re-read after the conflict finds the new object; it is another order (another UID, another
// out_trade_no), so the delivery must not be applied to it: it is answered with the failure
// answer (the provider retries), and the retry finds no order with the old out_trade_no.
//
// The new order is held in Pending (its gateway stops answering, so its create fails): amount and
// out_trade_no set, no payment id. That is the state in which a re-read by name alone wrote Paid
// onto an order whose customer never paid.
func TestConflictRereadNeverLandsOnARecreatedOrder(t *testing.T) {
	// The fixture by hand, to keep the gateway's server and stop it mid-test.
	gw, gwSrv := gatewaytest.StartTest(t, gateway.Options{})
	f := &testfixture.Fixture{T: t, Env: env, NS: env.Namespace(t), GW: gw, URL: gwSrv.URL}
	f.CreateSecret(gatewaytest.Secret(gw, gatewaytest.APIKey))
	f.CreateProvider("sandbox", gwSrv.URL, noQuery)

	orderWithID(f, "recreated", "sandbox", "FIRST-0001", "8.00", "CNY")
	old := f.WaitPhase("recreated", v1.PhaseAwaitingPayment, 30*time.Second)
	key := client.ObjectKeyFromObject(old)

	c := &onConflict{Client: mgr.GetClient(), key: key, hook: func(ctx context.Context) error {
		if err := env.Client.Delete(ctx, old); err != nil {
			return fmt.Errorf("deleting PaymentOrder %s: %w", key, err)
		}
		// The controller's finalizer closes the old payment at the gateway, then lets it go.
		if err := waitFor(ctx, 30*time.Second, func() (bool, string) {
			err := env.Client.Get(ctx, key, &v1.PaymentOrder{})
			return apierrors.IsNotFound(err), fmt.Sprintf("PaymentOrder %s still there (get: %v)", key, err)
		}); err != nil {
			return err
		}
		gwSrv.Close()
		orderWithID(f, "recreated", "sandbox", "SECOND-0001", "8.00", "CNY")
		return waitFor(ctx, 30*time.Second, func() (bool, string) {
			o := &v1.PaymentOrder{}
			err := env.Client.Get(ctx, key, o)
			return err == nil && o.Status.Phase == v1.PhasePending && o.Status.AmountMinor == 800,
				fmt.Sprintf("re-created PaymentOrder %s: phase %q amountMinor %d (get: %v), want Pending with 800", key, o.Status.Phase, o.Status.AmountMinor, err)
		})
	}}
	base := startCallback(t, &webhook.Server{
		Addr: "127.0.0.1:0", Client: c, APIReader: mgr.GetAPIReader(),
		Resolver: &resolver.Resolver{Reader: mgr.GetClient()}, Recorder: mgr.GetEventRecorder("recreate-test"),
		Log: ctrl.Log.WithName("recreate-test"),
	})

	faults.ConflictStatusWrites(key, 1)
	body := notification("evt_recreate", "payment.succeeded", old, 800, "CNY")
	code, answer := post(t, notifyURL(base, f), body, signed(body, time.Now()))
	if c.err != nil {
		t.Fatalf("deleting and re-creating the order during the conflict: %v", c.err)
	}
	if left := faults.Pending(key); left != 0 {
		t.Fatalf("the armed conflict on %s never fired (%d left): the test did not exercise the re-read", key, left)
	}
	if code == 200 || answer == "success" {
		t.Errorf("delivery of evt_recreate for deleted order %s (uid %s) answered %d %q, want the failure answer so the provider retries", key, old.UID, code, answer)
	}
	recreated := f.Get("recreated")
	if recreated.UID == old.UID {
		t.Fatalf("PaymentOrder %s was not re-created (uid %s)", key, old.UID)
	}
	if trace := untouchedByNotification(recreated, "evt_recreate"); trace != "" || recreated.Status.Phase != v1.PhasePending {
		t.Fatalf("re-created PaymentOrder %s (uid %s, outTradeNo %s) got the old order's notification: %s; %s",
			key, recreated.UID, recreated.Status.OutTradeNo, trace, describe(recreated))
	}

	// The provider's retry looks the order up again: no order has the old out_trade_no now.
	if code, answer := post(t, notifyURL(base, f), body, signed(body, time.Now())); code == 200 || answer == "success" {
		t.Errorf("retry of evt_recreate answered %d %q, want the failure answer (no order has outTradeNo FIRST-0001)", code, answer)
	}
	if trace := untouchedByNotification(f.Get("recreated"), "evt_recreate"); trace != "" {
		t.Errorf("retry of evt_recreate reached re-created PaymentOrder %s: %s", key, trace)
	}
}
