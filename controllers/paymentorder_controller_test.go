package controllers_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/testenv"
	"github.com/kubepay/kubepay/internal/testfixture"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
	"github.com/kubepay/kubepay/providers/sandbox/gatewaytest"
)

func TestCreateReachesAwaitingPaymentWithWorkingCheckoutURL(t *testing.T) {
	f := testfixture.New(t, env, gateway.Options{}, testfixture.Provider{})
	f.Order("coffee", "25.00", "CNY", 30*time.Minute)
	o := f.WaitPhase("coffee", v1.PhaseAwaitingPayment, 30*time.Second)

	if !controllersContainsFinalizer(o) {
		t.Errorf("finalizer %s missing: %v", v1.Finalizer, o.Finalizers)
	}
	if o.Status.AmountMinor != 2500 || o.Status.OutTradeNo == "" || len(o.Status.OutTradeNo) > 32 || o.Status.ExpiresAt == nil || o.Status.ProviderPaymentID == "" {
		t.Errorf("status not initialised: %+v", o.Status)
	}
	if want := o.CreationTimestamp.Add(30 * time.Minute); !o.Status.ExpiresAt.Time.Equal(want) {
		t.Errorf("expiresAt %v, want creation + 30m = %v", o.Status.ExpiresAt, want)
	}
	if c := meta.FindStatusCondition(o.Status.Conditions, v1.ConditionReady); c == nil || c.Status != "True" || c.Reason != v1.ReasonAwaitingPayment {
		t.Errorf("Ready condition %+v, want True/AwaitingPayment", c)
	}
	if o.Status.ObservedGeneration != o.Generation {
		t.Errorf("observedGeneration %d, generation %d", o.Status.ObservedGeneration, o.Generation)
	}
	if n := len(o.Status.History); n != 2 || o.Status.History[1].To != v1.PhaseAwaitingPayment {
		t.Errorf("history %+v, want (new)->Pending->AwaitingPayment", o.Status.History)
	}
	resp, err := http.Get(o.Status.PaymentURL)
	if err != nil {
		t.Fatalf("checkout URL %s: %v", o.Status.PaymentURL, err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "test coffee") || !strings.Contains(string(page), "25.00") {
		t.Errorf("checkout page HTTP %d does not show the order:\n%s", resp.StatusCode, page)
	}
	if s := f.GW.Stats(); s.PaymentsByOutTradeNo[o.Status.OutTradeNo] != 1 {
		t.Errorf("gateway has %d payments for %s, want 1", s.PaymentsByOutTradeNo[o.Status.OutTradeNo], o.Status.OutTradeNo)
	}
	waitEvent(t, f.NS, "coffee", v1.ReasonAwaitingPayment)
}

func TestQueryFallbackCatchesLostNotification(t *testing.T) {
	// Every notification attempt is dropped: only the controller's query can find the payment.
	f := testfixture.New(t, env, gateway.Options{DropFirst: 1000, TimeScale: 0.0001}, testfixture.Provider{})
	f.Order("lost", "9.99", "USD", 30*time.Minute)
	o := f.WaitPhase("lost", v1.PhaseAwaitingPayment, 30*time.Second)
	f.Pay(o.Status.ProviderPaymentID, "succeeded")

	o = f.WaitPhase("lost", v1.PhasePaid, 30*time.Second)
	last := o.Status.History[len(o.Status.History)-1]
	if last.Source != v1.SourceQuery || o.Status.PaidAt == nil || o.Status.PaidAmount != "9.99" {
		t.Errorf("paid by %s with paidAt=%v paidAmount=%q; want source query, paidAt set, 9.99", last.Source, o.Status.PaidAt, o.Status.PaidAmount)
	}
	for _, d := range f.GW.Stats().DeliveriesFor(o.Status.OutTradeNo) {
		if d.Acked {
			t.Errorf("delivery %s was acked; the test meant every notification to be lost", d.EventID)
		}
	}
}

func TestExpiryClosesAtGateway(t *testing.T) {
	f := testfixture.New(t, env, gateway.Options{}, testfixture.Provider{})
	f.Order("unpaid", "1500", "JPY", 3*time.Second)
	o := f.WaitPhase("unpaid", v1.PhaseExpired, 30*time.Second)
	p := queryGateway(t, f, o.Status.ProviderPaymentID)
	if p["status"] != "closed" {
		t.Errorf("gateway payment %s is %v, want closed", o.Status.ProviderPaymentID, p["status"])
	}
	if o.Status.PaidAt != nil {
		t.Error("expired order has paidAt")
	}
	waitEvent(t, f.NS, "unpaid", v1.ReasonExpired)
}

func TestDeleteUnpaidClosesAtGateway(t *testing.T) {
	f := testfixture.New(t, env, gateway.Options{}, testfixture.Provider{})
	f.Order("abandoned", "5.00", "EUR", 30*time.Minute)
	o := f.WaitPhase("abandoned", v1.PhaseAwaitingPayment, 30*time.Second)
	if err := env.Client.Delete(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(o), &v1.PaymentOrder{})
		return apierrors.IsNotFound(err), fmt.Sprintf("order still there (err %v)", err)
	})
	if p := queryGateway(t, f, o.Status.ProviderPaymentID); p["status"] != "closed" {
		t.Errorf("gateway payment of the deleted order is %v, want closed", p["status"])
	}
}

