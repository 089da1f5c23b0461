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

// cacheWithout lists PaymentOrders like the cache of a replica that has seen every order except
// those on one provider: the state of a replica whose cache is behind for one of them.
type cacheWithout struct {
	client.Client
	provider string
}

func (c cacheWithout) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if err := c.Client.List(ctx, list, opts...); err != nil {
		return err
	}
	if l, ok := list.(*v1.PaymentOrderList); ok {
		kept := l.Items[:0]
		for _, o := range l.Items {
			if o.Spec.ProviderRef.Name != c.provider {
				kept = append(kept, o)
			}
		}
		l.Items = kept
	}
	return nil
}

// TestLookupOnlyConsidersTheRouteProvidersOrders: out_trade_no is unique per provider account,
// not per namespace, so two providers in one namespace can each have an order with the same
// out_trade_no. A genuine notification on provider A's route is about A's order only; B's order,
// still Pending (no payment id yet to tell them apart), must neither block it ("refusing to
// guess") nor receive it.
func TestLookupOnlyConsidersTheRouteProvidersOrders(t *testing.T) {
	tests := []struct {
		name string
		// server returns the callback server's base URL.
		server func(t *testing.T) string
	}{
		{"both orders in the cache: the other provider's is not a candidate",
			func(*testing.T) string { return mgr.CallbackURL }},
		{"only the other provider's order in the cache: the lookup still falls back to the API server for the route's",
			func(t *testing.T) string {
				return startCallback(t, &webhook.Server{
					Addr: "127.0.0.1:0", Client: cacheWithout{Client: mgr.GetClient(), provider: "sandbox"}, APIReader: mgr.GetAPIReader(),
					Resolver: &resolver.Resolver{Reader: mgr.GetClient()}, Recorder: mgr.GetEventRecorder("lookup-test"),
					Log: ctrl.Log.WithName("lookup-test"),
				})
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := testfixture.New(t, env, gateway.Options{}, noQuery)
			// Provider "other" points at a closed port: its order stays Pending with the shared
			// out_trade_no and no provider payment id, as while its create is in flight.
			f.CreateProvider("other", "http://127.0.0.1:1", noQuery)
			orderWithID(f, "ours", "sandbox", "SHARED-0001", "5.00", "CNY")
			orderWithID(f, "theirs", "other", "SHARED-0001", "5.00", "CNY")
			ours := f.WaitPhase("ours", v1.PhaseAwaitingPayment, 30*time.Second)
			theirs := f.WaitPhase("theirs", v1.PhasePending, 30*time.Second)
			if ours.Status.OutTradeNo != theirs.Status.OutTradeNo || theirs.Status.ProviderPaymentID != "" {
				t.Fatalf("setup: want one out_trade_no and no payment id on theirs; ours %q, theirs %q (payment %q)",
					ours.Status.OutTradeNo, theirs.Status.OutTradeNo, theirs.Status.ProviderPaymentID)
			}

			body := notification("evt_shared", "payment.succeeded", ours, 500, "CNY")
			if code, answer := post(t, notifyURL(tt.server(t), f), body, signed(body, time.Now())); code != 200 || answer != "success" {
				t.Fatalf("genuine notification for %s/ours answered %d %q, want 200 success", f.NS, code, answer)
			}
			if got := f.Get("ours"); got.Status.Phase != v1.PhasePaid || countTo(got, v1.PhasePaid) != 1 {
				t.Errorf("PaymentOrder %s/ours: want Paid once: %s", f.NS, describe(got))
			}
			got := f.Get("theirs")
			if trace := untouchedByNotification(got, "evt_shared"); trace != "" || got.Status.Phase != v1.PhasePending {
				t.Errorf("PaymentOrder %s/theirs (provider other) was touched by sandbox's notification: %s; %s", f.NS, trace, describe(got))
			}
		})
	}
}
