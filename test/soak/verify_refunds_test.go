package main

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
)

// The refund checks must fail the soak when an invariant breaks; a soak whose checks cannot
// fail proves nothing. Each case breaks one thing in an otherwise consistent end state.

// refundFixture is one order of 10.00 CNY paid at the gateway, refunded 4.00 by refund soak-1-r1
// (plan: partial), and one expired order paid late (1500 JPY) and refunded by kubepay.
func refundFixture() (*snapshot, *plan) {
	ok := metav1.Now()
	paid := v1.PaymentOrder{ObjectMeta: metav1.ObjectMeta{Name: "soak-1"},
		Spec: v1.PaymentOrderSpec{Amount: "10.00", Currency: "CNY"},
		Status: v1.PaymentOrderStatus{Phase: v1.PhasePartiallyRefunded, OutTradeNo: "otn1", AmountMinor: 1000,
			RefundedAmount: "4.00", RefundedAmountMinor: 400,
			Refunds: []v1.RefundReservation{{Name: "soak-1-r1", OutRefundNo: "orn1", AmountMinor: 400, State: v1.RefundCommitted}}}}
	late := v1.PaymentOrder{ObjectMeta: metav1.ObjectMeta{Name: "soak-2"},
		Spec: v1.PaymentOrderSpec{Amount: "1500", Currency: "JPY"},
		Status: v1.PaymentOrderStatus{Phase: v1.PhaseExpired, OutTradeNo: "otn2", AmountMinor: 1500,
			LatePayments: []v1.LatePayment{{ID: "pay2", Amount: "1500", AmountMinor: 1500, Refund: "soak-2-late-abc", Refunded: true}},
			Refunds:      []v1.RefundReservation{{Name: "soak-2-late-abc", OutRefundNo: "orn2", AmountMinor: 1500, State: v1.RefundCommitted, LatePaymentID: "pay2"}},
			Conditions:   []metav1.Condition{{Type: v1.ConditionLatePayment, Status: metav1.ConditionFalse, Reason: v1.ReasonRefunded, LastTransitionTime: ok}}}}
	snap := &snapshot{
		orders: []v1.PaymentOrder{paid, late},
		refunds: []v1.PaymentRefund{
			{ObjectMeta: metav1.ObjectMeta{Name: "soak-1-r1"}, Spec: v1.PaymentRefundSpec{OrderRef: v1.LocalObjectReference{Name: "soak-1"}, Amount: "4.00"},
				Status: v1.PaymentRefundStatus{Phase: v1.RefundSucceeded, OutRefundNo: "orn1", AmountMinor: 400}},
			{ObjectMeta: metav1.ObjectMeta{Name: "soak-2-late-abc", Labels: map[string]string{v1.LabelOrder: "soak-2"}},
				Spec:   v1.PaymentRefundSpec{OrderRef: v1.LocalObjectReference{Name: "soak-2"}, Amount: "1500", LatePaymentID: "pay2"},
				Status: v1.PaymentRefundStatus{Phase: v1.RefundSucceeded, OutRefundNo: "orn2", AmountMinor: 1500}},
		},
		payments: map[string]gateway.Payment{
			"otn1": {ID: "pay1", OutTradeNo: "otn1", Status: gateway.StatusSucceeded, Amount: 1000},
			"otn2": {ID: "pay2", OutTradeNo: "otn2", Status: gateway.StatusSucceeded, Amount: 1500, Late: true},
		},
		gatewayRefunds: map[string]gateway.Refund{
			"orn1": {PaymentID: "pay1", OutRefundNo: "orn1", Amount: 400, Status: gateway.RefundSucceeded},
			"orn2": {PaymentID: "pay2", OutRefundNo: "orn2", Amount: 1500, Status: gateway.RefundSucceeded},
		},
		stats: gateway.Stats{RefundsTotal: 2, RefundsByPayment: map[string]gateway.PaymentRefunds{
			"pay1": {OutTradeNo: "otn1", Count: 1, RefundedTotal: 400, Executions: map[string]int{"orn1": 1}},
			"pay2": {OutTradeNo: "otn2", Count: 1, RefundedTotal: 1500, Executions: map[string]int{"orn2": 1}},
		}},
	}
	pl := &plan{late: map[string]bool{"soak-2": true},
		refunds: map[string]refundPlan{"soak-1": {kind: refundPartial, amounts: []int64{400}}}}
	return snap, pl
}

func checkFixture(snap *snapshot, pl *plan) *verdict {
	v := &verdict{r: &Results{}, examples: map[string]int{}}
	v.checkRefunds(snap, pl)
	return v
}

func TestRefundChecksPassAConsistentEnd(t *testing.T) {
	v := checkFixture(refundFixture())
	if len(v.failures) != 0 {
		t.Fatalf("a consistent end state failed: %v", v.failures)
	}
	r := v.r
	if r.RefundsRequested != 1 || r.RefundsSucceeded != 1 || r.LatePayments != 1 || r.LatePaymentRefunds != 1 {
		t.Fatalf("counted %d requested, %d succeeded, %d late payments, %d late refunds; want 1 each",
			r.RefundsRequested, r.RefundsSucceeded, r.LatePayments, r.LatePaymentRefunds)
	}
}