func TestDeletePaidOrderDoesNotWait(t *testing.T) {
	f := testfixture.New(t, env, gateway.Options{DropFirst: 1000}, testfixture.Provider{})
	f.Order("paid-then-deleted", "5.00", "EUR", 30*time.Minute)
	o := f.WaitPhase("paid-then-deleted", v1.PhaseAwaitingPayment, 30*time.Second)
	f.Pay(o.Status.ProviderPaymentID, "succeeded")
	o = f.WaitPhase("paid-then-deleted", v1.PhasePaid, 30*time.Second)
	// Stop the gateway: deleting a paid order must not need the provider.
	if err := f.GW.Close(); err != nil {
		t.Fatalf("stopping the gateway: %v", err)
	}
	if err := env.Client.Delete(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(o), &v1.PaymentOrder{})
		return apierrors.IsNotFound(err), "paid order not yet gone"
	})
}

func TestProviderMissingThenCreated(t *testing.T) {
	gw, srv := gatewaytest.StartTest(t, gateway.Options{})
	f := &testfixture.Fixture{T: t, Env: env, NS: env.Namespace(t), GW: gw, URL: srv.URL}
	f.Order("early", "1.00", "CNY", 30*time.Minute)
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		o := f.Get("early")
		c := meta.FindStatusCondition(o.Status.Conditions, v1.ConditionReady)
		// Uninitialised: the out_trade_no depends on the provider's outTradeNoPrefix.
		return o.Status.Phase == "" && c != nil && c.Reason == v1.ReasonProviderNotFound,
			fmt.Sprintf("phase %q condition %+v, want no phase yet and ProviderNotFound", o.Status.Phase, c)
	})
	waitEvent(t, f.NS, "early", v1.ReasonProviderNotFound)
	f.CreateSecret(gatewaytest.Secret(gw, gatewaytest.APIKey))
	f.CreateProvider("sandbox", srv.URL, testfixture.Provider{})
	f.WaitPhase("early", v1.PhaseAwaitingPayment, 30*time.Second)
}

func TestGatewayDownThenUpCreatesOnePayment(t *testing.T) {
	addr := freePort(t)
	gw, err := gateway.New(gateway.Options{APIKeys: []string{gatewaytest.APIKey}, SigningKey: gatewaytest.SigningKey(), PublicBaseURL: "http://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Close() }) // the test's verdict is in; a close error changes nothing
	f := &testfixture.Fixture{T: t, Env: env, NS: env.Namespace(t), GW: gw, URL: "http://" + addr}
	f.CreateSecret(gatewaytest.Secret(gw, gatewaytest.APIKey))
	f.CreateProvider("sandbox", f.URL, testfixture.Provider{})
	f.Order("outage", "3.00", "CNY", 30*time.Minute)
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		c := meta.FindStatusCondition(f.Get("outage").Status.Conditions, v1.ConditionReady)
		return c != nil && c.Reason == v1.ReasonProviderError, fmt.Sprintf("condition %+v, want ProviderError while the gateway is down", c)
	})
	if o := f.Get("outage"); o.Status.Phase != v1.PhasePending {
		t.Fatalf("order is %s during the outage, want Pending (waiting, not failed)", o.Status.Phase)
	}

	srv := &http.Server{Addr: addr, Handler: gw.Handler()}
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("the gateway coming back up failed to serve: %v", err)
		}
	})
	o := f.WaitPhase("outage", v1.PhaseAwaitingPayment, 2*time.Minute)
	if s := gw.Stats(); s.PaymentsTotal != 1 || s.PaymentsByOutTradeNo[o.Status.OutTradeNo] != 1 {
		t.Errorf("gateway has %d payments (%v), want exactly 1", s.PaymentsTotal, s.PaymentsByOutTradeNo)
	}
}

