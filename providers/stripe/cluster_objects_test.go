package stripe_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/testenv"
	"github.com/kubepay/kubepay/internal/testfixture"
	"github.com/kubepay/kubepay/providers/stripe"
)

// stripeNS is one test's namespace holding a Stripe PaymentProvider "stripe".
type stripeNS struct {
	t   *testing.T
	env *testenv.Env
	NS  string
	// NotifyURL is where Stripe would deliver this provider's events.
	NotifyURL string
}

// newStripeNS creates a namespace, the labelled credentials Secret and a PaymentProvider of type
// stripe with the API at endpoint and notifications to mgr's callback server. The query fallback
// waits 10 minutes: stripe-mock's canned sessions are always open and unpaid, and these tests
// prove notifications.
func newStripeNS(t *testing.T, env *testenv.Env, mgr *testfixture.Manager, endpoint string) *stripeNS {
	t.Helper()
	s := &stripeNS{t: t, env: env, NS: env.Namespace(t)}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.NS, Name: "stripe-credentials", Labels: map[string]string{"kubepay.io/credentials": "true"}},
		Data: map[string][]byte{
			stripe.SecretAPIKey: []byte(testAPIKey), stripe.SecretWebhookSecret: []byte(testSecret), stripe.SecretWebhookSecretNext: []byte(testNext),
		},
	}
	tenMinutes := &metav1.Duration{Duration: 10 * time.Minute}
	pp := &v1.PaymentProvider{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.NS, Name: testProvider},
		Spec: v1.PaymentProviderSpec{
			Type: v1.ProviderStripe, Endpoint: endpoint, CallbackBaseURL: mgr.CallbackURL,
			CredentialsSecretRef: v1.LocalObjectReference{Name: secret.Name},
			Query:                &v1.QuerySettings{InitialInterval: tenMinutes, MaxInterval: tenMinutes},
		},
	}
	for _, obj := range []client.Object{secret, pp} {
		if err := env.Client.Create(t.Context(), obj); err != nil {
			t.Fatal(err)
		}
	}
	s.NotifyURL = mgr.CallbackURL + "/notify/" + s.NS + "/" + testProvider
	return s
}

// in is s for a subtest, so that its failures end the subtest.
func (s *stripeNS) in(t *testing.T) *stripeNS {
	sub := *s
	sub.t = t
	return &sub
}

// order creates a card PaymentOrder on the provider and waits until it awaits payment.
func (s *stripeNS) order(name, amount string) *v1.PaymentOrder {
	s.t.Helper()
	o := &v1.PaymentOrder{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.NS, Name: name},
		Spec: v1.PaymentOrderSpec{
			ProviderRef: v1.ProviderReference{Name: testProvider}, Amount: amount, Currency: "USD",
			Channel: "card", Subject: "test " + name, ExpiresAfter: &metav1.Duration{Duration: 30 * time.Minute},
		},
	}
	if err := s.env.Client.Create(s.t.Context(), o); err != nil {
		s.t.Fatal(err)
	}
	return s.waitPhase(name, v1.PhaseAwaitingPayment, 30*time.Second)
}

func (s *stripeNS) get(name string) *v1.PaymentOrder {
	s.t.Helper()
	return s.env.Order(s.t, s.NS, name)
}

// waitPhase polls the order until it reaches phase, failing after timeout.
func (s *stripeNS) waitPhase(name string, phase v1.Phase, timeout time.Duration) *v1.PaymentOrder {
	s.t.Helper()
	return s.env.WaitPhase(s.t, s.NS, name, phase, timeout)
}

// eventFor is a checkout.session.completed (paid) event about o's session, as Stripe would send
// it: built from the order's status, since stripe-mock keeps no sessions.
func (s *stripeNS) eventFor(id string, o *v1.PaymentOrder) sessionEvent {
	e := paidEvent(id, o.Status.ProviderPaymentID, o.Status.OutTradeNo, o.Status.AmountMinor, time.Now())
	e.Namespace = s.NS
	return e
}

// post delivers body with a Stripe-Signature header and returns the answer.
func (s *stripeNS) post(body []byte, header string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequestWithContext(s.t.Context(), http.MethodPost, s.NotifyURL, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set(stripe.SignatureHeader, header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("POST %s: %v", s.NotifyURL, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(answer)
}

func countTo(o *v1.PaymentOrder, phase v1.Phase) int {
	n := 0
	for _, h := range o.Status.History {
		if h.To == phase {
			n++
		}
	}
	return n
}
