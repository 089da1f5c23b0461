// Package sharding proves that several kubepay installs split one cluster: each serves its share
// of namespaces, settles every order there, and touches nothing outside it.
package sharding

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/manager"
	"github.com/kubepay/kubepay/internal/shard"
	"github.com/kubepay/kubepay/internal/testenv"
	"github.com/kubepay/kubepay/internal/testfixture"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
	"github.com/kubepay/kubepay/providers/sandbox/gatewaytest"
)

const ordersPerShard = 200

// install is one kubepay install with its share and its field manager name.
type install struct {
	name       string
	namespaces []string
	mgr        *testfixture.Manager
}

// TestTwoInstallsSplitTheCluster: two managers on one API server, each with half of four
// namespaces, 200 orders each. Every order is created, paid by its notification and settled by
// its own install; the other install never writes it (its field manager name appears on no order
// outside its share) and its callback server does not answer for the other half.
func TestTwoInstallsSplitTheCluster(t *testing.T) {
	env := testenv.Start(t)
	gw, srv := gatewaytest.StartTest(t, gateway.Options{})
	installs := []*install{{name: "kubepay-a"}, {name: "kubepay-b"}}
	for i, in := range installs {
		for range 2 {
			in.namespaces = append(in.namespaces, env.Namespace(t))
		}
		mgr, err := testfixture.StartManager(env, nil, func(o *manager.Options) {
			o.Share = shard.Share{Namespaces: in.namespaces}
			o.SecondInProcess = i > 0
			o.ClusterNamespace = in.namespaces[0]
			owner := in.name
			o.WrapClient = func(c client.Client) client.Client { return client.WithFieldOwner(c, owner) }
		})
		if err != nil {
			t.Fatalf("starting install %s: %v", in.name, err)
		}
		t.Cleanup(mgr.Stop)
		in.mgr = mgr
		for _, ns := range in.namespaces {
			setupNamespace(t, env, gw, srv.URL, ns, mgr.CallbackURL)
		}
	}

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 2*ordersPerShard)
	for _, in := range installs {
		for i := range ordersPerShard {
			ns := in.namespaces[i%2]
			wg.Go(func() {
				o := &v1.PaymentOrder{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("order-%03d", i)}, Spec: v1.PaymentOrderSpec{
					ProviderRef: v1.ProviderReference{Name: "sandbox"}, Amount: "1.00", Currency: "CNY", Channel: "sandbox", Subject: "shard"}}
				errs <- env.Client.Create(t.Context(), o)
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	all := func() []v1.PaymentOrder {
		var out []v1.PaymentOrder
		for _, in := range installs {
			for _, ns := range in.namespaces {
				list := &v1.PaymentOrderList{}
				if err := env.Client.List(t.Context(), list, client.InNamespace(ns)); err != nil {
					t.Fatal(err)
				}
				out = append(out, list.Items...)
			}
		}
		return out
	}
	testenv.Eventually(t, 3*time.Minute, func() (bool, string) {
		n := 0
		for _, o := range all() {
			if o.Status.Phase == v1.PhaseAwaitingPayment {
				n++
			}
		}
		return n == 2*ordersPerShard, fmt.Sprintf("%d of %d orders AwaitingPayment", n, 2*ordersPerShard)
	})
	// The other half's notification is not this install's to answer.
	a := installs[0].namespaces[0]
	if code := postNotify(t, installs[1].mgr.CallbackURL+"/notify/"+a+"/sandbox"); code != http.StatusNotFound {
		t.Errorf("install b answered %d for a notification of install a's namespace, want 404", code)
	}
	for _, o := range all() {
		pay(t, srv.URL, o.Status.ProviderPaymentID)
	}
	testenv.Eventually(t, 3*time.Minute, func() (bool, string) {
		settled := 0
		for _, o := range all() {
			if o.Status.Phase == v1.PhasePaid && o.Status.Settled {
				settled++
			}
		}
		return settled == 2*ordersPerShard, fmt.Sprintf("%d of %d orders Paid and settled", settled, 2*ordersPerShard)
	})
	t.Logf("%d orders in two shards created, paid and settled in %v", 2*ordersPerShard, time.Since(start))

	for _, in := range installs {
		for _, other := range installs {
			if other == in {
				continue
			}
			for _, ns := range in.namespaces {
				list := &v1.PaymentOrderList{}
				if err := env.Client.List(t.Context(), list, client.InNamespace(ns)); err != nil {
					t.Fatal(err)
				}
				for _, o := range list.Items {
					own := false
					for _, mf := range o.ManagedFields {
						if mf.Manager == other.name {
							t.Errorf("order %s/%s of %s was written by %s (%s)", o.Namespace, o.Name, in.name, other.name, mf.Operation)
						}
						own = own || mf.Manager == in.name
					}
					if !own {
						t.Errorf("order %s/%s was never written by its own install %s", o.Namespace, o.Name, in.name)
					}
				}
			}
		}
	}
	if s := gw.Stats(); s.PaymentsTotal != 2*ordersPerShard {
		t.Errorf("gateway has %d payments, want exactly %d", s.PaymentsTotal, 2*ordersPerShard)
	}
}

// setupNamespace creates the namespace's credentials and sandbox provider, whose notifications go
// to callbackURL (the install that serves the namespace).
func setupNamespace(t *testing.T, env *testenv.Env, gw *gateway.Gateway, gatewayURL, ns, callbackURL string) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "creds", Labels: map[string]string{v1.LabelCredentials: "true"}},
		Data: gatewaytest.Secret(gw, gatewaytest.APIKey)}
	if err := env.Client.Create(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	pp := &v1.PaymentProvider{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sandbox"}, Spec: v1.PaymentProviderSpec{
		Type: v1.ProviderSandbox, Endpoint: gatewayURL, CredentialsSecretRef: v1.LocalObjectReference{Name: "creds"}, CallbackBaseURL: callbackURL,
		Query: &v1.QuerySettings{InitialInterval: &metav1.Duration{Duration: 2 * time.Second}, MaxInterval: &metav1.Duration{Duration: 5 * time.Second}}}}
	if err := env.Client.Create(t.Context(), pp); err != nil {
		t.Fatal(err)
	}
}

func pay(t *testing.T, gatewayURL, paymentID string) {
	t.Helper()
	resp, err := http.Post(gatewayURL+"/v1/payments/"+paymentID+"/pay", "application/json", strings.NewReader(`{"outcome":"succeeded"}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("paying %s: HTTP %d", paymentID, resp.StatusCode)
	}
}

func postNotify(t *testing.T, url string) int {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"id": "evt_x", "type": "payment.succeeded"})
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}
