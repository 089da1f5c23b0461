package testfixture

import (
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/testenv"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
	"github.com/kubepay/kubepay/providers/sandbox/gatewaytest"
)

// SecretName is the credentials Secret every fixture creates.
const SecretName = "sandbox-credentials"

// Fixture is one test's namespace, sandbox gateway and PaymentProvider "sandbox".
type Fixture struct {
	T   *testing.T
	Env *testenv.Env
	NS  string
	GW  *gateway.Gateway
	// URL is the gateway's base URL.
	URL string
}

// Provider describes the PaymentProvider a fixture creates.
type Provider struct {
	// CallbackBaseURL is where the gateway sends notifications; "" points at a closed port, so
	// only the controller's query fallback moves orders.
	CallbackBaseURL string
	// QueryInitial defaults to 500ms, QueryMax to 1s: tests wait seconds, not minutes.
	QueryInitial, QueryMax time.Duration
}

// New starts a gateway with opts in a fresh namespace and creates its Secret and PaymentProvider.
func New(t *testing.T, env *testenv.Env, opts gateway.Options, p Provider) *Fixture {
	t.Helper()
	gw, srv := gatewaytest.StartTest(t, opts)
	f := &Fixture{T: t, Env: env, NS: env.Namespace(t), GW: gw, URL: srv.URL}
	f.CreateSecret(gatewaytest.Secret(gw, gatewaytest.APIKey))
	f.CreateProvider("sandbox", srv.URL, p)
	return f
}

// CreateSecret creates the labelled credentials Secret.
func (f *Fixture) CreateSecret(data map[string][]byte) {
	f.T.Helper()
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.NS, Name: SecretName, Labels: map[string]string{"kubepay.io/credentials": "true"}},
		Data:       data,
	}
	if err := f.Env.Client.Create(f.T.Context(), s); err != nil {
		f.T.Fatal(err)
	}
}

// CreateProvider creates a sandbox PaymentProvider for the gateway at endpoint.
func (f *Fixture) CreateProvider(name, endpoint string, p Provider) {
	f.T.Helper()
	if p.CallbackBaseURL == "" {
		p.CallbackBaseURL = "http://127.0.0.1:1"
	}
	if p.QueryInitial == 0 {
		p.QueryInitial = 500 * time.Millisecond
	}
	if p.QueryMax == 0 {
		p.QueryMax = time.Second
	}
	pp := &v1.PaymentProvider{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.NS, Name: name},
		Spec: v1.PaymentProviderSpec{
			Type: v1.ProviderSandbox, Endpoint: endpoint,
			CredentialsSecretRef: v1.LocalObjectReference{Name: SecretName},
			CallbackBaseURL:      p.CallbackBaseURL,
			Query: &v1.QuerySettings{
				InitialInterval: &metav1.Duration{Duration: p.QueryInitial},
				MaxInterval:     &metav1.Duration{Duration: p.QueryMax},
			},
		},
	}
	if err := f.Env.Client.Create(f.T.Context(), pp); err != nil {
		f.T.Fatal(err)
	}
}

// Order creates a PaymentOrder on the sandbox provider.
func (f *Fixture) Order(name, amount, currency string, expiresAfter time.Duration) *v1.PaymentOrder {
	f.T.Helper()
	o := &v1.PaymentOrder{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.NS, Name: name},
		Spec: v1.PaymentOrderSpec{
			ProviderRef: v1.ProviderReference{Name: "sandbox"}, Amount: amount, Currency: currency,
			Channel: "sandbox", Subject: "test " + name, ExpiresAfter: &metav1.Duration{Duration: expiresAfter},
		},
	}
	if err := f.Env.Client.Create(f.T.Context(), o); err != nil {
		f.T.Fatal(err)
	}
	return o
}

// Get reads an order from the API server.
func (f *Fixture) Get(name string) *v1.PaymentOrder {
	f.T.Helper()
	return f.Env.Order(f.T, f.NS, name)
}

// WaitPhase waits until the order reaches phase and returns it.
func (f *Fixture) WaitPhase(name string, phase v1.Phase, timeout time.Duration) *v1.PaymentOrder {
	f.T.Helper()
	return f.Env.WaitPhase(f.T, f.NS, name, phase, timeout)
}

// Pay completes the payment as the customer would, through the gateway's pay endpoint.
func (f *Fixture) Pay(paymentID, outcome string) {
	f.T.Helper()
	resp, err := http.Post(f.URL+"/v1/payments/"+paymentID+"/pay", "application/json", strings.NewReader(`{"outcome":"`+outcome+`"}`))
	if err != nil {
		f.T.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		f.T.Fatalf("paying %s: HTTP %d", paymentID, resp.StatusCode)
	}
}
