package controllers_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/resolver"
	"github.com/kubepay/kubepay/providers"
)

// TestFinalizeDecisions is every branch of deleting an order: what the provider answers to the
// close, and whether the object may go.
func TestFinalizeDecisions(t *testing.T) {
	deleting := func(p v1.Phase) *v1.PaymentOrder {
		o := testOrder(p)
		now := metav1.NewTime(t0.Add(2 * time.Minute))
		o.DeletionTimestamp = &now
		return o
	}
	paidAnswer := queryAnswers(payment(providers.StatusSucceeded), nil)
	tests := []struct {
		name       string
		why        string
		order      *v1.PaymentOrder
		prov       providers.ProviderFns
		resolveErr error
		// claimedBy, when set, is the UID holding the test order's out_trade_no claim.
		claimedBy string
		// at is the clock (default: one minute after creation, before expiry).
		at time.Time

		wantGone      bool
		wantPhase     v1.Phase
		wantCondition string // a True condition the kept order must carry
		wantCalls     string
		wantEvent     string
		wantErr       bool
		wantRequeue   bool
	}{
		{name: "unpaid order", why: "a deleted order's payment is closed so nobody can pay it any more",
			order: deleting(v1.PhaseAwaitingPayment), prov: providers.ProviderFns{CloseFn: closeAnswers(nil)},
			wantGone: true, wantCalls: "close " + testOTN, wantEvent: "Normal Cancelled"},
		{name: "deleted before any status, claim held", why: "the payment may exist (status write lost after the claim); its out_trade_no is derived from the object and closed",
			order: deleting(""), claimedBy: string(testUID), prov: providers.ProviderFns{CloseFn: closeAnswers(nil)},
			wantGone: true, wantCalls: "close " + testOTN},
		{name: "deleted before any status, claimed by another order", why: "the out_trade_no belongs to another order's payment, which must never be closed by this one",
			order: deleting(""), claimedBy: "another-order-uid", wantGone: true, wantCalls: ""},
		{name: "deleted before any status, never claimed", why: "no claim means no create was ever sent",
			order: deleting(""), wantGone: true, wantCalls: ""},
		{name: "provider has no payment", why: "not found at the provider is as good as closed",
			order: deleting(v1.PhasePending), prov: providers.ProviderFns{CloseFn: closeAnswers(providers.ErrNotFound)},
			wantGone: true, wantCalls: "close " + testOTN},
		{name: "paid at the moment of deletion", why: "money moved just before the delete: the order is written Paid and kept as its record",
			order: deleting(v1.PhaseAwaitingPayment), prov: providers.ProviderFns{CloseFn: closeAnswers(providers.ErrAlreadyPaid), QueryFn: paidAnswer},
			wantGone: false, wantPhase: v1.PhasePaid, wantCondition: v1.ConditionPaidWhileDeleting,
			wantCalls: "close " + testOTN + ";query " + testOTN, wantEvent: "Warning " + v1.ReasonPaidBeforeDeletion},
		{name: "paid by a notification after the delete", why: "a notification that won the race with the close is the same money: kept",
			order: func() *v1.PaymentOrder {
				o := deleting(v1.PhasePaid)
				o.Status.Conditions = []metav1.Condition{{Type: v1.ConditionPaidWhileDeleting, Status: metav1.ConditionTrue, Reason: v1.ReasonPaidBeforeDeletion, LastTransitionTime: metav1.NewTime(t0)}}
				return o
			}(),
			wantGone: false, wantPhase: v1.PhasePaid, wantCondition: v1.ConditionPaidWhileDeleting, wantCalls: ""},
		{name: "paid before the delete", why: "a settled order has nothing open at the provider: it goes without a call",
			order: deleting(v1.PhasePaid), wantGone: true, wantCalls: ""},
		{name: "late payment not refunded", why: "the order is the only durable record of money nobody wants",
			order: func() *v1.PaymentOrder {
				o := deleting(v1.PhaseExpired)
				o.Status.Conditions = []metav1.Condition{{Type: v1.ConditionLatePayment, Status: metav1.ConditionTrue, Reason: v1.ReasonLatePayment, LastTransitionTime: metav1.NewTime(t0)}}
				return o
			}(),
			wantGone: false, wantCalls: "", wantEvent: "Warning " + v1.ReasonLatePayment},
		{name: "close fails", why: "the finalizer stays until the payment is closed; retried with backoff",
			order: deleting(v1.PhaseAwaitingPayment), prov: providers.ProviderFns{CloseFn: closeAnswers(providers.Retryable("close", "503", errors.New("down")))},
			wantGone: false, wantCalls: "close " + testOTN, wantErr: true},
		{name: "provider gone before expiry", why: "the payment stays payable until it expires: the order is kept, saying why, and looked at again then",
			order: deleting(v1.PhaseAwaitingPayment), resolveErr: fmt.Errorf("%w: shop/sandbox", resolver.ErrProviderNotFound),
			wantGone: false, wantCondition: v1.ConditionCloseBlocked, wantCalls: "", wantEvent: "Warning " + v1.ConditionCloseBlocked, wantRequeue: true},
		{name: "provider gone after expiry", why: "past the payment's own expiry nobody can pay it; released, saying it could not be queried",
			order: deleting(v1.PhaseAwaitingPayment), resolveErr: fmt.Errorf("%w: shop/sandbox", resolver.ErrProviderNotFound),
			at: expiresAt.Add(time.Second), wantGone: true, wantCalls: "", wantEvent: "Warning " + v1.ReasonReleasedAfterExpiry},
		{name: "link payable until expiry", why: "Alipay page/wap: nothing to close yet, but the link can still be paid; kept until it expires",
			order: deleting(v1.PhaseAwaitingPayment), prov: providers.ProviderFns{CloseFn: closeAnswers(providers.ErrPayableUntilExpiry)},
			wantGone: false, wantCondition: v1.ConditionCloseBlocked, wantCalls: "close " + testOTN, wantRequeue: true},
		{name: "link expired, final query unpaid", why: "after the expiry a final query that finds nothing paid releases the order",
			order: deleting(v1.PhaseAwaitingPayment), at: expiresAt.Add(time.Second),
			prov:     providers.ProviderFns{CloseFn: closeAnswers(providers.ErrPayableUntilExpiry), QueryFn: queryAnswers(providers.Payment{}, providers.ErrNotFound)},
			wantGone: true, wantCalls: "close " + testOTN + ";query " + testOTN, wantEvent: "Normal " + v1.ReasonReleasedAfterExpiry},
		{name: "link expired, final query paid", why: "paid through the link before it expired: kept as Paid",
			order: deleting(v1.PhaseAwaitingPayment), at: expiresAt.Add(time.Second),
			prov:     providers.ProviderFns{CloseFn: closeAnswers(providers.ErrPayableUntilExpiry), QueryFn: paidAnswer},
			wantGone: false, wantPhase: v1.PhasePaid, wantCondition: v1.ConditionPaidWhileDeleting, wantCalls: "close " + testOTN + ";query " + testOTN},
		{name: "expired order", why: "an expired order was closed at expiry already",
			order: deleting(v1.PhaseExpired), wantGone: true, wantCalls: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prov := tt.prov
			h := newHarness(t, tt.order, &prov, tt.resolveErr)
			if tt.claimedBy != "" {
				h.claim(testOTN, tt.claimedBy)
			}
			if !tt.at.IsZero() {
				h.now = tt.at
			}
			res, err := h.reconcile()
			if (err != nil) != tt.wantErr {
				t.Fatalf("%s: reconcile error %v, want error %v", tt.why, err, tt.wantErr)
			}
			o := h.order()
			if gone := o == nil; gone != tt.wantGone {
				t.Fatalf("%s: order gone %v, want %v", tt.why, gone, tt.wantGone)
			}
			if o != nil && tt.wantPhase != "" && o.Status.Phase != tt.wantPhase {
				t.Errorf("%s: phase %q, want %q", tt.why, o.Status.Phase, tt.wantPhase)
			}
			if o != nil && tt.wantCondition != "" && !meta.IsStatusConditionTrue(o.Status.Conditions, tt.wantCondition) {
				t.Errorf("%s: conditions %+v, want %s True", tt.why, o.Status.Conditions, tt.wantCondition)
			}
			if got := strings.Join(h.calls, ";"); got != tt.wantCalls {
				t.Errorf("%s: provider calls %q, want %q", tt.why, got, tt.wantCalls)
			}
			if evs := h.events(); tt.wantEvent != "" && !containsPrefix(evs, tt.wantEvent) {
				t.Errorf("%s: Events %q, want one starting %q", tt.why, evs, tt.wantEvent)
			}
			if tt.wantRequeue && res.RequeueAfter <= 0 {
				t.Errorf("%s: a kept order must be looked at again by its deadline, got %+v", tt.why, res)
			}
		})
	}
}