// TestCrashBetweenCreateAndStatusWrite loses the status write that follows a successful provider
// create, as a manager killed at that moment would: the retry must find the same payment.
func TestCrashBetweenCreateAndStatusWrite(t *testing.T) {
	f := testfixture.New(t, env, gateway.Options{}, testfixture.Provider{})
	faults.FailStatusWrites(client.ObjectKey{Namespace: f.NS, Name: "crashy"}, 1)
	f.Order("crashy", "7.00", "CNY", 30*time.Minute)
	o := f.WaitPhase("crashy", v1.PhaseAwaitingPayment, 60*time.Second)
	s := f.GW.Stats()
	if s.PaymentsTotal != 1 || s.PaymentsByOutTradeNo[o.Status.OutTradeNo] != 1 {
		t.Errorf("gateway has %d payments (%v), want exactly 1", s.PaymentsTotal, s.PaymentsByOutTradeNo)
	}
	if s.CreateReplaysTotal < 1 {
		t.Errorf("create was not repeated (replays %d): the fault did not hit between create and status write", s.CreateReplaysTotal)
	}
}

func TestTwoHundredOrdersAtOnce(t *testing.T) {
	const n = 200
	f := testfixture.New(t, env, gateway.Options{}, testfixture.Provider{})
	start := time.Now()
	errs := make(chan error, n)
	for i := range n {
		go func() {
			o := &v1.PaymentOrder{}
			o.Namespace, o.Name = f.NS, fmt.Sprintf("bulk-%03d", i)
			o.Spec = v1.PaymentOrderSpec{ProviderRef: v1.ProviderReference{Name: "sandbox"}, Amount: "1.00", Currency: "CNY", Channel: "sandbox", Subject: "bulk"}
			errs <- env.Client.Create(t.Context(), o)
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 3*time.Minute, func() (bool, string) {
		list := &v1.PaymentOrderList{}
		if err := env.Client.List(t.Context(), list, client.InNamespace(f.NS)); err != nil {
			return false, err.Error()
		}
		awaiting := 0
		for _, o := range list.Items {
			if o.Status.Phase == v1.PhaseAwaitingPayment {
				awaiting++
			}
		}
		return awaiting == n, fmt.Sprintf("%d of %d orders AwaitingPayment", awaiting, n)
	})
	t.Logf("%d orders reached AwaitingPayment in %v", n, time.Since(start))
	s := f.GW.Stats()
	if s.PaymentsTotal != n || len(s.PaymentsByOutTradeNo) != n {
		t.Errorf("gateway has %d payments for %d out_trade_nos, want exactly %d", s.PaymentsTotal, len(s.PaymentsByOutTradeNo), n)
	}
}

func controllersContainsFinalizer(o *v1.PaymentOrder) bool {
	for _, f := range o.Finalizers {
		if f == v1.Finalizer {
			return true
		}
	}
	return false
}

// TestTerminalProviderErrorFailsOrder: a create the provider refuses for good (here the merchant
// reference was already used for a different payment: 409) makes the order Failed with the
// reason, instead of retrying forever.
func TestTerminalProviderErrorFailsOrder(t *testing.T) {
	f := testfixture.New(t, env, gateway.Options{}, testfixture.Provider{})
	// Someone else already used out_trade_no TAKEN-0001 for another amount at the gateway.
	body := `{"out_trade_no":"TAKEN-0001","amount":1,"currency":"CNY","subject":"other","channel":"sandbox","notify_url":"http://127.0.0.1:1/"}`
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, f.URL+"/v1/payments", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+gatewaytest.APIKey)
	req.Header.Set("Idempotency-Key", "TAKEN-0001")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("seeding the gateway: HTTP %d", resp.StatusCode)
	}

	o := &v1.PaymentOrder{}
	o.Namespace, o.Name = f.NS, "taken"
	o.Spec = v1.PaymentOrderSpec{ProviderRef: v1.ProviderReference{Name: "sandbox"}, Amount: "9.00", Currency: "CNY",
		Channel: "sandbox", Subject: "mine", OrderID: "TAKEN-0001"}
	if err := env.Client.Create(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	o = f.WaitPhase("taken", v1.PhaseFailed, 30*time.Second)
	c := meta.FindStatusCondition(o.Status.Conditions, v1.ConditionReady)
	last := o.Status.History[len(o.Status.History)-1]
	if c == nil || c.Status != "False" || last.Reason != "ProviderRejected" || !strings.Contains(c.Message, "idempotency_conflict") {
		t.Errorf("Failed without the provider's reason: condition %+v, last history %+v", c, last)
	}
	if s := f.GW.Stats(); s.PaymentsByOutTradeNo["TAKEN-0001"] != 1 {
		t.Errorf("gateway has %d payments for TAKEN-0001, want only the other merchant's 1", s.PaymentsByOutTradeNo["TAKEN-0001"])
	}
	waitEvent(t, f.NS, "taken", "ProviderRejected")
}
