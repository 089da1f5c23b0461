package controllers_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

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
	tests := []struct {
		name       string
		why        string
		order      *v1.PaymentOrder
		closeErr   error
		resolveErr error

		wantGone  bool
		wantCalls string
		wantEvent string
		wantErr   bool
	}{
		{name: "unpaid order", why: "a deleted order's payment is closed so nobody can pay it any more",
			order: deleting(v1.PhaseAwaitingPayment), wantGone: true, wantCalls: "close " + testOTN,
			wantEvent: "Normal Cancelled"},
		{name: "deleted before any status", why: "the payment may exist (status write lost); the out_trade_no is derived from the object, so it is closed anyway",
			order: deleting(""), wantGone: true, wantCalls: "close " + testOTN},
		{name: "provider has no payment", why: "not found at the provider is as good as closed",
			order: deleting(v1.PhasePending), closeErr: providers.ErrNotFound, wantGone: true, wantCalls: "close " + testOTN},
		{name: "paid at the moment of deletion", why: "money moved just before the delete; it is said loudly",
			order: deleting(v1.PhaseAwaitingPayment), closeErr: providers.ErrAlreadyPaid, wantGone: true,
			wantCalls: "close " + testOTN, wantEvent: "Warning " + v1.ReasonPaidBeforeDeletion},
		{name: "close fails", why: "the finalizer stays until the payment is closed; retried with backoff",
			order: deleting(v1.PhaseAwaitingPayment), closeErr: providers.Retryable("close", "503", errors.New("down")),
			wantGone: false, wantCalls: "close " + testOTN, wantErr: true},
		{name: "provider gone", why: "without the provider nothing can be closed; said in a Warning",
			order: deleting(v1.PhaseAwaitingPayment), resolveErr: fmt.Errorf("%w: shop/sandbox", resolver.ErrProviderNotFound),
			wantGone: true, wantCalls: "", wantEvent: "Warning " + v1.ReasonCloseSkipped},
		{name: "paid order", why: "a settled order has nothing open at the provider: it goes without a call",
			order: deleting(v1.PhasePaid), wantGone: true, wantCalls: ""},
		{name: "expired order", why: "an expired order was closed at expiry already",
			order: deleting(v1.PhaseExpired), wantGone: true, wantCalls: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.order, &providers.ProviderFns{CloseFn: closeAnswers(tt.closeErr)}, tt.resolveErr)
			_, err := h.reconcile()
			if (err != nil) != tt.wantErr {
				t.Fatalf("%s: reconcile error %v, want error %v", tt.why, err, tt.wantErr)
			}
			if gone := h.order() == nil; gone != tt.wantGone {
				t.Errorf("%s: order gone %v, want %v", tt.why, gone, tt.wantGone)
			}
			if got := strings.Join(h.calls, ";"); got != tt.wantCalls {
				t.Errorf("%s: provider calls %q, want %q", tt.why, got, tt.wantCalls)
			}
			if evs := h.events(); tt.wantEvent != "" && !containsPrefix(evs, tt.wantEvent) {
				t.Errorf("%s: Events %q, want one starting %q", tt.why, evs, tt.wantEvent)
			}
		})
	}
}
