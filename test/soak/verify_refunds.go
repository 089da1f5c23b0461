package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
)

// collectRefunds reads from the gateway the refund behind every PaymentRefund that has a refund
// number. A refund the gateway does not know (404 refund_not_found) is left out: kubepay never
// sent it. Any other failure ends the collection, since a refund read as missing would be
// reported as money kubepay lost track of.
func (s *soak) collectRefunds(ctx context.Context, httpc *http.Client, snap *snapshot) error {
	var mu sync.Mutex
	var errs []string
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, ref := range snap.refunds {
		orn := ref.Status.OutRefundNo
		if orn == "" {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			g, found, err := lookupRefund(ctx, httpc, s.addr.gatewayURL(), orn)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, fmt.Sprintf("reading refund %s (PaymentRefund %s) from the gateway: %v", orn, ref.Name, err))
			case found:
				snap.gatewayRefunds[orn] = g
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("%d refund lookups failed, first: %s", len(errs), errs[0])
	}
	return nil
}

func lookupRefund(ctx context.Context, c *http.Client, base, outRefundNo string) (gateway.Refund, bool, error) {
	var r gateway.Refund
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/refunds?out_refund_no="+url.QueryEscape(outRefundNo), nil)
	req.Header.Set("Authorization", "Bearer "+soakAPIKey)
	resp, err := c.Do(req)
	if err != nil {
		return r, false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return r, true, json.NewDecoder(resp.Body).Decode(&r)
	case http.StatusNotFound:
		var answer struct {
			Error struct{ Code string } `json:"error"`
		}
		if json.NewDecoder(resp.Body).Decode(&answer) == nil && answer.Error.Code == "refund_not_found" {
			return r, false, nil
		}
	}
	return r, false, fmt.Errorf("HTTP %d", resp.StatusCode)
}

// refundReason is why a refund failed: the reason of its last transition.
func refundReason(ref *v1.PaymentRefund) string {
	if n := len(ref.Status.History); n > 0 {
		return ref.Status.History[n-1].Reason
	}
	return ""
}

// checkRefunds checks every refund against the gateway's record of it, every order's refund
// ledger against the gateway's refunded total, the outcome of every planned refund, the late
// payments and the gateway's own refund counts.
func (v *verdict) checkRefunds(snap *snapshot, pl *plan) {
	r := v.r
	r.RefundsRefusedByReason = map[string]int{}
	byOrder := map[string][]*v1.PaymentRefund{}
	// succeededNumbers are the refund numbers of Succeeded refunds: a refund refused
	// DuplicateRefundID may carry the number its rival holds.
	succeededNumbers := map[string]bool{}
	for i := range snap.refunds {
		ref := &snap.refunds[i]
		byOrder[ref.Spec.OrderRef.Name] = append(byOrder[ref.Spec.OrderRef.Name], ref)
		if ref.Status.Phase == v1.RefundSucceeded {
			succeededNumbers[ref.Status.OutRefundNo] = true
		}
	}
	orders := map[string]*v1.PaymentOrder{}
	for i := range snap.orders {
		orders[snap.orders[i].Name] = &snap.orders[i]
	}
	for i := range snap.refunds {
		ref := &snap.refunds[i]
		o := orders[ref.Spec.OrderRef.Name]
		if o == nil {
			r.RefundMismatch++
			v.example("refund_mismatch", "PaymentRefund %s refunds order %s, which does not exist", ref.Name, ref.Spec.OrderRef.Name)
			continue
		}
		v.checkRefund(ref, o, snap, succeededNumbers)
	}
	for i := range snap.orders {
		o := &snap.orders[i]
		p := snap.payments[o.Status.OutTradeNo]
		refs := byOrder[o.Name]
		v.checkLedger(o, p, refs, snap.stats.RefundsFor(o.Status.OutTradeNo))
		v.checkPlannedRefunds(o, refs, pl)
		if p.Late {
			v.checkLatePayment(o, p, refs, snap.stats.RefundsFor(o.Status.OutTradeNo))
		}
	}
	v.checkGatewayRefunds(snap)
}

