package statemachine

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
)

var (
	t0      = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	expires = t0.Add(30 * time.Minute)
)

var allPhases = []v1.Phase{"", v1.PhasePending, v1.PhaseAwaitingPayment, v1.PhasePaid, v1.PhaseFailed,
	v1.PhaseExpired, v1.PhaseCancelled, v1.PhasePartiallyRefunded, v1.PhaseRefunded}

func event(t EventType, at time.Time) Event {
	return Event{Type: t, Source: v1.SourceController, At: at, OutTradeNo: "OTN-1", AmountMinor: 1000,
		ExpiresAt: expires, ProviderPaymentID: "pay_1", PaymentURL: "http://gw/checkout/pay_1", PaidAmount: "10.00",
		PaidAmountMinor: 1000, TransactionID: "txn_1"}
}

func status(p v1.Phase) v1.PaymentOrderStatus {
	s := v1.PaymentOrderStatus{Phase: p}
	if p != "" {
		e := metav1.NewTime(expires)
		s.OutTradeNo, s.AmountMinor, s.ExpiresAt = "OTN-1", 1000, &e
	}
	return s
}

// late marks a cell where money moved for a closed order: the phase stays, the payment is
// recorded in status.latePayments.
const late = v1.Phase("<late>")

// TestNextEveryPhaseEveryEvent is the whole transition table: every phase x every event. "" in
// the table means "no change" (duplicate, stale or out-of-order event).
func TestNextEveryPhaseEveryEvent(t *testing.T) {
	before, after := t0.Add(time.Minute), expires.Add(time.Second)
	type cell struct {
		ev   EventType
		at   time.Time
		want map[v1.Phase]v1.Phase
		why  string
	}
	table := []cell{
		{Initialized, before, map[v1.Phase]v1.Phase{"": v1.PhasePending},
			"only a fresh order is initialised; re-initialising would change outTradeNo, the idempotency key"},
		{Created, before, map[v1.Phase]v1.Phase{v1.PhasePending: v1.PhaseAwaitingPayment},
			"a create result is recorded once; a repeat or one arriving after a notification is stale"},
		{CreateRejected, before, map[v1.Phase]v1.Phase{"": v1.PhaseFailed, v1.PhasePending: v1.PhaseFailed},
			"only an order that never got a payment can fail at create (a fresh one when its orderID is taken)"},
		{Succeeded, before, map[v1.Phase]v1.Phase{v1.PhasePending: v1.PhasePaid, v1.PhaseAwaitingPayment: v1.PhasePaid,
			v1.PhaseFailed: late, v1.PhaseExpired: late, v1.PhaseCancelled: late},
			"money moved: paid from any open phase (Pending when the create answer was lost); on a closed order it is recorded as a late payment, never a phase change"},
		{PaymentFailed, before, map[v1.Phase]v1.Phase{v1.PhasePending: v1.PhaseFailed, v1.PhaseAwaitingPayment: v1.PhaseFailed},
			"a failure after Paid is out of order and changes nothing"},
		{Closed, before, map[v1.Phase]v1.Phase{v1.PhasePending: v1.PhaseCancelled, v1.PhaseAwaitingPayment: v1.PhaseCancelled},
			"closed by someone else before expiry: cancelled"},
		{Closed, after, map[v1.Phase]v1.Phase{v1.PhasePending: v1.PhaseExpired, v1.PhaseAwaitingPayment: v1.PhaseExpired},
			"the close notification of our own expiry close agrees with the controller: Expired"},
		{ExpiryReached, after, map[v1.Phase]v1.Phase{v1.PhasePending: v1.PhaseExpired, v1.PhaseAwaitingPayment: v1.PhaseExpired},
			"expiry closes only open orders; a paid order never expires"},
	}
	for _, c := range table {
		for _, from := range allPhases {
			want := c.want[from]
			t.Run(fmt.Sprintf("%s/%s/from=%q", c.ev, c.at.Format("15:04:05"), from), func(t *testing.T) {
				cur := status(from)
				got, changed, err := Next(cur, event(c.ev, c.at))
				switch want {
				case late:
					if err != nil || !changed || got.Phase != from || len(got.LatePayments) != 1 {
						t.Fatalf("%s: want the phase kept and one late payment, got phase=%q late=%+v changed=%v err=%v", c.why, got.Phase, got.LatePayments, changed, err)
					}
					lp := got.LatePayments[0]
					if lp.ID != "txn_1" || lp.AmountMinor != 1000 || lp.Amount != "10.00" || lp.Phase != from || !lp.ReceivedAt.Time.Equal(c.at) {
						t.Fatalf("late payment record %+v does not carry the transaction, amount, phase and time", lp)
					}
					if cond := meta.FindStatusCondition(got.Conditions, v1.ConditionLatePayment); cond == nil || cond.Status != metav1.ConditionTrue {
						t.Fatalf("late payment without a True %s condition: %+v", v1.ConditionLatePayment, got.Conditions)
					}
				case "":
					if err != nil || changed || !equality.Semantic.DeepEqual(got, cur) {
						t.Fatalf("%s: want no change, got phase=%q changed=%v err=%v", c.why, got.Phase, changed, err)
					}
				default:
					if err != nil || !changed || got.Phase != want {
						t.Fatalf("%s: want %q, got phase=%q changed=%v err=%v", c.why, want, got.Phase, changed, err)
					}
					last := got.History[len(got.History)-1]
					if last.From != from || last.To != want || !last.Time.Time.Equal(c.at) {
						t.Fatalf("history entry %+v does not record %q -> %q at %v", last, from, want, c.at)
					}
					if cond := meta.FindStatusCondition(got.Conditions, v1.ConditionReady); cond == nil {
						t.Fatal("transition did not set the Ready condition")
					}
				}
				if len(cur.History) != 0 {
					t.Fatal("Next modified its input")
				}
			})
		}
	}
}

