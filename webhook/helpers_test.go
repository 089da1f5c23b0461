package webhook_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/testfixture"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
	"github.com/kubepay/kubepay/providers/sandbox/gatewaytest"
)

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
