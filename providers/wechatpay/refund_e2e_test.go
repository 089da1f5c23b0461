package wechatpay_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/testenv"
	"github.com/kubepay/kubepay/providers/internal/providertest"
	"github.com/kubepay/kubepay/providers/wechatpay/internal/fakegateway"
)

// refundE2E is a subtest's fake WeChat Pay, delivering the notifications it sends of its own
// accord (refund results) to their notify_url, on the shared control plane and manager.
func refundE2E(t *testing.T, base *providertest.E2E) *e2e {
	gw := fakegateway.New(testAppID, testMchID)
	gw.Start(t)
	gw.DeliverNotifications(t)
	return &e2e{E2E: base.In(t), gw: gw}
}

// notifyURL is where the callback server takes the notifications of PaymentProvider provider.
func (e *e2e) notifyURL(provider string) string {
	return e.Manager.CallbackURL + "/notify/" + e.NS + "/" + provider
}

// paidOrder creates a 10.50 order on provider, pays it at the gateway and waits until it is
// Paid: by the signed TRANSACTION.SUCCESS posted to the callback server when byNotification, by
// the controller's query otherwise.
func (e *e2e) paidOrder(name, provider, orderID string, byNotification bool) *v1.PaymentOrder {
	e.T.Helper()
	e.createOrder(name, provider, orderID)
	o := e.WaitPhase(name, v1.PhaseAwaitingPayment)
	if _, err := e.gw.Pay(o.Status.OutTradeNo); err != nil {
		e.T.Fatalf("paying order %s (%s) at the gateway: %v", name, o.Status.OutTradeNo, err)
	}
	if byNotification {
		h, body, err := e.gw.Notification(o.Status.OutTradeNo, nil)
		if err != nil {
			e.T.Fatal(err)
		}
		if status, answer, err := fakegateway.Post(e.T.Context(), e.notifyURL(provider), h, body); err != nil || status != http.StatusNoContent {
			e.T.Fatalf("TRANSACTION.SUCCESS for order %s answered %d %q %v, want 204", name, status, answer, err)
		}
	}
	return e.WaitPhase(name, v1.PhasePaid)
}

// processing creates the PaymentRefund name of amount on order and waits until WeChat Pay has
// accepted it (PROCESSING): the refund is Processing with WeChat Pay's refund_id, and its amount
// is reserved on the order, which is not counted as refunded yet. It returns the refund.
func (e *e2e) processing(name, order, amount string, amountMinor int64) *v1.PaymentRefund {
	e.T.Helper()
	e.CreateRefund(name, order, amount, "")
	r := e.WaitRefund(name, v1.RefundProcessing)
	held, ok := e.gw.Refund(r.Status.OutRefundNo)
	if !ok || held.Status != fakegateway.RefundProcessing || held.Amount != amountMinor || r.Status.ProviderRefundID != held.RefundID ||
		r.Status.AmountMinor != amountMinor || r.Status.Currency != "CNY" {
		e.T.Fatalf("PaymentRefund %s is Processing with status %+v; the gateway holds %+v (found %v), want its PROCESSING refund of %d fen",
			name, r.Status, held, ok, amountMinor)
	}
	o := e.Get(order)
	if res, ok := providertest.Reservation(o, name); !ok || res.State != v1.RefundReserved || res.AmountMinor != amountMinor || res.OutRefundNo != r.Status.OutRefundNo {
		e.T.Fatalf("order %s has ledger %+v while PaymentRefund %s is in flight, want %d reserved under %s", order, o.Status.Refunds, name, amountMinor, r.Status.OutRefundNo)
	}
	return r
}

// checkStats fails unless the gateway executed each refund number exactly once, was asked for
// each exactly once and for nothing else, and refunded refundedFen in all, never more than the
// order's total.
func (e *e2e) checkStats(outTradeNo string, refundedFen int64, numbers ...string) {
	e.T.Helper()
	st := e.gw.RefundStats(outTradeNo)
	for _, no := range numbers {
		if st.Executions[no] != 1 || st.Requests[no] != 1 {
			e.T.Errorf("gateway: refund %s of %s executed %d times on %d requests, want once on one", no, outTradeNo, st.Executions[no], st.Requests[no])
		}
	}
	if len(st.Executions) != len(numbers) || st.RefundedFen != refundedFen || st.RefundedFen > st.TotalFen {
		e.T.Errorf("gateway: order %s has refunds %v totalling %d of %d fen, want %d in %d refunds", outTradeNo, st.Executions, st.RefundedFen, st.TotalFen, refundedFen, len(numbers))
	}
	if n := e.gw.Calls("refund"); n != len(numbers) {
		e.T.Errorf("gateway answered %d refund requests, want %d: one per refund, none for a refund kubepay refused itself", n, len(numbers))
	}
	if n := e.gw.Rejected(); n != 0 {
		e.T.Errorf("gateway refused %d requests for their signature", n)
	}
}