func TestNextDuplicateNotificationIsNoChange(t *testing.T) {
	ev := event(Succeeded, t0)
	ev.Source, ev.NotificationID, ev.NotificationType = v1.SourceNotification, "evt_1", "payment.succeeded"
	paid, changed, err := Next(status(v1.PhaseAwaitingPayment), ev)
	if err != nil || !changed {
		t.Fatalf("first delivery: changed=%v err=%v", changed, err)
	}
	if paid.LastNotification == nil || paid.LastNotification.ID != "evt_1" || paid.PaidAt == nil || paid.PaidAmount != "10.00" {
		t.Fatalf("paid status lacks notification/paidAt/paidAmount: %+v", paid)
	}
	for i, dup := range []Event{ev, func() Event { e := ev; e.At = t0.Add(time.Hour); return e }()} {
		again, changed, err := Next(paid, dup)
		if err != nil || changed || !equality.Semantic.DeepEqual(again, paid) {
			t.Fatalf("redelivery %d changed the order: changed=%v err=%v", i, changed, err)
		}
	}
	// A different notification id that says the same thing is stale, not a second transition.
	other := ev
	other.NotificationID = "evt_2"
	if _, changed, err := Next(paid, other); changed || err != nil {
		t.Fatalf("second success notification: changed=%v err=%v", changed, err)
	}
}

func TestNextLatePaymentRecordedOnce(t *testing.T) {
	ev := event(Succeeded, expires.Add(time.Minute))
	ev.Source, ev.NotificationID = v1.SourceNotification, "evt_late"
	first, changed, err := Next(status(v1.PhaseExpired), ev)
	if err != nil || !changed || len(first.LatePayments) != 1 {
		t.Fatalf("first report: changed=%v err=%v late=%+v", changed, err, first.LatePayments)
	}
	// The provider's retry of the same notification, and a query finding the same payment, are
	// the same money: no second record.
	retry := ev
	retry.At = ev.At.Add(time.Minute)
	query := ev
	query.Source, query.NotificationID = v1.SourceQuery, ""
	for name, again := range map[string]Event{"redelivery": retry, "query": query} {
		got, changed, err := Next(first, again)
		if err != nil || changed || len(got.LatePayments) != 1 {
			t.Fatalf("%s of the same late payment: changed=%v err=%v late=%+v", name, changed, err, got.LatePayments)
		}
	}
	// Another payment (the customer paid twice) is recorded too, up to the bound.
	s := first
	for i := 0; len(s.LatePayments) < v1.MaxLatePayments; i++ {
		other := ev
		other.NotificationID, other.TransactionID = fmt.Sprintf("evt_%d", i), fmt.Sprintf("txn_other_%d", i)
		if s, changed, err = Next(s, other); err != nil || !changed {
			t.Fatalf("late payment %d: changed=%v err=%v", i, changed, err)
		}
	}
	over := ev
	over.NotificationID, over.TransactionID = "evt_over", "txn_over"
	if _, changed, err := Next(s, over); !errors.Is(err, ErrTooManyLatePayments) || changed {
		t.Fatalf("late payment past the bound: want ErrTooManyLatePayments and no change, got changed=%v err=%v", changed, err)
	}
}

