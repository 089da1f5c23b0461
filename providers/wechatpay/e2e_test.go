package wechatpay_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/providers/internal/providertest"
	"github.com/kubepay/kubepay/providers/wechatpay/internal/fakegateway"
)

// e2e is one namespace on a real control plane with the kubepay manager and a fake WeChat Pay.
type e2e struct {
	*providertest.E2E
	gw *fakegateway.Gateway
}

// createProvider makes the labelled Secret and a wechatpay PaymentProvider on the fake API;
// queryEvery is the fallback polling interval.
func (e *e2e) createProvider(name, callbackBaseURL string, queryEvery time.Duration) {
	e.T.Helper()
	e.CreateProvider(name, fakegateway.Secret(), v1.PaymentProviderSpec{
		Type: v1.ProviderWeChatPay, Endpoint: e.gw.URL, AppID: testAppID, MerchantID: testMchID,
		CallbackBaseURL: callbackBaseURL, Query: providertest.QueryEvery(queryEvery),
	})
}

func (e *e2e) createOrder(name, provider, orderID string) {
	e.T.Helper()
	e.CreateOrder(name, v1.PaymentOrderSpec{
		ProviderRef: v1.ProviderReference{Name: provider}, Amount: "10.50", Currency: "CNY",
		Channel: "wechat_native", Subject: "green tea", OrderID: orderID,
		ExpiresAfter: &metav1.Duration{Duration: 30 * time.Minute},
	})
}

// TestEndToEnd runs the manager on a real API server against the fake WeChat Pay: a
// wechat_native order gets its code_url, refuses validly signed notifications for another
// amount, merchant or app, becomes Paid on the signed TRANSACTION.SUCCESS notification, and, on
// a provider whose notifications never arrive, becomes Paid through the signed query fallback.
func TestEndToEnd(t *testing.T) {
	e := &e2e{E2E: providertest.StartE2E(t)}
	gw := fakegateway.New(testAppID, testMchID)
	gw.Start(t)
	e.gw = gw
	// Queries are 10 minutes away on this provider: only notifications can move its orders.
	e.createProvider("wechatpay", e.Manager.CallbackURL, 10*time.Minute)
	e.createOrder("tea", "wechatpay", "kp-wechat-e2e-0001")

	o := e.WaitPhase("tea", v1.PhaseAwaitingPayment)
	gwOrder, ok := gw.Order("kp-wechat-e2e-0001")
	if !ok || o.Status.PaymentURL != gwOrder.PayURL || o.Status.ProviderPaymentID != o.Status.OutTradeNo || gwOrder.Total != 1050 {
		t.Fatalf("status %+v, gateway order %+v", o.Status, gwOrder)
	}
	wantNotify := e.Manager.CallbackURL + "/notify/" + e.NS + "/wechatpay"
	if gwOrder.NotifyURL != wantNotify {
		t.Fatalf("gateway got notify_url %q, want %q", gwOrder.NotifyURL, wantNotify)
	}
	if _, err := gw.Pay(o.Status.OutTradeNo); err != nil {
		t.Fatal(err)
	}

	refused := []struct {
		name, why string
		mutate    func(map[string]any)
	}{
		{"amount mismatch", "a validly signed notification for 0.01 must not pay a 10.50 order", func(tx map[string]any) {
			tx["amount"] = map[string]any{"total": 1, "currency": "CNY", "payer_total": 1, "payer_currency": "CNY"}
		}},
		{"other merchant", "a validly signed notification for another mchid must not pay it", func(tx map[string]any) { tx["mchid"] = "1900000109" }},
		{"other app", "nor one for another appid", func(tx map[string]any) { tx["appid"] = "wx8888888888888888" }},
	}
	for _, tc := range refused {
		h, body, err := gw.Notification(o.Status.OutTradeNo, tc.mutate)
		if err != nil {
			t.Fatal(err)
		}
		status, answer, err := fakegateway.Post(t.Context(), wantNotify, h, body)
		if err != nil {
			t.Fatal(err)
		}
		var a struct{ Code string }
		if status < 400 || json.Unmarshal([]byte(answer), &a) != nil || a.Code != "FAIL" {
			t.Errorf("%s: %s: callback answered %d %q, want a FAIL answer", tc.name, tc.why, status, answer)
		}
		got := e.Get("tea")
		if got.Status.Phase != v1.PhaseAwaitingPayment || got.Status.PaidAt != nil {
			t.Fatalf("%s: order moved to %s", tc.name, got.Status.Phase)
		}
		if c := meta.FindStatusCondition(got.Status.Conditions, v1.ConditionNotificationRejected); c == nil || c.Status != metav1.ConditionTrue {
			t.Errorf("%s: no NotificationRejected condition: %+v", tc.name, got.Status.Conditions)
		}
	}

	h, body, err := gw.Notification(o.Status.OutTradeNo, nil)
	if err != nil {
		t.Fatal(err)
	}
	status, answer, err := fakegateway.Post(t.Context(), wantNotify, h, body)
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusNoContent || answer != "" {
		t.Fatalf("paid notification answered %d %q, want 204", status, answer)
	}
	o = e.WaitPhase("tea", v1.PhasePaid)
	var ev struct{ ID string }
	_ = json.Unmarshal(body, &ev)
	last := o.Status.History[len(o.Status.History)-1]
	if last.Source != v1.SourceNotification || o.Status.LastNotification == nil || o.Status.LastNotification.ID != ev.ID {
		t.Errorf("Paid not by the notification: last transition %+v, lastNotification %+v", last, o.Status.LastNotification)
	}
	if o.Status.PaidAmount != "10.50" || o.Status.PaidAt == nil {
		t.Errorf("paidAmount %q, paidAt %v", o.Status.PaidAmount, o.Status.PaidAt)
	}
	// WeChat Pay retries until it gets a 2xx: a redelivery is acknowledged without a write.
	rv := e.WaitSettled("tea").ResourceVersion
	status, _, err = fakegateway.Post(t.Context(), wantNotify, h, body)
	if err != nil || status != http.StatusNoContent {
		t.Fatalf("redelivery answered %d %v, want 204", status, err)
	}
	if got := e.Get("tea"); got.ResourceVersion != rv {
		t.Errorf("redelivery wrote the order (resourceVersion %s -> %s)", rv, got.ResourceVersion)
	}

	// Notifications for this provider go to a closed port; its orders are settled by signed queries.
	e.createProvider("wechatpay-poll", "http://127.0.0.1:1", 500*time.Millisecond)
	e.createOrder("coffee", "wechatpay-poll", "kp-wechat-e2e-0002")
	o = e.WaitPhase("coffee", v1.PhaseAwaitingPayment)
	if _, err := gw.Pay(o.Status.OutTradeNo); err != nil {
		t.Fatal(err)
	}
	o = e.WaitPhase("coffee", v1.PhasePaid)
	if last := o.Status.History[len(o.Status.History)-1]; last.Source != v1.SourceQuery {
		t.Errorf("coffee became Paid by %s, want query", last.Source)
	}
	if gw.Calls("query") == 0 || gw.Rejected() != 0 {
		t.Errorf("gateway answered %d queries and rejected %d requests", gw.Calls("query"), gw.Rejected())
	}
}
