package alipay_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/providers/alipay/internal/fakegateway"
	"github.com/kubepay/kubepay/providers/internal/providertest"
)

// e2e is one namespace on a real control plane with the kubepay manager and a fake Alipay gateway.
type e2e struct {
	*providertest.E2E
	gw *fakegateway.Gateway
}

// createProvider makes the labelled Secret and an alipay PaymentProvider on the fake gateway;
// queryEvery is the fallback polling interval.
func (e *e2e) createProvider(name, callbackBaseURL string, queryEvery time.Duration) {
	e.T.Helper()
	e.CreateProvider(name, secret(), v1.PaymentProviderSpec{
		Type: v1.ProviderAlipay, Endpoint: e.gw.URL, AppID: testAppID, MerchantID: testSellerID,
		CallbackBaseURL: callbackBaseURL, Query: providertest.QueryEvery(queryEvery),
	})
}

func (e *e2e) createOrder(name, provider, orderID string) {
	e.T.Helper()
	e.CreateOrder(name, v1.PaymentOrderSpec{
		ProviderRef: v1.ProviderReference{Name: provider}, Amount: "10.50", Currency: "CNY",
		Channel: "alipay_page", Subject: "green tea", OrderID: orderID, ReturnURL: "https://shop.example/done",
		ExpiresAfter: &metav1.Duration{Duration: 30 * time.Minute},
	})
}

// openCheckout opens the payment URL as the customer's browser would; the gateway verifies its
// signature and opens the trade.
func (e *e2e) openCheckout(o *v1.PaymentOrder) fakegateway.Trade {
	e.T.Helper()
	if !strings.HasPrefix(o.Status.PaymentURL, e.gw.URL+"?") {
		e.T.Fatalf("paymentURL %q is not on the gateway %s", o.Status.PaymentURL, e.gw.URL)
	}
	resp, err := http.Get(o.Status.PaymentURL)
	if err != nil {
		e.T.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.T.Fatalf("gateway refused the checkout URL: HTTP %d", resp.StatusCode)
	}
	tr, ok := e.gw.Trade(o.Status.OutTradeNo)
	if !ok {
		e.T.Fatalf("gateway has no trade %s after checkout", o.Status.OutTradeNo)
	}
	return tr
}

// TestEndToEnd runs the manager on a real API server against the fake gateway: an alipay_page
// order gets its signed payment URL, refuses validly signed notifications for another amount or
// merchant, becomes Paid on the gateway's signed notification, and, on a provider whose
// notifications never arrive, becomes Paid through the signed query fallback.
func TestEndToEnd(t *testing.T) {
	e := &e2e{E2E: providertest.StartE2E(t)}
	e.gw = startGateway(t)
	// Queries are 10 minutes away on this provider: only notifications can move its orders.
	e.createProvider("alipay", e.Manager.CallbackURL, 10*time.Minute)
	e.createOrder("tea", "alipay", "kp_alipay_e2e_0001")

	o := e.WaitPhase("tea", v1.PhaseAwaitingPayment)
	if o.Status.OutTradeNo != "kp_alipay_e2e_0001" || o.Status.ProviderPaymentID != o.Status.OutTradeNo || o.Status.AmountMinor != 1050 {
		t.Fatalf("status after create: %+v", o.Status)
	}
	tr := e.openCheckout(o)
	wantNotify := e.Manager.CallbackURL + "/notify/" + e.NS + "/alipay"
	if tr.NotifyURL != wantNotify {
		t.Fatalf("gateway got notify_url %q, want %q", tr.NotifyURL, wantNotify)
	}
	if _, err := e.gw.Pay(o.Status.OutTradeNo); err != nil {
		t.Fatal(err)
	}

	refused := []struct {
		name, why string
		mutate    func(url.Values)
	}{
		{"amount mismatch", "a validly signed notification for 0.01 must not pay a 10.50 order", func(v url.Values) { v.Set("total_amount", "0.01") }},
		{"other merchant", "a validly signed notification from another seller account must not pay it", func(v url.Values) { v.Set("seller_id", "2088000000000099") }},
		{"other app", "nor one for another app", func(v url.Values) { v.Set("app_id", "2021000000000099") }},
	}
	for _, tc := range refused {
		v, err := e.gw.Notification(o.Status.OutTradeNo, tc.mutate)
		if err != nil {
			t.Fatal(err)
		}
		status, body, err := fakegateway.Post(t.Context(), tr.NotifyURL, v.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if status == http.StatusOK || body != "fail" {
			t.Errorf("%s: %s: callback answered %d %q, want a failure answer", tc.name, tc.why, status, body)
		}
		got := e.Get("tea")
		if got.Status.Phase != v1.PhaseAwaitingPayment || got.Status.PaidAt != nil {
			t.Fatalf("%s: order moved to %s", tc.name, got.Status.Phase)
		}
		if c := meta.FindStatusCondition(got.Status.Conditions, v1.ConditionNotificationRejected); c == nil || c.Status != metav1.ConditionTrue {
			t.Errorf("%s: no NotificationRejected condition: %+v", tc.name, got.Status.Conditions)
		}
	}

	paid, err := e.gw.Notification(o.Status.OutTradeNo, nil)
	if err != nil {
		t.Fatal(err)
	}
	status, body, err := fakegateway.Post(t.Context(), tr.NotifyURL, paid.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK || body != "success" {
		t.Fatalf("paid notification answered %d %q, want 200 success", status, body)
	}
	o = e.WaitPhase("tea", v1.PhasePaid)
	last := o.Status.History[len(o.Status.History)-1]
	if last.Source != v1.SourceNotification || o.Status.LastNotification == nil || o.Status.LastNotification.ID != paid.Get("notify_id") {
		t.Errorf("Paid not by the notification: last transition %+v, lastNotification %+v", last, o.Status.LastNotification)
	}
	if o.Status.PaidAmount != "10.50" || o.Status.PaidAt == nil {
		t.Errorf("paidAmount %q, paidAt %v", o.Status.PaidAmount, o.Status.PaidAt)
	}
	// Alipay retries until it reads "success": a redelivery is acknowledged without a write.
	rv := e.WaitSettled("tea").ResourceVersion
	status, body, err = fakegateway.Post(t.Context(), tr.NotifyURL, paid.Encode())
	if err != nil || status != http.StatusOK || body != "success" {
		t.Fatalf("redelivery answered %d %q %v, want 200 success", status, body, err)
	}
	if got := e.Get("tea"); got.ResourceVersion != rv {
		t.Errorf("redelivery wrote the order (resourceVersion %s -> %s)", rv, got.ResourceVersion)
	}

	// No callback reaches this provider; its orders are settled by signed alipay.trade.query.
	e.createProvider("alipay-poll", "", 500*time.Millisecond)
	e.createOrder("coffee", "alipay-poll", "kp_alipay_e2e_0002")
	o = e.WaitPhase("coffee", v1.PhaseAwaitingPayment)
	e.openCheckout(o)
	if _, err := e.gw.Pay(o.Status.OutTradeNo); err != nil {
		t.Fatal(err)
	}
	o = e.WaitPhase("coffee", v1.PhasePaid)
	if last := o.Status.History[len(o.Status.History)-1]; last.Source != v1.SourceQuery {
		t.Errorf("coffee became Paid by %s, want query", last.Source)
	}
	if e.gw.Calls("alipay.trade.query") == 0 || e.gw.Rejected() != 0 {
		t.Errorf("gateway answered %d queries and rejected %d requests", e.gw.Calls("alipay.trade.query"), e.gw.Rejected())
	}
}