// TestRefundEndToEnd runs WeChat Pay refunds through the kubepay manager on a real API server
// against the fake WeChat Pay: each refund is accepted PROCESSING with its amount reserved on the
// order, settled by the signed REFUND.SUCCESS notification (or, when notifications are lost, by
// the controller's refund query), and counted on the order once: Paid -> PartiallyRefunded ->
// Refunded, each refund number executed once at the gateway and never more than was paid.
func TestRefundEndToEnd(t *testing.T) {
	base := providertest.StartE2E(t)

	t.Run("settled by REFUND.SUCCESS notifications", func(t *testing.T) {
		e := refundE2E(t, base)
		// Queries are 10 minutes away on this provider: only notifications can settle its refunds.
		e.createProvider("wx-notify", e.Manager.CallbackURL, 10*time.Minute)
		o := e.paidOrder("tea", "wx-notify", "kp-wx-refund-0001", true)

		r := e.processing("tea-part", "tea", "4.00", 400)
		if held, _ := e.gw.Refund(r.Status.OutRefundNo); held.NotifyURL != e.notifyURL("wx-notify") {
			t.Errorf("gateway got refund notify_url %q, want %q", held.NotifyURL, e.notifyURL("wx-notify"))
		}
		if err := e.gw.CompleteRefund(r.Status.OutRefundNo, fakegateway.RefundSuccess); err != nil {
			t.Fatal(err)
		}
		r = e.WaitRefund("tea-part", v1.RefundSucceeded)
		last := providertest.LastRefundTransition(r)
		if last.Source != v1.SourceNotification || r.Status.LastNotification == nil || last.NotificationID != r.Status.LastNotification.ID ||
			r.Status.LastNotification.Type != "REFUND.SUCCESS" || r.Status.RefundedAt == nil {
			t.Errorf("tea-part Succeeded not by REFUND.SUCCESS: last transition %+v, lastNotification %+v, refundedAt %v", last, r.Status.LastNotification, r.Status.RefundedAt)
		}
		e.WaitRefunded("tea", v1.PhasePartiallyRefunded, "4.00")
		testenv.Eventually(t, providertest.E2ETimeout, func() (bool, string) {
			d := e.gw.Deliveries()
			return len(d) == 1 && d[0].Err == nil && d[0].StatusCode == http.StatusNoContent,
				fmt.Sprintf("gateway deliveries %+v, want REFUND.SUCCESS answered 204", d)
		})

		// WeChat Pay retries until it gets a 2xx: a redelivery is acknowledged without a write.
		sent := e.gw.Outbox()[0]
		if status, answer, err := fakegateway.Post(t.Context(), sent.NotifyURL, sent.Header, sent.Body); err != nil || status != http.StatusNoContent {
			t.Fatalf("redelivered REFUND.SUCCESS answered %d %q %v, want 204", status, answer, err)
		}
		if got := e.Refund("tea-part"); got.ResourceVersion != r.ResourceVersion {
			t.Errorf("redelivered REFUND.SUCCESS wrote PaymentRefund tea-part (resourceVersion %s -> %s)", r.ResourceVersion, got.ResourceVersion)
		}

		// 6.50 is left: kubepay refuses 7.00 itself and WeChat Pay never hears of it.
		e.CreateRefund("tea-too-much", "tea", "7.00", "")
		if over := e.WaitRefund("tea-too-much", v1.RefundFailed); providertest.LastRefundTransition(over).Reason != v1.ReasonExceedsRefundable {
			t.Errorf("a refund of 7.00 of the 6.50 left failed with %+v, want %s", providertest.LastRefundTransition(over), v1.ReasonExceedsRefundable)
		}

		rest := e.processing("tea-rest", "tea", "6.50", 650)
		if err := e.gw.CompleteRefund(rest.Status.OutRefundNo, fakegateway.RefundSuccess); err != nil {
			t.Fatal(err)
		}
		if rest = e.WaitRefund("tea-rest", v1.RefundSucceeded); providertest.LastRefundTransition(rest).Source != v1.SourceNotification {
			t.Errorf("tea-rest Succeeded by %s, want by notification", providertest.LastRefundTransition(rest).Source)
		}
		if got := e.WaitRefunded("tea", v1.PhaseRefunded, "10.50"); got.Status.RefundedAmountMinor != 1050 {
			t.Errorf("order tea refundedAmountMinor %d, want 1050", got.Status.RefundedAmountMinor)
		}
		e.checkStats(o.Status.OutTradeNo, 1050, r.Status.OutRefundNo, rest.Status.OutRefundNo)
	})

	t.Run("notifications lost, settled by refund query", func(t *testing.T) {
		e := refundE2E(t, base)
		// The gateway sends every refund notification to a closed port; the controller queries
		// every half second.
		e.createProvider("wx-poll", "http://127.0.0.1:1", 500*time.Millisecond)
		o := e.paidOrder("coffee", "wx-poll", "kp-wx-refund-0002", false)
		var numbers []string
		for _, step := range []struct {
			name, amount string
			minor        int64
			phase        v1.Phase
			refunded     string
		}{
			{"coffee-part", "4.00", 400, v1.PhasePartiallyRefunded, "4.00"},
			{"coffee-rest", "6.50", 650, v1.PhaseRefunded, "10.50"},
		} {
			r := e.processing(step.name, "coffee", step.amount, step.minor)
			if err := e.gw.CompleteRefund(r.Status.OutRefundNo, fakegateway.RefundSuccess); err != nil {
				t.Fatal(err)
			}
			r = e.WaitRefund(step.name, v1.RefundSucceeded)
			if last := providertest.LastRefundTransition(r); last.Source != v1.SourceQuery || r.Status.LastNotification != nil {
				t.Errorf("%s Succeeded by %s (lastNotification %+v), want by query: its notification was lost", step.name, last.Source, r.Status.LastNotification)
			}
			e.WaitRefunded("coffee", step.phase, step.refunded)
			numbers = append(numbers, r.Status.OutRefundNo)
		}
		testenv.Eventually(t, providertest.E2ETimeout, func() (bool, string) {
			d := e.gw.Deliveries()
			return len(d) == 2 && d[0].Err != nil && d[1].Err != nil, fmt.Sprintf("gateway deliveries %+v, want both REFUND.SUCCESS lost", d)
		})
		if e.gw.Calls("refund_query") == 0 {
			t.Error("the gateway answered no refund query")
		}
		e.checkStats(o.Status.OutTradeNo, 1050, numbers...)
	})

	t.Run("CLOSED fails and frees the amount", func(t *testing.T) {
		e := refundE2E(t, base)
		e.createProvider("wx-closed", e.Manager.CallbackURL, 10*time.Minute)
		o := e.paidOrder("juice", "wx-closed", "kp-wx-refund-0004", true)
		r := e.processing("juice-part", "juice", "4.00", 400)
		if err := e.gw.CompleteRefund(r.Status.OutRefundNo, fakegateway.RefundClosed); err != nil {
			t.Fatal(err)
		}
		r = e.WaitRefund("juice-part", v1.RefundFailed)
		if last := providertest.LastRefundTransition(r); last.Source != v1.SourceNotification || last.Reason != v1.ReasonRefundFailed || r.Status.RefundedAt != nil {
			t.Errorf("juice-part Failed through %+v (refundedAt %v), want by the REFUND.CLOSED notification, %s", last, r.Status.RefundedAt, v1.ReasonRefundFailed)
		}
		// CLOSED moved no money: kubepay releases the reservation, as WeChat Pay frees the amount,
		// and the whole payment can then be refunded.
		testenv.Eventually(t, providertest.E2ETimeout, func() (bool, string) {
			got := e.Get("juice")
			return got.Status.Phase == v1.PhasePaid && len(got.Status.Refunds) == 0,
				fmt.Sprintf("order juice is %s with ledger %+v after its refund was CLOSED, want Paid and nothing held", got.Status.Phase, got.Status.Refunds)
		})
		all := e.processing("juice-all", "juice", "10.50", 1050)
		if err := e.gw.CompleteRefund(all.Status.OutRefundNo, fakegateway.RefundSuccess); err != nil {
			t.Fatal(err)
		}
		e.WaitRefund("juice-all", v1.RefundSucceeded)
		e.WaitRefunded("juice", v1.PhaseRefunded, "10.50")
		e.checkStats(o.Status.OutTradeNo, 1050, r.Status.OutRefundNo, all.Status.OutRefundNo)
	})

	// ABNORMAL: WeChat Pay took the money from the merchant's balance but could not give it to
	// the customer; a person must act at WeChat Pay. The refund must stay in flight, marked.
	abnormal := []struct {
		name, why  string
		queryEvery time.Duration
	}{
		{"ABNORMAL found by the refund query", "the controller queries every half second and reads ABNORMAL in the answer", 500 * time.Millisecond},
		{"ABNORMAL told by notification alone", "queries are 10 minutes away: the verified REFUND.ABNORMAL notification, acknowledged with 204, is all kubepay hears for now", 10 * time.Minute},
	}
	for i, tc := range abnormal {
		t.Run(tc.name, func(t *testing.T) {
			e := refundE2E(t, base)
			provider := fmt.Sprintf("wx-abnormal-%d", i)
			e.createProvider(provider, e.Manager.CallbackURL, tc.queryEvery)
			order, part, tooMuch := fmt.Sprintf("cake-%d", i), fmt.Sprintf("cake-%d-part", i), fmt.Sprintf("cake-%d-too-much", i)
			o := e.paidOrder(order, provider, fmt.Sprintf("kp-wx-abnormal-%04d", i), true)
			r := e.processing(part, order, "4.00", 400)
			if err := e.gw.CompleteRefund(r.Status.OutRefundNo, fakegateway.RefundAbnormal); err != nil {
				t.Fatal(err)
			}
			testenv.Eventually(t, providertest.E2ETimeout, func() (bool, string) {
				d := e.gw.Deliveries()
				return len(d) == 1 && d[0].StatusCode == http.StatusNoContent, fmt.Sprintf("gateway deliveries %+v, want REFUND.ABNORMAL answered 204", d)
			})
			testenv.Eventually(t, providertest.E2ETimeout, func() (bool, string) {
				got := e.Refund(part)
				c := meta.FindStatusCondition(got.Status.Conditions, v1.ConditionReady)
				return c != nil && c.Status == metav1.ConditionFalse && c.Reason == v1.ReasonRefundAbnormal,
					fmt.Sprintf("%s: PaymentRefund %s is %s with conditions %+v, want Ready=False %s", tc.why, part, got.Status.Phase, got.Status.Conditions, v1.ReasonRefundAbnormal)
			})
			// The money left the merchant's balance at WeChat Pay: the refund stays in flight and
			// its reservation holds, so the amount can be neither refunded again nor counted yet.
			got, ledger := e.Refund(part), e.Get(order)
			res, _ := providertest.Reservation(ledger, part)
			if got.Status.Phase != v1.RefundProcessing || got.Status.RefundedAt != nil {
				t.Errorf("ABNORMAL refund %s is %s (refundedAt %v), want Processing", part, got.Status.Phase, got.Status.RefundedAt)
			}
			if ledger.Status.Phase != v1.PhasePaid || ledger.Status.RefundedAmountMinor != 0 || res.State != v1.RefundReserved || res.AmountMinor != 400 {
				t.Errorf("order %s is %s refunded %d with reservation %+v while its refund is ABNORMAL, want Paid, 0 and 400 reserved", order, ledger.Status.Phase, ledger.Status.RefundedAmountMinor, res)
			}
			e.CreateRefund(tooMuch, order, "7.00", "")
			if over := e.WaitRefund(tooMuch, v1.RefundFailed); providertest.LastRefundTransition(over).Reason != v1.ReasonExceedsRefundable {
				t.Errorf("with 4.00 held by the ABNORMAL refund, 7.00 of 10.50 failed with %+v, want %s", providertest.LastRefundTransition(over), v1.ReasonExceedsRefundable)
			}

			// A person sends the money on at WeChat Pay: the refund succeeds and is counted.
			if err := e.gw.CompleteRefund(r.Status.OutRefundNo, fakegateway.RefundSuccess); err != nil {
				t.Fatal(err)
			}
			got = e.WaitRefund(part, v1.RefundSucceeded)
			if c := meta.FindStatusCondition(got.Status.Conditions, v1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue || c.Reason != v1.ReasonRefunded {
				t.Errorf("succeeded refund %s has Ready %+v, want True %s", part, c, v1.ReasonRefunded)
			}
			e.WaitRefunded(order, v1.PhasePartiallyRefunded, "4.00")
			e.checkStats(o.Status.OutTradeNo, 400, r.Status.OutRefundNo)
		})
	}
}