// checkRefund counts one refund and checks it against the gateway: a Succeeded refund was made
// there once, for its amount, of its order's payment; a Failed one gave nothing back.
func (v *verdict) checkRefund(ref *v1.PaymentRefund, o *v1.PaymentOrder, snap *snapshot, succeededNumbers map[string]bool) {
	r := v.r
	auto := ref.Spec.LatePaymentID != ""
	if !auto {
		r.RefundsRequested++
	}
	r.observeRefund(ref)
	g, atGateway := snap.gatewayRefunds[ref.Status.OutRefundNo]
	switch ref.Status.Phase {
	case v1.RefundSucceeded:
		if auto {
			r.LatePaymentRefunds++
		} else {
			r.RefundsSucceeded++
		}
		payment := snap.payments[o.Status.OutTradeNo]
		if !atGateway || g.Status != gateway.RefundSucceeded || g.Amount != ref.Status.AmountMinor || g.PaymentID != payment.ID {
			r.RefundMismatch++
			v.example("refund_mismatch", "PaymentRefund %s Succeeded (%d minor units of payment %s) but the gateway has refund %s: found %v, %q, %d of payment %s",
				ref.Name, ref.Status.AmountMinor, payment.ID, ref.Status.OutRefundNo, atGateway, g.Status, g.Amount, g.PaymentID)
		}
	case v1.RefundFailed:
		reason := refundReason(ref)
		if auto {
			r.RefundMismatch++
			v.example("refund_mismatch", "kubepay's own refund %s of late payment %s Failed (%s)", ref.Name, ref.Spec.LatePaymentID, reason)
		} else {
			r.RefundsRefused++
			r.RefundsRefusedByReason[reason]++
		}
		if atGateway && !succeededNumbers[ref.Status.OutRefundNo] && g.Status != gateway.RefundFailed {
			r.RefundMismatch++
			v.example("refund_mismatch", "PaymentRefund %s Failed (%s) but the gateway's refund %s is %q: money went back that kubepay does not count",
				ref.Name, reason, ref.Status.OutRefundNo, g.Status)
		}
	default:
		r.RefundsStuck++
		v.example("refund_stuck", "PaymentRefund %s of %s is still %q", ref.Name, o.Name, ref.Status.Phase)
	}
}

// checkLedger checks what an order says was refunded against its Succeeded refunds and the
// gateway: never more than was paid, refundedAmount the sum of the main payment's refunds, the
// gateway's refunded total the sum of all of them, nothing still reserved, and the phase the one
// the refunded amount calls for.
func (v *verdict) checkLedger(o *v1.PaymentOrder, p gateway.Payment, refs []*v1.PaymentRefund, gw gateway.PaymentRefunds) {
	r := v.r
	if gw.RefundedTotal+gw.PendingTotal > p.Amount || o.Status.RefundedAmountMinor > o.Status.AmountMinor {
		r.OverRefunds++
		v.example("over_refund", "%s: the gateway refunded %d (+%d pending) of payment %s of %d; the order says %d of %d refunded",
			o.Name, gw.RefundedTotal, gw.PendingTotal, p.ID, p.Amount, o.Status.RefundedAmountMinor, o.Status.AmountMinor)
	}
	var main, all int64
	succeeded := map[string]bool{}
	for _, ref := range refs {
		if ref.Status.Phase != v1.RefundSucceeded {
			continue
		}
		succeeded[ref.Name] = true
		all += ref.Status.AmountMinor
		if ref.Spec.LatePaymentID == "" {
			main += ref.Status.AmountMinor
		}
	}
	var problems []string
	if o.Status.RefundedAmountMinor != main {
		problems = append(problems, fmt.Sprintf("refundedAmountMinor %d but its Succeeded refunds of the payment add up to %d", o.Status.RefundedAmountMinor, main))
	}
	if gw.RefundedTotal != all {
		problems = append(problems, fmt.Sprintf("the gateway refunded %d but its Succeeded refunds add up to %d", gw.RefundedTotal, all))
	}
	for _, res := range o.Status.Refunds {
		if res.State != v1.RefundCommitted || !succeeded[res.Name] {
			problems = append(problems, fmt.Sprintf("status.refunds holds %s as %s", res.Name, res.State))
		}
	}
	if len(o.Status.Refunds) != len(succeeded) {
		problems = append(problems, fmt.Sprintf("status.refunds lists %d refunds, %d Succeeded", len(o.Status.Refunds), len(succeeded)))
	}
	if paidPhase(o.Status.Phase) {
		want := v1.PhasePaid
		switch {
		case main >= o.Status.AmountMinor:
			want = v1.PhaseRefunded
		case main > 0:
			want = v1.PhasePartiallyRefunded
		}
		if o.Status.Phase != want {
			problems = append(problems, fmt.Sprintf("phase %s with %d of %d refunded, want %s", o.Status.Phase, main, o.Status.AmountMinor, want))
		}
	}
	if len(problems) > 0 {
		r.RefundLedgerMismatch++
		v.example("refund_ledger", "%s: %s", o.Name, strings.Join(problems, "; "))
	}
}