func TestNextPaidRecordsTheTransaction(t *testing.T) {
	got, _, err := Next(status(v1.PhaseAwaitingPayment), event(Succeeded, t0))
	if err != nil || got.ProviderTransactionID != "txn_1" {
		t.Fatalf("paid without the provider's transaction id: %q (err %v)", got.ProviderTransactionID, err)
	}
	created := event(Created, t0)
	created.PaymentExpiresAt = expires.Add(31 * time.Minute)
	got, _, err = Next(status(v1.PhasePending), created)
	if err != nil || got.PaymentExpiresAt == nil || !got.PaymentExpiresAt.Time.Equal(created.PaymentExpiresAt) {
		t.Fatalf("created without the provider-side expiry: %v (err %v)", got.PaymentExpiresAt, err)
	}
}

func TestNextPaidAtNeverChanges(t *testing.T) {
	first := t0.Add(-time.Minute)
	s := status(v1.PhasePending)
	s.PaidAt = &metav1.Time{Time: first}
	ev := event(Succeeded, t0)
	got, _, err := Next(s, ev)
	if err != nil || !got.PaidAt.Time.Equal(first) {
		t.Fatalf("paidAt moved from %v to %v (err %v)", first, got.PaidAt, err)
	}
}

func TestNextUsesProviderPaidAt(t *testing.T) {
	ev := event(Succeeded, t0)
	ev.PaidAt = t0.Add(-10 * time.Second)
	got, _, _ := Next(status(v1.PhaseAwaitingPayment), ev)
	if !got.PaidAt.Time.Equal(ev.PaidAt) {
		t.Fatalf("paidAt = %v, want the provider's %v", got.PaidAt, ev.PaidAt)
	}
}

func TestNextHistoryIsBounded(t *testing.T) {
	s := status(v1.PhasePending)
	for i := 0; i < v1.MaxHistory+5; i++ {
		s.History = append(s.History, v1.Transition{To: v1.PhasePending, Reason: fmt.Sprint(i)})
	}
	got, _, err := Next(s, event(Created, t0))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.History) != v1.MaxHistory || got.History[v1.MaxHistory-1].To != v1.PhaseAwaitingPayment {
		t.Fatalf("history len %d, newest %+v: want %d entries, newest last", len(got.History), got.History[len(got.History)-1], v1.MaxHistory)
	}
}

func TestNextInvalidEvents(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
	}{
		{"an event without a time cannot be ordered in history", Event{Type: Created, ProviderPaymentID: "p"}},
		{"an unknown event type is a programming error", Event{Type: "Refunded", At: t0}},
		{"Created without the provider's id would lose the payment", Event{Type: Created, At: t0}},
		{"Initialized without outTradeNo would have no idempotency key", Event{Type: Initialized, At: t0, ExpiresAt: expires, AmountMinor: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, changed, err := Next(status(v1.PhasePending), tt.ev); !errors.Is(err, ErrInvalidEvent) || changed {
				t.Fatalf("want ErrInvalidEvent, got changed=%v err=%v", changed, err)
			}
		})
	}
}

func BenchmarkNext(b *testing.B) {
	s := status(v1.PhaseAwaitingPayment)
	ev := event(Succeeded, t0)
	ev.NotificationID = "evt_1"
	b.ReportAllocs()
	for b.Loop() {
		if _, changed, _ := Next(s, ev); !changed {
			b.Fatal("no transition")
		}
	}
}
