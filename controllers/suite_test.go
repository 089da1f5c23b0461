package controllers_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/manager"
	"github.com/kubepay/kubepay/internal/testenv"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
	"github.com/kubepay/kubepay/providers/sandbox/gatewaytest"
)

// One control plane and one manager serve every test; each test works in its own namespace with
// its own sandbox gateway, so tests cannot see each other's orders or payments.
var (
	env    *testenv.Env
	faults = &statusFaults{fail: map[string]int{}}
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	e, err := testenv.StartE()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer e.Env.Stop()
	env = e
	mgr, err := manager.New(e.Config, manager.Options{
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		ProbeBindAddress:        "0",
		MaxConcurrentReconciles: 8,
		WrapClient:              faults.wrap,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() { cancel(); <-done }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		fmt.Fprintln(os.Stderr, "manager cache did not sync")
		return 1
	}
	return m.Run()
}

// statusFaults fails chosen status writes: the test for "killed between the provider call and
// the status write" arms it for one order.
type statusFaults struct {
	mu   sync.Mutex
	fail map[string]int // "namespace/name" -> status writes still to fail
}

func (f *statusFaults) arm(key client.ObjectKey, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[key.String()] = n
}

func (f *statusFaults) wrap(c client.Client) client.Client { return faultyClient{Client: c, f: f} }

// take reports whether the next status write of key must fail, using up one armed fault.
func (f *statusFaults) take(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail[key] > 0 {
		f.fail[key]--
		return true
	}
	return false
}

type faultyClient struct {
	client.Client
	f *statusFaults
}

func (c faultyClient) Status() client.SubResourceWriter {
	return faultyStatus{SubResourceWriter: c.Client.Status(), f: c.f}
}

type faultyStatus struct {
	client.SubResourceWriter
	f *statusFaults
}

func (s faultyStatus) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	if key := client.ObjectKeyFromObject(obj).String(); s.f.take(key) {
		return fmt.Errorf("injected fault: status write of %s lost", key)
	}
	return s.SubResourceWriter.Update(ctx, obj, opts...)
}

// fixture is one test's namespace, gateway and sandbox PaymentProvider.
type fixture struct {
	t   *testing.T
	ns  string
	gw  *gateway.Gateway
	url string
}

// newFixture starts a gateway with opts and creates a PaymentProvider "sandbox" for it that
// queries every 500ms at first.
func newFixture(t *testing.T, opts gateway.Options) *fixture {
	t.Helper()
	gw, srv := gatewaytest.StartTest(t, opts)
	f := &fixture{t: t, ns: env.Namespace(t), gw: gw, url: srv.URL}
	f.createSecret(gatewaytest.Secret(gw, gatewaytest.APIKey))
	f.createProvider("sandbox", srv.URL)
	return f
}

func (f *fixture) createSecret(data map[string][]byte) {
	f.t.Helper()
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "sandbox-credentials", Labels: map[string]string{"kubepay.io/credentials": "true"}},
		Data:       data,
	}
	if err := env.Client.Create(f.t.Context(), s); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) createProvider(name, endpoint string) {
	f.t.Helper()
	p := &v1.PaymentProvider{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name},
		Spec: v1.PaymentProviderSpec{
			Type: v1.ProviderSandbox, Endpoint: endpoint,
			CredentialsSecretRef: v1.LocalObjectReference{Name: "sandbox-credentials"},
			// Nothing listens here in these tests: notifications fail and the query fallback is what moves orders.
			CallbackBaseURL: "http://127.0.0.1:1",
			Query: &v1.QuerySettings{
				InitialInterval: &metav1.Duration{Duration: 500 * time.Millisecond},
				MaxInterval:     &metav1.Duration{Duration: time.Second},
			},
		},
	}
	if err := env.Client.Create(f.t.Context(), p); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) order(name, amount, currency string, expiresAfter time.Duration) *v1.PaymentOrder {
	f.t.Helper()
	o := &v1.PaymentOrder{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name},
		Spec: v1.PaymentOrderSpec{
			ProviderRef: v1.LocalObjectReference{Name: "sandbox"}, Amount: amount, Currency: currency,
			Channel: "sandbox", Subject: "test " + name, ExpiresAfter: &metav1.Duration{Duration: expiresAfter},
		},
	}
	if err := env.Client.Create(f.t.Context(), o); err != nil {
		f.t.Fatal(err)
	}
	return o
}

func (f *fixture) get(name string) *v1.PaymentOrder {
	f.t.Helper()
	o := &v1.PaymentOrder{}
	if err := env.Client.Get(f.t.Context(), client.ObjectKey{Namespace: f.ns, Name: name}, o); err != nil {
		f.t.Fatalf("reading PaymentOrder %s/%s: %v", f.ns, name, err)
	}
	return o
}

// waitPhase waits until the order reaches phase and returns it.
func (f *fixture) waitPhase(name string, phase v1.Phase, timeout time.Duration) *v1.PaymentOrder {
	f.t.Helper()
	var o *v1.PaymentOrder
	testenv.Eventually(f.t, timeout, func() (bool, string) {
		o = f.get(name)
		return o.Status.Phase == phase, fmt.Sprintf("order %s is %q (conditions %+v), want %s", name, o.Status.Phase, o.Status.Conditions, phase)
	})
	return o
}

// pay completes the payment as the customer would, through the gateway's pay endpoint.
func (f *fixture) pay(paymentID string) {
	f.t.Helper()
	resp, err := http.Post(f.url+"/v1/payments/"+paymentID+"/pay", "application/json", stringsReader(`{"outcome":"succeeded"}`))
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		f.t.Fatalf("paying %s: HTTP %d", paymentID, resp.StatusCode)
	}
}

// freePort returns a loopback address nothing listens on (yet).
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