// checkPlannedRefunds checks that the soak's own refunds of an order came out as planned: how
// many were made, how many succeeded, why the others were refused, and what was refunded.
func (v *verdict) checkPlannedRefunds(o *v1.PaymentOrder, refs []*v1.PaymentRefund, pl *plan) {
	rp := pl.refunds[o.Name]
	var own []*v1.PaymentRefund
	for _, ref := range refs {
		if ref.Spec.LatePaymentID == "" {
			own = append(own, ref)
		}
	}
	if rp.kind != refundNone && rp.cannotRun(o.Status.Phase) {
		// The order never reached the phase its refunds wait for (the payment checks say
		// whether that was right); no refund of it may exist.
		v.r.RefundPlansNotRun++
		rp = refundPlan{}
	}
	v.r.RefundsPlanned += len(rp.amounts)
	if len(own) != len(rp.amounts) {
		v.r.RefundsUnexpected++
		v.example("refund_unexpected", "%s has %d PaymentRefunds of its payment, %d planned (%s)", o.Name, len(own), len(rp.amounts), rp.kind)
		return
	}
	if rp.kind == refundNone {
		return
	}
	wantSucceeded, wantRefused, totals := rp.expected(o.Status.AmountMinor)
	succeeded, refused := 0, map[string]int{}
	for _, ref := range own {
		switch ref.Status.Phase {
		case v1.RefundSucceeded:
			succeeded++
		case v1.RefundFailed:
			refused[refundReason(ref)]++
		}
	}
	if succeeded != wantSucceeded || !maps.Equal(refused, orEmpty(wantRefused)) || !slices.Contains(totals, o.Status.RefundedAmountMinor) {
		v.r.RefundsUnexpected++
		v.example("refund_unexpected", "%s (%s refunds of %v): %d Succeeded, refused %v, %d refunded; want %d Succeeded, refused %v, refunded one of %v",
			o.Name, rp.kind, rp.amounts, succeeded, refused, o.Status.RefundedAmountMinor, wantSucceeded, orEmpty(wantRefused), totals)
	}
}

func orEmpty(m map[string]int) map[string]int {
	if m == nil {
		return map[string]int{}
	}
	return m
}

