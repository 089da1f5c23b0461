package webhook_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sevents "k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/index"
	"github.com/kubepay/kubepay/internal/resolver"
	"github.com/kubepay/kubepay/internal/scheme"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
	"github.com/kubepay/kubepay/providers/sandbox/gatewaytest"
	"github.com/kubepay/kubepay/webhook"
)

// builderIndexer registers index.Setup's indexes on a fake client builder.
type builderIndexer struct{ b *fake.ClientBuilder }

func (i builderIndexer) IndexField(_ context.Context, obj client.Object, field string, fn client.IndexerFunc) error {
	i.b.WithIndex(obj, field, fn)
	return nil
}

// fakeCluster is a fake client holding PaymentProvider shop/sandbox and its credentials for a
// real sandbox gateway, and no orders. The limits act before any order is read, and a request
// that gets past them is answered by the handler: verified ones 500 (no such order), the rest
// with their failure answer. That is all these tests need to tell served from refused, without a
// control plane.
func fakeCluster(t *testing.T) client.Client {
	t.Helper()
	gw, srv := gatewaytest.StartTest(t, gateway.Options{})
	b := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(
		&v1.PaymentProvider{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "sandbox"},
			Spec: v1.PaymentProviderSpec{Type: v1.ProviderSandbox, Endpoint: srv.URL,
				CredentialsSecretRef: v1.LocalObjectReference{Name: "creds"}},
		},
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "creds", Labels: map[string]string{v1.LabelCredentials: "true"}},
			Data:       gatewaytest.Secret(gw, gatewaytest.APIKey),
		})
	if err := index.Setup(context.Background(), builderIndexer{b}); err != nil {
		t.Fatal(err)
	}
	return b.Build()
}

// startLimited runs a callback server on fakeCluster with the given failure budget.
func startLimited(t *testing.T, limit float64, burst int, mutate func(*webhook.Server)) (*webhook.Server, string) {
	t.Helper()
	c := fakeCluster(t)
	srv := &webhook.Server{
		Addr: "127.0.0.1:0", Client: c, APIReader: c,
		Resolver: &resolver.Resolver{Reader: c}, Recorder: k8sevents.NewFakeRecorder(100),
		Log: logr.Discard(), RateLimit: limit, RateBurst: burst,
	}
	if mutate != nil {
		mutate(srv)
	}
	return srv, startCallback(t, srv)
}

// clientFrom sends from a chosen loopback source address, so two "sources" can be told apart.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 10 * time.Second}
}

// send posts body with signature (none when empty) and returns the status and Retry-After.
func send(t *testing.T, c *http.Client, url string, body []byte, signature string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
	if signature != "" {
		req.Header.Set("Sandbox-Signature", signature)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// genuine is a notification signed with the gateway's key, about an order nobody has: verified,
// then answered 500 (unknown order).
func genuine(id string) ([]byte, string) {
	o := &v1.PaymentOrder{Status: v1.PaymentOrderStatus{OutTradeNo: "NOSUCHORDER", ProviderPaymentID: "pay_x"}}
	body := notification(id, "payment.succeeded", o, 100, "CNY")
	return body, signed(body, time.Now())
}

// TestFailureBudgetPerSourceAddress: what fails verification spends its source's budget; past it
// the answer is 429 with Retry-After instead of the provider's failure answer. Nothing that
// verifies is refused because of it, not even from the source that spent it, and another source
// has a budget of its own.
func TestFailureBudgetPerSourceAddress(t *testing.T) {
	// One failure per 1000 s: no refill during the test, however slow the machine.
	_, base := startLimited(t, 0.001, 3, nil)
	url := base + "/notify/shop/sandbox"
	flooder := clientFrom("127.0.0.1")
	codes := map[int]int{}
	for range 12 {
		code, retryAfter := send(t, flooder, url, []byte(`{}`), "")
		codes[code]++
		if code == http.StatusTooManyRequests && retryAfter == "" {
			t.Error("429 without Retry-After")
		}
	}
	// The burst of 3 gets the provider's failure answer (400 for a signature failure); the rest
	// 429.
	if codes[http.StatusBadRequest] != 3 || codes[http.StatusTooManyRequests] != 9 {
		t.Fatalf("12 unsigned requests from one address answered %v; want 3 with the failure answer (400) and 9 with 429", codes)
	}
	// The same source's genuine notification is verified and handled, not refused.
	body, sig := genuine("evt_after_flood")
	if code, _ := send(t, flooder, url, body, sig); code != http.StatusInternalServerError {
		t.Errorf("genuine notification from the flooding address answered %d, want 500 (verified, no such order), never 429", code)
	}
	// Another source address has its own budget.
	other := clientFrom("127.0.0.2")
	for range 2 {
		if code, _ := send(t, other, url, []byte(`{}`), ""); code != http.StatusBadRequest {
			t.Fatalf("a second source address was answered %d; want the failure answer (400) from its own budget", code)
		}
	}
	// Failures before verification (no such provider) spend the budget too.
	if code, _ := send(t, flooder, base+"/notify/shop/nope", []byte(`{}`), ""); code != http.StatusTooManyRequests {
		t.Errorf("request to an unknown provider from the spent address answered %d, want 429", code)
	}
}

// TestSaturatedServerAnswers503: when no verification slot frees up within the wait, the answer
// is 503 with Retry-After (every provider retries it); as soon as one frees, requests are
// verified again.
func TestSaturatedServerAnswers503(t *testing.T) {
	srv, base := startLimited(t, 0, 0, func(s *webhook.Server) {
		s.MaxConcurrentVerifications, s.VerifyWait = 2, 50*time.Millisecond
	})
	url := base + "/notify/shop/sandbox"
	body, sig := genuine("evt_saturated")
	release := srv.HoldVerificationSlots()
	code, retryAfter := send(t, http.DefaultClient, url, body, sig)
	if code != http.StatusServiceUnavailable || retryAfter == "" {
		t.Errorf("with every verification slot taken: answered %d (Retry-After %q), want 503 with Retry-After", code, retryAfter)
	}
	release()
	if code, _ := send(t, http.DefaultClient, url, body, sig); code != http.StatusInternalServerError {
		t.Errorf("after the slots were released: answered %d, want 500 (verified, no such order)", code)
	}
}

func TestHeaderSizeLimit(t *testing.T) {
	_, base := startLimited(t, 0, 0, nil)
	req, _ := http.NewRequest(http.MethodPost, base+"/notify/shop/sandbox", strings.NewReader(`{}`))
	req.Header.Set("X-Padding", strings.Repeat("a", 4*webhook.MaxHeaderBytes))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("a %d KiB header was answered %d, want 431", 4*webhook.MaxHeaderBytes>>10, resp.StatusCode)
	}
}