func TestRefundChecksFailWhenAnInvariantBreaks(t *testing.T) {
	for _, tc := range []struct {
		name    string
		breakIt func(*snapshot, *plan)
		count   func(*Results) int
		want    string
	}{
		{"gateway refunded beyond the payment", func(s *snapshot, _ *plan) {
			pr := s.stats.RefundsByPayment["pay1"]
			pr.RefundedTotal, pr.PendingTotal = 400, 700
			s.stats.RefundsByPayment["pay1"] = pr
		}, func(r *Results) int { return r.OverRefunds }, "over_refund"},
		{"refundedAmount beyond the amount", func(s *snapshot, _ *plan) {
			s.orders[0].Status.RefundedAmountMinor = 1001
		}, func(r *Results) int { return r.OverRefunds }, "over_refund"},
		{"an out_refund_no executed twice", func(s *snapshot, _ *plan) {
			s.stats.RefundsByPayment["pay1"].Executions["orn1"] = 2
		}, func(r *Results) int { return r.RefundsExecutedTwice }, "refund_executed_twice"},
		{"a late payment not marked refunded", func(s *snapshot, _ *plan) {
			s.orders[1].Status.LatePayments[0].Refunded = false
		}, func(r *Results) int { return r.LatePaymentsUnrefunded }, "late_payment_unrefunded"},
		{"a late payment refunded twice", func(s *snapshot, _ *plan) {
			dup := s.refunds[1]
			dup.Name = "soak-2-late-def"
			s.refunds = append(s.refunds, dup)
		}, func(r *Results) int { return r.LateRefundsCreatedTwice }, "late_refund_created_twice"},
		{"a refund Failed at kubepay but made at the gateway", func(s *snapshot, _ *plan) {
			s.refunds[0].Status.Phase = v1.RefundFailed
		}, func(r *Results) int { return r.RefundMismatch }, "refund_mismatch"},
		{"refundedAmount not the refunds' sum", func(s *snapshot, _ *plan) {
			s.orders[0].Status.RefundedAmountMinor = 300
		}, func(r *Results) int { return r.RefundLedgerMismatch }, "refund_ledger"},
		{"a refund not as planned", func(_ *snapshot, p *plan) {
			p.refunds["soak-1"] = refundPlan{kind: refundOver, amounts: []int64{400}}
		}, func(r *Results) int { return r.RefundsUnexpected }, "refund_unexpected"},
		{"a refund still in flight", func(s *snapshot, _ *plan) {
			s.refunds[0].Status.Phase = v1.RefundProcessing
		}, func(r *Results) int { return r.RefundsStuck }, "refund_stuck"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap, pl := refundFixture()
			tc.breakIt(snap, pl)
			v := checkFixture(snap, pl)
			if tc.count(v.r) == 0 || !strings.Contains(strings.Join(v.failures, "\n"), tc.want) {
				t.Fatalf("not caught: count %d, failures %v", tc.count(v.r), v.failures)
			}
		})
	}
}

func TestGatewayRefundRefusalsFail(t *testing.T) {
	snap, pl := refundFixture()
	snap.stats.RefundRefusalsTotal = 1
	if v := checkFixture(snap, pl); len(v.failures) == 0 {
		t.Fatal("a refund the gateway refused as exceeding its payment did not fail the soak")
	}
}

// An order whose payment came too late (the customer was refused, the order Expired) never runs
// its planned refunds: that is no refund failure, and a refund of it would be one.
func TestRefundPlanOfAnUnpaidOrderDoesNotRun(t *testing.T) {
	snap, pl := refundFixture()
	pl.refunds["soak-2"] = refundPlan{kind: refundFull, amounts: []int64{1500}}
	v := checkFixture(snap, pl)
	if len(v.failures) != 0 || v.r.RefundPlansNotRun != 1 || v.r.RefundsPlanned != 1 {
		t.Fatalf("failures %v, %d plans not run, %d refunds planned; want none, 1, 1", v.failures, v.r.RefundPlansNotRun, v.r.RefundsPlanned)
	}
	snap.refunds = append(snap.refunds, v1.PaymentRefund{ObjectMeta: metav1.ObjectMeta{Name: "soak-2-r1"},
		Spec:   v1.PaymentRefundSpec{OrderRef: v1.LocalObjectReference{Name: "soak-2"}, Amount: "1500"},
		Status: v1.PaymentRefundStatus{Phase: v1.RefundFailed, History: []v1.RefundTransition{{To: v1.RefundFailed, Reason: v1.ReasonOrderNotPaid}}}})
	if v := checkFixture(snap, pl); v.r.RefundsUnexpected != 1 {
		t.Fatalf("a refund of an order whose plan could not run was not flagged: %v", v.failures)
	}
}