// checkLatePayment checks an order paid after it expired: it stays Expired, records the payment
// once with the gateway's id and amount, and kubepay created exactly one refund for it, labelled
// with the order, which succeeded, gave back all of it at the gateway and is marked on the record.
func (v *verdict) checkLatePayment(o *v1.PaymentOrder, p gateway.Payment, refs []*v1.PaymentRefund, gw gateway.PaymentRefunds) {
	r := v.r
	r.LatePayments += len(o.Status.LatePayments)
	if len(o.Status.LatePayments) != 1 || o.Status.LatePayments[0].ID != p.ID || o.Status.LatePayments[0].AmountMinor != p.Amount {
		r.LatePaymentsUnrefunded++
		v.example("late_payment_unrefunded", "%s records late payments %+v; the gateway has payment %s of %d paid late", o.Name, o.Status.LatePayments, p.ID, p.Amount)
		return
	}
	lp := o.Status.LatePayments[0]
	var auto []*v1.PaymentRefund
	for _, ref := range refs {
		if ref.Spec.LatePaymentID == lp.ID {
			auto = append(auto, ref)
		}
	}
	if len(auto) > 1 {
		r.LateRefundsCreatedTwice++
		v.example("late_refund_created_twice", "%s has %d PaymentRefunds of late payment %s", o.Name, len(auto), lp.ID)
	}
	var problems []string
	if len(auto) == 0 {
		problems = append(problems, "kubepay created no PaymentRefund for it")
	} else if ref := auto[0]; ref.Name != lp.Refund || ref.Labels[v1.LabelOrder] != o.Name || !strings.HasPrefix(ref.Name, o.Name+"-late-") ||
		ref.Spec.Amount != lp.Amount || ref.Status.Phase != v1.RefundSucceeded {
		problems = append(problems, fmt.Sprintf("its PaymentRefund %s (record names %q, label %q, amount %s) is %q",
			ref.Name, lp.Refund, ref.Labels[v1.LabelOrder], ref.Spec.Amount, ref.Status.Phase))
	}
	if !lp.Refunded {
		problems = append(problems, "the record is not marked refunded")
	}
	if gw.RefundedTotal != p.Amount {
		problems = append(problems, fmt.Sprintf("the gateway refunded %d of it", gw.RefundedTotal))
	}
	if c := meta.FindStatusCondition(o.Status.Conditions, v1.ConditionLatePayment); c == nil || c.Status != metav1.ConditionFalse {
		problems = append(problems, fmt.Sprintf("condition LatePayment is %v", c))
	}
	if len(problems) > 0 {
		r.LatePaymentsUnrefunded++
		v.example("late_payment_unrefunded", "%s's late payment %s of %d: %s", o.Name, lp.ID, lp.AmountMinor, strings.Join(problems, "; "))
	}
}

// checkGatewayRefunds checks the gateway's own refund figures: no out_refund_no executed twice,
// no payment refunded beyond its amount, no refund refused as exceeding its payment (kubepay
// reserves before it asks, so the gateway never should have to), no refund number reused for
// another request, and exactly the refunds kubepay counts as Succeeded.
func (v *verdict) checkGatewayRefunds(snap *snapshot) {
	r, st := v.r, snap.stats
	r.GatewayRefunds, r.GatewayRefundReplays = st.RefundsTotal, int(st.RefundReplaysTotal)
	r.GatewayRefundRefusals, r.GatewayRefundConflicts = int(st.RefundRefusalsTotal), int(st.RefundConflictsTotal)
	for id, pr := range st.RefundsByPayment {
		for orn, n := range pr.Executions {
			if n > 1 {
				r.RefundsExecutedTwice++
				v.example("refund_executed_twice", "out_refund_no %s was executed %d times on payment %s (out_trade_no %s)", orn, n, id, pr.OutTradeNo)
			}
		}
		// Over-refunds of the orders' payments are counted per order by checkLedger.
		if _, ok := snap.payments[pr.OutTradeNo]; !ok {
			v.failf("the gateway has %d refunds of payment %s (out_trade_no %s), which no order has", pr.Count, id, pr.OutTradeNo)
		}
	}
	if st.RefundRefusalsTotal != 0 {
		v.failf("the gateway refused %d refunds as exceeding their payment: kubepay asked for money its ledger should have refused", st.RefundRefusalsTotal)
	}
	if st.RefundConflictsTotal != 0 {
		v.failf("the gateway refused %d refunds as idempotency conflicts: a refund number was sent with two different requests", st.RefundConflictsTotal)
	}
	if want := r.RefundsSucceeded + r.LatePaymentRefunds; st.RefundsTotal != want {
		v.failf("the gateway made %d refunds; kubepay counts %d Succeeded (%d requested, %d of late payments)", st.RefundsTotal, want, r.RefundsSucceeded, r.LatePaymentRefunds)
	}
}

// observeRefund records how long a refund took from its creation to its result (second
// precision), the worst of the Succeeded ones.
func (r *Results) observeRefund(ref *v1.PaymentRefund) {
	for _, h := range ref.Status.History {
		if h.To == v1.RefundSucceeded {
			r.MaxRefundS = max(r.MaxRefundS, h.Time.Sub(ref.CreationTimestamp.Time).Seconds())
		}
	}
}
