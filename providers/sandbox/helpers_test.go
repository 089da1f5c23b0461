package sandbox_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/sandbox"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
	"github.com/kubepay/kubepay/providers/sandbox/gatewaytest"
)

const waitTimeout = 10 * time.Second

// newProvider builds a sandbox client for a test gateway through the registry, as the
// controller does.
func newProvider(t testing.TB, g *gateway.Gateway, srv *httptest.Server) providers.Provider {
	t.Helper()
	p, err := providers.New(sandbox.Type, providers.Config{
		Namespace: "shop", Name: "sandbox", Endpoint: srv.URL,
		Secret: gatewaytest.Secret(g, gatewaytest.APIKey),
	})
	if err != nil {
		t.Fatalf("new sandbox provider: %v", err)
	}
	return p
}

func testOrder(otn, notifyURL string) providers.Order {
	return providers.Order{
		Namespace: "shop", Name: "order-" + otn, OutTradeNo: otn,
		AmountMinor: 1050, Amount: "10.50", Currency: "USD", Channel: "sandbox",
		Subject: "Green tea", NotifyURL: notifyURL, ReturnURL: "https://shop.example/return",
		// Whole seconds: the wire format carries seconds, so a replay compares equal.
		ExpiresAt: time.Now().Add(time.Hour).Truncate(time.Second),
	}
}

// notifications is a notify_url endpoint that verifies with the provider under test and
// acknowledges with its Ack, like kubepay's callback server does.
type notifications struct {
	*gatewaytest.Receiver
	mu     sync.Mutex
	parsed []providers.Notification
	errs   []error
}

func newNotifications(t testing.TB, p providers.Provider) *notifications {
	n := &notifications{}
	n.Receiver = gatewaytest.NewReceiver(t, func(_ int, r *http.Request, body []byte) (int, string) {
		got, err := p.ParseNotification(context.Background(), r, body)
		n.mu.Lock()
		if err != nil {
			n.errs = append(n.errs, err)
		} else {
			n.parsed = append(n.parsed, got)
		}
		n.mu.Unlock()
		rec := httptest.NewRecorder()
		p.Ack(rec, err)
		return rec.Code, rec.Body.String()
	})
	return n
}

func (n *notifications) Parsed() ([]providers.Notification, []error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]providers.Notification(nil), n.parsed...), append([]error(nil), n.errs...)
}
