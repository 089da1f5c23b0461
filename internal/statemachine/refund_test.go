package statemachine

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
)

var allRefundPhases = []v1.RefundPhase{"", v1.RefundPending, v1.RefundProcessing, v1.RefundSucceeded, v1.RefundFailed}

func refundEvent(t RefundEventType) RefundEvent {
	return RefundEvent{Type: t, Source: v1.SourceController, At: t0, OutRefundNo: "ORN-1", AmountMinor: 400,
		Currency: "CNY", ProviderRefundID: "re_1", Reason: "Because", Message: "why"}
}

// TestNextRefundEveryPhaseEveryEvent is the refund transition table: every phase x every event.
// "" means no change (duplicate, stale or out of order).
func TestNextRefundEveryPhaseEveryEvent(t *testing.T) {
	table := []struct {
		ev   RefundEventType
		want map[v1.RefundPhase]v1.RefundPhase
		why  string
	}{
		{RefundAccepted, map[v1.RefundPhase]v1.RefundPhase{"": v1.RefundPending},
			"only a fresh refund is accepted; accepting again would change its refund number, the idempotency key"},
		{RefundRejected, map[v1.RefundPhase]v1.RefundPhase{"": v1.RefundFailed, v1.RefundPending: v1.RefundFailed},
			"kubepay or the provider refuses before any money moved: never once the provider is processing it"},
		{RefundSent, map[v1.RefundPhase]v1.RefundPhase{v1.RefundPending: v1.RefundProcessing},
			"the provider took it; a late answer after the result is stale"},
		{RefundSucceededEvent, map[v1.RefundPhase]v1.RefundPhase{v1.RefundPending: v1.RefundSucceeded, v1.RefundProcessing: v1.RefundSucceeded},
			"the money went back, from Pending too when the create answer was lost; a Failed refund never succeeds afterwards"},
		{RefundFailedEvent, map[v1.RefundPhase]v1.RefundPhase{v1.RefundPending: v1.RefundFailed, v1.RefundProcessing: v1.RefundFailed},
			"the provider gave up; after Succeeded a failure is out of order"},
	}
	for _, c := range table {
		for _, from := range allRefundPhases {
			want := c.want[from]
			t.Run(fmt.Sprintf("%s/from=%q", c.ev, from), func(t *testing.T) {
				cur := v1.PaymentRefundStatus{Phase: from}
				got, changed, err := NextRefund(cur, refundEvent(c.ev))
				if want == "" {
					if err != nil || changed || !equality.Semantic.DeepEqual(got, cur) {
						t.Fatalf("%s: want no change, got %q changed=%v err=%v", c.why, got.Phase, changed, err)
					}
					return
				}
				if err != nil || !changed || got.Phase != want {
					t.Fatalf("%s: want %q, got %q changed=%v err=%v", c.why, want, got.Phase, changed, err)
				}
				last := got.History[len(got.History)-1]
				if last.From != from || last.To != want {
					t.Fatalf("history %+v does not record %q -> %q", last, from, want)
				}
				if meta.FindStatusCondition(got.Conditions, v1.ConditionReady) == nil {
					t.Fatal("transition did not set Ready")
				}
			})
		}
	}
}

func TestNextRefundRecordsWhatItNeeds(t *testing.T) {
	s, _, err := NextRefund(v1.PaymentRefundStatus{}, refundEvent(RefundAccepted))
	if err != nil || s.OutRefundNo != "ORN-1" || s.AmountMinor != 400 || s.Currency != "CNY" {
		t.Fatalf("accepted refund lacks its number, amount or currency: %+v (err %v)", s, err)
	}
	ev := refundEvent(RefundSucceededEvent)
	ev.Source, ev.NotificationID, ev.RefundedAt = v1.SourceNotification, "evt_r1", t0.Add(-time.Second)
	done, changed, err := NextRefund(s, ev)
	if err != nil || !changed || done.RefundedAt == nil || !done.RefundedAt.Time.Equal(ev.RefundedAt) || done.ProviderRefundID != "re_1" {
		t.Fatalf("succeeded refund %+v: want refundedAt from the provider and its refund id (err %v)", done, err)
	}
	if again, changed, _ := NextRefund(done, ev); changed || !equality.Semantic.DeepEqual(again, done) {
		t.Fatal("the same notification delivered again changed the refund")
	}
}

func order(p v1.Phase, amount int64) v1.PaymentOrderStatus {
	return v1.PaymentOrderStatus{Phase: p, AmountMinor: amount, OutTradeNo: "OTN-1"}
}

func reservation(name string, amount int64) v1.RefundReservation {
	return v1.RefundReservation{Name: name, OutRefundNo: "ORN-" + name, AmountMinor: amount}
}

