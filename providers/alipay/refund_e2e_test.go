package alipay_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/providers/alipay/internal/fakegateway"
	"github.com/kubepay/kubepay/providers/internal/providertest"
)

// unconfirmed makes Alipay's answer to the next refund unconfirmed: alipay.trade.refund moves the
// money but answers fund_change N (as Alipay may while its refund query lags), and the refund
// query the client then makes fails. The client reports the refund Processing, to be settled by
// the trade notification or a later refund query.
var unconfirmed = []fakegateway.Fault{{Set: map[string]any{"fund_change": "N"}}, {HTTPStatus: http.StatusServiceUnavailable}}

// refundE2E is a subtest's fake Alipay gateway on the shared control plane and manager. The
// gateway keeps the notifications it would send after refunds in its outbox; tests post them,
// as Alipay's delivery (and its redelivery until it reads "success") would.
func refundE2E(t *testing.T, base *providertest.E2E) *e2e {
	return &e2e{E2E: base.In(t), gw: startGateway(t)}
}

// paidOrder creates a 10.50 alipay_page order on provider, opens its checkout, pays it and
// waits until it is Paid: by the signed notification posted to the callback server when
// byNotification, by the controller's query otherwise.
func (e *e2e) paidOrder(name, provider, orderID string, byNotification bool) *v1.PaymentOrder {
	e.T.Helper()
	e.createOrder(name, provider, orderID)
	o := e.WaitPhase(name, v1.PhaseAwaitingPayment)
	tr := e.openCheckout(o)
	if _, err := e.gw.Pay(o.Status.OutTradeNo); err != nil {
		e.T.Fatalf("paying order %s (%s) at the gateway: %v", name, o.Status.OutTradeNo, err)
	}
	if byNotification {
		v, err := e.gw.Notification(o.Status.OutTradeNo, nil)
		if err != nil {
			e.T.Fatal(err)
		}
		e.post(tr.NotifyURL, v, "paid notification of order "+name)
	}
	return e.WaitPhase(name, v1.PhasePaid)
}

// post delivers the signed notification v to notifyURL and fails unless the callback server
// answers "success", Alipay's acknowledgement.
func (e *e2e) post(notifyURL string, v url.Values, what string) {
	e.T.Helper()
	status, body, err := fakegateway.Post(e.T.Context(), notifyURL, v.Encode())
	if err != nil || status != http.StatusOK || body != "success" {
		e.T.Fatalf("%s (notify_id %s) answered %d %q %v, want 200 success", what, v.Get("notify_id"), status, body, err)
	}
}

// refundNotification is the signed trade notification the gateway sent after the refund
// outRequestNo of outTradeNo: refund_fee (the trade's cumulative refunds then), gmt_refund and
// out_biz_no = outRequestNo.
func (e *e2e) refundNotification(outTradeNo, outRequestNo string) url.Values {
	e.T.Helper()
	for _, v := range e.gw.Outbox() {
		if v.Get("out_trade_no") == outTradeNo && v.Get("out_biz_no") == outRequestNo {
			return v
		}
	}
	e.T.Fatalf("the gateway sent no notification about refund %s of %s (outbox %v)", outRequestNo, outTradeNo, e.gw.Outbox())
	return nil
}

// checkReserved fails unless the order has amountMinor reserved for the PaymentRefund name under
// its refund number and counts nothing of it as refunded yet.
func (e *e2e) checkReserved(order string, r *v1.PaymentRefund, amountMinor, refundedBefore int64) {
	e.T.Helper()
	o := e.Get(order)
	res, ok := providertest.Reservation(o, r.Name)
	if !ok || res.State != v1.RefundReserved || res.AmountMinor != amountMinor || res.OutRefundNo != r.Status.OutRefundNo || o.Status.RefundedAmountMinor != refundedBefore {
		e.T.Fatalf("order %s has ledger %+v and refunded %d while PaymentRefund %s is in flight, want %d reserved under %s and %d refunded",
			order, o.Status.Refunds, o.Status.RefundedAmountMinor, r.Name, amountMinor, r.Status.OutRefundNo, refundedBefore)
	}
}

// checkStats fails unless the gateway executed each refund number exactly once, answered
// requests[i] alipay.trade.refund requests for numbers[i] and no others, and refunded
// refundedFen in all, never more than the trade's total.
func (e *e2e) checkStats(outTradeNo string, refundedFen int64, numbers []string, requests []int) {
	e.T.Helper()
	st := e.gw.RefundStats(outTradeNo)
	total := 0
	for i, no := range numbers {
		total += requests[i]
		if st.Executions[no] != 1 || st.Requests[no] != requests[i] {
			e.T.Errorf("gateway: refund %s of %s executed %d times on %d requests, want once on %d", no, outTradeNo, st.Executions[no], st.Requests[no], requests[i])
		}
	}
	if len(st.Executions) != len(numbers) || st.RefundedFen != refundedFen || st.RefundedFen > st.TotalFen {
		e.T.Errorf("gateway: trade %s has refunds %v totalling %d of %d fen, want %d in %d refunds", outTradeNo, st.Executions, st.RefundedFen, st.TotalFen, refundedFen, len(numbers))
	}
	if n := e.gw.Calls("alipay.trade.refund"); n != total {
		e.T.Errorf("gateway answered %d alipay.trade.refund requests, want %d: none for a refund kubepay refused itself", n, total)
	}
	if n := e.gw.Rejected(); n != 0 {
		e.T.Errorf("gateway refused %d requests for their signature or parameters", n)
	}
}

