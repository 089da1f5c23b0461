package alipay_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/testenv"
	"github.com/kubepay/kubepay/internal/testfixture"
	"github.com/kubepay/kubepay/providers/alipay/internal/fakegateway"
	"github.com/kubepay/kubepay/webhook"
)

const e2eTimeout = 30 * time.Second

// e2e is one namespace on a real control plane with the kubepay manager and a fake Alipay gateway.
type e2e struct {
	t   *testing.T
	env *testenv.Env
	ns  string
	gw  *fakegateway.Gateway
}

// createProvider makes the labelled Secret and an alipay PaymentProvider on the fake gateway;
// queryEvery is the fallback polling interval.
func (e *e2e) createProvider(name, callbackBaseURL string, queryEvery time.Duration) {
	e.t.Helper()
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name + "-credentials", Labels: map[string]string{"kubepay.io/credentials": "true"}},
		Data:       secret(),
	}
	pp := &v1.PaymentProvider{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name},
		Spec: v1.PaymentProviderSpec{
			Type: v1.ProviderAlipay, Endpoint: e.gw.URL, AppID: testAppID, MerchantID: testSellerID,
			CredentialsSecretRef: v1.LocalObjectReference{Name: s.Name}, CallbackBaseURL: callbackBaseURL,
			Query: &v1.QuerySettings{InitialInterval: &metav1.Duration{Duration: queryEvery}, MaxInterval: &metav1.Duration{Duration: queryEvery}},
		},
	}
	for _, o := range []client.Object{s, pp} {
		if err := e.env.Client.Create(e.t.Context(), o); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *e2e) createOrder(name, provider, orderID string) {
	e.t.Helper()
	o := &v1.PaymentOrder{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name},
		Spec: v1.PaymentOrderSpec{
			ProviderRef: v1.LocalObjectReference{Name: provider}, Amount: "10.50", Currency: "CNY",
			Channel: "alipay_page", Subject: "green tea", OrderID: orderID, ReturnURL: "https://shop.example/done",
			ExpiresAfter: &metav1.Duration{Duration: 30 * time.Minute},
		},
	}
	if err := e.env.Client.Create(e.t.Context(), o); err != nil {
		e.t.Fatal(err)
	}
}

func (e *e2e) get(name string) *v1.PaymentOrder {
	e.t.Helper()
	o := &v1.PaymentOrder{}
	if err := e.env.Client.Get(e.t.Context(), client.ObjectKey{Namespace: e.ns, Name: name}, o); err != nil {
		e.t.Fatal(err)
	}
	return o
}

func (e *e2e) waitPhase(name string, phase v1.Phase) *v1.PaymentOrder {
	e.t.Helper()
	var o *v1.PaymentOrder
	testenv.Eventually(e.t, e2eTimeout, func() (bool, string) {
		o = e.get(name)
		return o.Status.Phase == phase, fmt.Sprintf("order %s is %q (conditions %+v), want %s", name, o.Status.Phase, o.Status.Conditions, phase)
	})
	return o
}

// openCheckout opens the payment URL as the customer's browser would; the gateway verifies its
// signature and opens the trade.
func (e *e2e) openCheckout(o *v1.PaymentOrder) fakegateway.Trade {
	e.t.Helper()
	if !strings.HasPrefix(o.Status.PaymentURL, e.gw.URL+"?") {
		e.t.Fatalf("paymentURL %q is not on the gateway %s", o.Status.PaymentURL, e.gw.URL)
	}
	resp, err := http.Get(o.Status.PaymentURL)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("gateway refused the checkout URL: HTTP %d", resp.StatusCode)
	}
	tr, ok := e.gw.Trade(o.Status.OutTradeNo)
	if !ok {
		e.t.Fatalf("gateway has no trade %s after checkout", o.Status.OutTradeNo)
	}
	return tr
}