// TestReserveNeverMoreThanPaid: reservations are the guard against over-refunding; the sum of
// what is reserved and refunded never passes what was paid.
func TestReserveNeverMoreThanPaid(t *testing.T) {
	s := order(v1.PhasePaid, 1000)
	var err error
	for _, name := range []string{"a", "b"} {
		if s, err = Reserve(s, reservation(name, 400), "CNY"); err != nil {
			t.Fatalf("reserving 400 of 1000 (%s): %v", name, err)
		}
	}
	if _, err := Reserve(s, reservation("c", 400), "CNY"); !errors.Is(err, ErrExceedsRefundable) {
		t.Fatalf("third 400 of 1000: err %v, want ErrExceedsRefundable", err)
	}
	again, err := Reserve(s, reservation("a", 400), "CNY")
	if err != nil || !equality.Semantic.DeepEqual(again, s) {
		t.Fatalf("reserving the same refund again must change nothing: err %v", err)
	}
	s = Release(s, "b")
	if s, err = Reserve(s, reservation("c", 400), "CNY"); err != nil || len(s.Refunds) != 2 {
		t.Fatalf("a released reservation frees its amount: %v (reservations %+v)", err, s.Refunds)
	}
	if _, err := Reserve(order(v1.PhaseExpired, 1000), reservation("x", 1), "CNY"); !errors.Is(err, ErrOrderNotPaid) {
		t.Fatalf("refund of an expired order: %v, want ErrOrderNotPaid", err)
	}
	refunded := order(v1.PhaseRefunded, 1000)
	refunded.Refunds = []v1.RefundReservation{{Name: "all", OutRefundNo: "ORN-all", AmountMinor: 1000, State: v1.RefundCommitted}}
	if _, err := Reserve(refunded, reservation("more", 1), "CNY"); !errors.Is(err, ErrExceedsRefundable) {
		t.Fatalf("refund of a fully refunded order: %v, want ErrExceedsRefundable (it was paid; nothing is left)", err)
	}
}

// TestCommitRefundMovesThePhase: Paid -> PartiallyRefunded -> Refunded as refunds succeed, each
// counted once.
func TestCommitRefundMovesThePhase(t *testing.T) {
	s := order(v1.PhasePaid, 1000)
	s, _ = Reserve(s, reservation("a", 400), "CNY")
	s, _ = Reserve(s, reservation("b", 600), "CNY")
	s, changed, err := CommitRefund(s, "a", "CNY", t0, v1.SourceController)
	if err != nil || !changed || s.Phase != v1.PhasePartiallyRefunded || s.RefundedAmountMinor != 400 || s.RefundedAmount != "4.00" {
		t.Fatalf("first refund: phase %q refunded %d %q changed=%v err=%v", s.Phase, s.RefundedAmountMinor, s.RefundedAmount, changed, err)
	}
	if again, changed, _ := CommitRefund(s, "a", "CNY", t0, v1.SourceController); changed || !equality.Semantic.DeepEqual(again, s) {
		t.Fatal("committing the same refund twice counted it twice")
	}
	s, _, err = CommitRefund(s, "b", "CNY", t0, v1.SourceController)
	if err != nil || s.Phase != v1.PhaseRefunded || s.RefundedAmountMinor != 1000 {
		t.Fatalf("second refund: phase %q refunded %d err=%v, want Refunded 1000", s.Phase, s.RefundedAmountMinor, err)
	}
}

// TestLatePaymentRefund: a refund of a late payment gives back that money, leaves the order's
// phase alone, and clears the LatePayment condition once every late payment is refunded.
func TestLatePaymentRefund(t *testing.T) {
	ev := event(Succeeded, expires.Add(time.Minute))
	s, _, err := Next(status(v1.PhaseExpired), ev)
	if err != nil {
		t.Fatal(err)
	}
	r := reservation("late", 1000)
	r.LatePaymentID = "txn_1"
	if _, err := Reserve(s, v1.RefundReservation{Name: "more", OutRefundNo: "ORN-more", AmountMinor: 1001, LatePaymentID: "txn_1"}, "CNY"); !errors.Is(err, ErrExceedsRefundable) {
		t.Fatalf("refunding more than the late payment: %v, want ErrExceedsRefundable", err)
	}
	if s, err = Reserve(s, r, "CNY"); err != nil {
		t.Fatal(err)
	}
	s, changed, err := CommitRefund(s, "late", "CNY", t0, v1.SourceController)
	if err != nil || !changed || s.Phase != v1.PhaseExpired || !s.LatePayments[0].Refunded || s.RefundedAmountMinor != 0 {
		t.Fatalf("late refund: phase %q late %+v refunded %d err %v", s.Phase, s.LatePayments, s.RefundedAmountMinor, err)
	}
	if meta.IsStatusConditionTrue(s.Conditions, v1.ConditionLatePayment) {
		t.Fatal("LatePayment still True after every late payment was refunded")
	}
}
