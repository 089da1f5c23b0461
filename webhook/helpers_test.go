package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/testfixture"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
	"github.com/kubepay/kubepay/providers/sandbox/gatewaytest"
	"github.com/kubepay/kubepay/webhook"
)

// startCallback runs srv on its own until the test ends and returns its base URL. Tests that
// need their own client, limits or logger use it instead of the manager's callback server.
func startCallback(t *testing.T, srv *webhook.Server) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	stopped := false
	t.Cleanup(func() {
		cancel()
		if stopped {
			return
		}
		if err := <-done; err != nil {
			t.Errorf("callback server stopped with: %v", err)
		}
	})
	scheme := "http://"
	if srv.CertDir != "" {
		scheme = "https://"
	}
	select {
	case addr := <-srv.Addresses():
		return scheme + addr
	case err := <-done:
		stopped = true
		t.Fatalf("callback server did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("callback server did not listen within 30s")
	}
	return ""
}

// orderWithID creates a PaymentOrder with an explicit spec.orderID (its outTradeNo) on the named
// provider, so tests can give two orders the same merchant reference.
func orderWithID(f *testfixture.Fixture, name, provider, orderID, amount, currency string) *v1.PaymentOrder {
	f.T.Helper()
	o := &v1.PaymentOrder{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.NS, Name: name},
		Spec: v1.PaymentOrderSpec{
			ProviderRef: v1.ProviderReference{Name: provider}, Amount: amount, Currency: currency,
			Channel: "sandbox", Subject: "test " + name, OrderID: orderID,
			ExpiresAfter: &metav1.Duration{Duration: 30 * time.Minute},
		},
	}
	if err := f.Env.Client.Create(f.T.Context(), o); err != nil {
		f.T.Fatalf("creating PaymentOrder %s/%s (orderID %s, provider %s): %v", f.NS, name, orderID, provider, err)
	}
	return o
}

// untouchedByNotification says how o carries a trace of notification id, or "" when it carries
// none: no transition, no lastNotification, no NotificationRejected condition naming it.
func untouchedByNotification(o *v1.PaymentOrder, id string) string {
	for _, h := range o.Status.History {
		if h.NotificationID == id {
			return fmt.Sprintf("history has %s -> %s from notification %s", h.From, h.To, id)
		}
	}
	if ln := o.Status.LastNotification; ln != nil && ln.ID == id {
		return "lastNotification is " + id
	}
	for _, c := range o.Status.Conditions {
		if c.Type == v1.ConditionNotificationRejected && strings.Contains(c.Message, id) {
			return "condition " + c.Type + ": " + c.Message
		}
	}
	return ""
}

// notification is a sandbox event about o, shaped like the gateway's own.
func notification(id, typ string, o *v1.PaymentOrder, amount int64, currency string) []byte {
	status := map[string]string{"payment.succeeded": "succeeded", "payment.failed": "failed", "payment.closed": "closed"}[typ]
	b, err := json.Marshal(map[string]any{
		"id": id, "type": typ, "created": time.Now().Unix(),
		"data": map[string]any{"id": o.Status.ProviderPaymentID, "out_trade_no": o.Status.OutTradeNo, "status": status, "amount": amount, "currency": currency},
	})
	if err != nil {
		panic(err)
	}
	return b
}

// signed signs body as the gateway does, at t.
func signed(body []byte, t time.Time) string {
	return gateway.SignPayload(gatewaytest.SigningKey(), t, body)
}

// post sends a notification and returns the HTTP status and body of the answer.
func post(t *testing.T, url string, body []byte, signature string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if signature != "" {
		req.Header.Set("Sandbox-Signature", signature)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(answer)
}

func notifyURL(base string, f *testfixture.Fixture) string {
	return base + "/notify/" + f.NS + "/sandbox"
}

// events returns the Events about the named object with reason.
func events(t *testing.T, ns, name, reason string) []eventsv1.Event {
	t.Helper()
	list := &eventsv1.EventList{}
	if err := env.Client.List(t.Context(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == name && e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
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

func describe(o *v1.PaymentOrder) string {
	return fmt.Sprintf("phase %s, history %+v", o.Status.Phase, o.Status.History)
}

// lineLog is a logger that keeps every line, so tests can count what a flood made the server log.
type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lines = append(l.lines, prefix+" "+args)
	}, funcr.Options{})
}

// matching returns the lines containing substr.
func (l *lineLog) matching(substr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return out
}