// TestEndToEnd runs the manager on a real API server against the fake gateway: an alipay_page
// order gets its signed payment URL, refuses validly signed notifications for another amount or
// merchant, becomes Paid on the gateway's signed notification, and, on a provider whose
// notifications never arrive, becomes Paid through the signed query fallback.
func TestEndToEnd(t *testing.T) {
	env := testenv.Start(t)
	mgr, err := testfixture.StartManager(env, nil, nil)
	if err != nil {
		t.Fatalf("starting the kubepay manager: %v", err)
	}
	t.Cleanup(mgr.Stop)
	e := &e2e{t: t, env: env, ns: env.Namespace(t), gw: startGateway(t)}
	// Queries are 10 minutes away on this provider: only notifications can move its orders.
	e.createProvider("alipay", mgr.CallbackURL, 10*time.Minute)
	e.createOrder("tea", "alipay", "kp-alipay-e2e-0001")

	o := e.waitPhase("tea", v1.PhaseAwaitingPayment)
	if o.Status.OutTradeNo != "kp-alipay-e2e-0001" || o.Status.ProviderPaymentID != o.Status.OutTradeNo || o.Status.AmountMinor != 1050 {
		t.Fatalf("status after create: %+v", o.Status)
	}
	tr := e.openCheckout(o)
	wantNotify := mgr.CallbackURL + "/notify/" + e.ns + "/alipay"
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
		got := e.get("tea")
		if got.Status.Phase != v1.PhaseAwaitingPayment || got.Status.PaidAt != nil {
			t.Fatalf("%s: order moved to %s", tc.name, got.Status.Phase)
		}
		if c := meta.FindStatusCondition(got.Status.Conditions, webhook.ConditionNotificationRejected); c == nil || c.Status != metav1.ConditionTrue {
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
	o = e.waitPhase("tea", v1.PhasePaid)
	last := o.Status.History[len(o.Status.History)-1]
	if last.Source != v1.SourceNotification || o.Status.LastNotification == nil || o.Status.LastNotification.ID != paid.Get("notify_id") {
		t.Errorf("Paid not by the notification: last transition %+v, lastNotification %+v", last, o.Status.LastNotification)
	}
	if o.Status.PaidAmount != "10.50" || o.Status.PaidAt == nil {
		t.Errorf("paidAmount %q, paidAt %v", o.Status.PaidAmount, o.Status.PaidAt)
	}
	// Alipay retries until it reads "success": a redelivery is acknowledged without a write.
	rv := o.ResourceVersion
	status, body, err = fakegateway.Post(t.Context(), tr.NotifyURL, paid.Encode())
	if err != nil || status != http.StatusOK || body != "success" {
		t.Fatalf("redelivery answered %d %q %v, want 200 success", status, body, err)
	}
	if got := e.get("tea"); got.ResourceVersion != rv {
		t.Errorf("redelivery wrote the order (resourceVersion %s -> %s)", rv, got.ResourceVersion)
	}

	// No callback reaches this provider; its orders are settled by signed alipay.trade.query.
	e.createProvider("alipay-poll", "", 500*time.Millisecond)
	e.createOrder("coffee", "alipay-poll", "kp-alipay-e2e-0002")
	o = e.waitPhase("coffee", v1.PhaseAwaitingPayment)
	e.openCheckout(o)
	if _, err := e.gw.Pay(o.Status.OutTradeNo); err != nil {
		t.Fatal(err)
	}
	o = e.waitPhase("coffee", v1.PhasePaid)
	if last := o.Status.History[len(o.Status.History)-1]; last.Source != v1.SourceQuery {
		t.Errorf("coffee became Paid by %s, want query", last.Source)
	}
	if e.gw.Calls("alipay.trade.query") == 0 || e.gw.Rejected() != 0 {
		t.Errorf("gateway answered %d queries and rejected %d requests", e.gw.Calls("alipay.trade.query"), e.gw.Rejected())
	}
}