// TestRefundEndToEnd runs Alipay refunds through the kubepay manager on a real API server
// against the fake Alipay gateway. Alipay refunds synchronously: a refund it confirms
// (fund_change Y) is Succeeded by the controller's own call, and the trade notification it
// sends after the refund is then a duplicate. A refund whose answer is unconfirmed stays
// Processing with its amount reserved until the trade notification with refund_fee and
// out_biz_no, or (notifications lost) the controller's refund query, settles it. Each is counted
// on the order once, Paid -> PartiallyRefunded -> Refunded, each out_request_no executed once at
// the gateway and never more than was paid.
func TestRefundEndToEnd(t *testing.T) {
	base := providertest.StartE2E(t)

	t.Run("settled by the trade notification and by Alipay's answer", func(t *testing.T) {
		e := refundE2E(t, base)
		// Queries are 10 minutes away on this provider: only answers and notifications can settle
		// its refunds.
		e.createProvider("ali-notify", e.Manager.CallbackURL, 10*time.Minute)
		o := e.paidOrder("tea", "ali-notify", "kp_ali_refund_0001", true)
		notifyURL := e.Manager.CallbackURL + "/notify/" + e.NS + "/ali-notify"

		e.gw.InjectFaults(unconfirmed...)
		e.CreateRefund("tea-part", "tea", "4.00", "")
		r := e.WaitRefund("tea-part", v1.RefundProcessing)
		if r.Status.ProviderRefundID != r.Status.OutRefundNo || r.Status.AmountMinor != 400 || r.Status.Currency != "CNY" {
			t.Errorf("Processing refund tea-part has status %+v, want 400 CNY under its out_request_no (Alipay has no refund id)", r.Status)
		}
		e.checkReserved("tea", r, 400, 0)
		part := e.refundNotification(o.Status.OutTradeNo, r.Status.OutRefundNo)
		if part.Get("refund_fee") != "4.00" || part.Get("trade_status") != fakegateway.TradeSuccess {
			t.Fatalf("gateway's notification after refund tea-part: refund_fee %q trade_status %q, want 4.00 TRADE_SUCCESS", part.Get("refund_fee"), part.Get("trade_status"))
		}
		e.post(notifyURL, part, "refund notification of tea-part")
		r = e.WaitRefund("tea-part", v1.RefundSucceeded)
		last := providertest.LastRefundTransition(r)
		if last.Source != v1.SourceNotification || last.NotificationID != part.Get("notify_id") || r.Status.LastNotification == nil ||
			r.Status.LastNotification.ID != part.Get("notify_id") || r.Status.RefundedAt == nil {
			t.Errorf("tea-part Succeeded not by notification %s: last transition %+v, lastNotification %+v, refundedAt %v",
				part.Get("notify_id"), last, r.Status.LastNotification, r.Status.RefundedAt)
		}
		e.WaitRefunded("tea", v1.PhasePartiallyRefunded, "4.00")
		// Alipay redelivers until it reads "success": a redelivery is acknowledged without a write.
		e.post(notifyURL, part, "redelivered refund notification of tea-part")
		if got := e.Refund("tea-part"); got.ResourceVersion != r.ResourceVersion {
			t.Errorf("redelivered notification wrote PaymentRefund tea-part (resourceVersion %s -> %s)", r.ResourceVersion, got.ResourceVersion)
		}

		// 6.50 is left: kubepay refuses 7.00 itself and Alipay never hears of it.
		e.CreateRefund("tea-too-much", "tea", "7.00", "")
		if over := e.WaitRefund("tea-too-much", v1.RefundFailed); providertest.LastRefundTransition(over).Reason != v1.ReasonExceedsRefundable {
			t.Errorf("a refund of 7.00 of the 6.50 left failed with %+v, want %s", providertest.LastRefundTransition(over), v1.ReasonExceedsRefundable)
		}

		// Alipay confirms the rest at once (fund_change Y): Succeeded by the controller's call.
		e.CreateRefund("tea-rest", "tea", "6.50", "")
		rest := e.WaitRefund("tea-rest", v1.RefundSucceeded)
		if last := providertest.LastRefundTransition(rest); last.Source != v1.SourceController || rest.Status.RefundedAt == nil {
			t.Errorf("tea-rest Succeeded by %s (refundedAt %v), want by the controller on Alipay's fund_change Y", last.Source, rest.Status.RefundedAt)
		}
		e.WaitRefunded("tea", v1.PhaseRefunded, "10.50")
		done := e.WaitSettled("tea") // the booking write settles it: nothing writes it after
		// Its notification says TRADE_CLOSED (refunded in full): acknowledged, counted nowhere
		// again, and no expiry of the order.
		closing := e.refundNotification(o.Status.OutTradeNo, rest.Status.OutRefundNo)
		if closing.Get("refund_fee") != "10.50" || closing.Get("trade_status") != fakegateway.TradeClosed {
			t.Fatalf("gateway's notification after refund tea-rest: refund_fee %q trade_status %q, want 10.50 TRADE_CLOSED", closing.Get("refund_fee"), closing.Get("trade_status"))
		}
		e.post(notifyURL, closing, "refund notification of tea-rest")
		if got := e.Refund("tea-rest"); got.ResourceVersion != rest.ResourceVersion {
			t.Errorf("the notification of the refund already confirmed wrote PaymentRefund tea-rest (resourceVersion %s -> %s)", rest.ResourceVersion, got.ResourceVersion)
		}
		if got := e.Get("tea"); got.ResourceVersion != done.ResourceVersion || got.Status.Phase != v1.PhaseRefunded {
			t.Errorf("the TRADE_CLOSED refund notification moved order tea to %s (resourceVersion %s -> %s)", got.Status.Phase, done.ResourceVersion, got.ResourceVersion)
		}
		e.checkStats(o.Status.OutTradeNo, 1050, []string{r.Status.OutRefundNo, rest.Status.OutRefundNo}, []int{1, 1})
	})

	t.Run("notifications lost, settled by refund query", func(t *testing.T) {
		e := refundE2E(t, base)
		// No callback reaches this provider (its trades carry no notify_url); the controller
		// queries every half second.
		e.createProvider("ali-poll", "", 500*time.Millisecond)
		o := e.paidOrder("coffee", "ali-poll", "kp_ali_refund_0002", false)
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
			e.gw.InjectFaults(unconfirmed...)
			e.CreateRefund(step.name, "coffee", step.amount, "")
			r := e.WaitRefund(step.name, v1.RefundSucceeded)
			// The path is in the history: sent and unconfirmed (Processing), then found refunded
			// by alipay.trade.fastpay.refund.query.
			h := r.Status.History
			if len(h) < 2 || h[len(h)-2].To != v1.RefundProcessing || h[len(h)-1].Source != v1.SourceQuery || r.Status.LastNotification != nil {
				t.Errorf("%s reached Succeeded through %+v (lastNotification %+v), want Processing then Succeeded by query", step.name, h, r.Status.LastNotification)
			}
			if r.Status.AmountMinor != step.minor {
				t.Errorf("%s amountMinor %d, want %d", step.name, r.Status.AmountMinor, step.minor)
			}
			e.WaitRefunded("coffee", step.phase, step.refunded)
			numbers = append(numbers, r.Status.OutRefundNo)
		}
		if tr, _ := e.gw.Trade(o.Status.OutTradeNo); tr.NotifyURL != "" {
			t.Errorf("trade %s has notify_url %q, want none: this provider's notifications must not arrive", o.Status.OutTradeNo, tr.NotifyURL)
		}
		if e.gw.Calls("alipay.trade.fastpay.refund.query") < 4 {
			t.Errorf("gateway answered %d refund queries, want at least the 2 failed in Refund and the 2 that settled", e.gw.Calls("alipay.trade.fastpay.refund.query"))
		}
		e.checkStats(o.Status.OutTradeNo, 1050, numbers, []int{1, 1})
	})

	t.Run("answer lost, the retry moves no money", func(t *testing.T) {
		e := refundE2E(t, base)
		e.createProvider("ali-retry", e.Manager.CallbackURL, 10*time.Minute)
		o := e.paidOrder("cake", "ali-retry", "kp_ali_refund_0003", true)
		// Alipay refunds and its answer is lost: the controller asks again with the same
		// out_request_no, gets fund_change N and the refund query's REFUND_SUCCESS.
		e.gw.InjectFaults(fakegateway.Fault{AfterExecution: true, HTTPStatus: http.StatusBadGateway})
		e.CreateRefund("cake-all", "cake", "10.50", "")
		r := e.WaitRefund("cake-all", v1.RefundSucceeded)
		if last := providertest.LastRefundTransition(r); last.Source != v1.SourceController || r.Status.AmountMinor != 1050 {
			t.Errorf("cake-all Succeeded by %s with amountMinor %d, want by the controller's retry, 1050", last.Source, r.Status.AmountMinor)
		}
		e.WaitRefunded("cake", v1.PhaseRefunded, "10.50")
		e.checkStats(o.Status.OutTradeNo, 1050, []string{r.Status.OutRefundNo}, []int{2})
	})
}
