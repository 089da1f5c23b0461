package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/money"
)

// refundKind is what the merchant does with one order's money.
type refundKind string

const (
	refundNone refundKind = ""
	// refundPartial is one refund of 10% to 90%: the order ends PartiallyRefunded.
	refundPartial refundKind = "partial"
	// refundFull is one refund of everything: Refunded.
	refundFull refundKind = "full"
	// refundSplit is two refunds at once that add up to everything: both succeed, Refunded.
	refundSplit refundKind = "split"
	// refundOver is three refunds of 40% at once, 120% together: two succeed, one is refused
	// ExceedsRefundable, whichever loses the race for the order's ledger.
	refundOver refundKind = "over"
	// refundDupID is two refunds at once (30% and 20%) with the same spec.refundID, so the same
	// out_refund_no: one succeeds, the other is refused DuplicateRefundID.
	refundDupID refundKind = "dup_id"
	// refundUnpaid is one refund of an order that expired unpaid: refused OrderNotPaid.
	refundUnpaid refundKind = "unpaid"
)

// The kinds in the order the paid orders (and the unpaid ones) take them, round and round: every
// run with 20 paid and 10 unpaid orders has each kind, in these proportions, whatever the seed.
// A quarter of the paid orders are refunded (about 9 refunds for every 20 paid orders); of the
// unpaid ones, 1 in 5 is paid late and 1 in 10 refunded. More would not test more, only load the
// leader until orders created right after a failover expire before their payment is made (on
// 2 shared cores, half the paid orders refunded did).
var (
	paidCycle   = []refundKind{refundPartial, "", "", "", refundOver, "", "", "", refundFull, "", "", "", refundSplit, "", "", "", refundDupID, "", "", ""}
	unpaidCycle = []string{"late", "", "", "", string(refundUnpaid), "", "late", "", "", ""}
)

// refundPlan is the refunds one order gets.
type refundPlan struct {
	kind refundKind
	// amounts are the refunds' amounts in minor units; they are created at the same moment.
	amounts []int64
	// refundID, when set, is every one of the refunds' spec.refundID.
	refundID string
	// delay is how long after the order is seen Paid (or Expired) the refunds are created. A
	// quarter are created at once, as an app reacting to the Paid event would.
	delay time.Duration
}

// cannotRun reports whether refunds planned this way can never start for an order that ended
// in phase: refunds of a payment whose order was never paid (the customer's payment came too
// late, as it can when the machine stalls), or refunds of an unpaid order that was paid after all.
func (rp refundPlan) cannotRun(phase v1.Phase) bool {
	if !phase.Terminal() {
		return false
	}
	if rp.kind == refundUnpaid {
		return phase != v1.PhaseExpired
	}
	return !paidPhase(phase)
}

// expected is what must become of the plan's refunds: how many succeed, the reasons of the
// others, and the totals the order may end with refunded (either amount for dup_id).
func (rp refundPlan) expected(paid int64) (succeeded int, refused map[string]int, totals []int64) {
	switch rp.kind {
	case refundPartial:
		return 1, nil, []int64{rp.amounts[0]}
	case refundFull, refundSplit:
		return len(rp.amounts), nil, []int64{paid}
	case refundOver:
		return 2, map[string]int{v1.ReasonExceedsRefundable: 1}, []int64{2 * rp.amounts[0]}
	case refundDupID:
		return 1, map[string]int{v1.ReasonDuplicateRefundID: 1}, rp.amounts
	case refundUnpaid:
		return 0, map[string]int{v1.ReasonOrderNotPaid: 1}, []int64{0}
	}
	return 0, nil, []int64{0}
}

// planRefunds decides order i's refunds (or late payment) from the cycles and the seed.
func (p *plan) planRefunds(rng *rand.Rand, i int, o *v1.PaymentOrder) {
	paid, err := money.ToMinor(o.Spec.Amount, o.Spec.Currency)
	if err != nil {
		p.errors = append(p.errors, fmt.Sprintf("planning refunds of %s: %v", o.Name, err))
		return
	}
	var kind refundKind
	if p.pay[o.Name] {
		kind = paidCycle[p.paidSeen%len(paidCycle)]
		p.paidSeen++
	} else {
		switch unpaidCycle[p.unpaidSeen%len(unpaidCycle)] {
		case "late":
			p.late[o.Name] = true
		case string(refundUnpaid):
			kind = refundUnpaid
		}
		p.unpaidSeen++
	}
	if kind == refundNone {
		return
	}
	rp := refundPlan{kind: kind}
	if rng.IntN(4) > 0 {
		rp.delay = 200*time.Millisecond + time.Duration(rng.Int64N(int64(4*time.Second)))
	}
	// Every amount is at least 100 minor units, so each share below is at least one unit and
	// three 40% shares always exceed the whole.
	switch kind {
	case refundPartial:
		rp.amounts = []int64{paid * int64(10+rng.IntN(81)) / 100}
	case refundFull:
		rp.amounts = []int64{paid}
	case refundSplit:
		first := paid * int64(20+rng.IntN(61)) / 100
		rp.amounts = []int64{first, paid - first}
	case refundOver:
		share := paid * 40 / 100
		rp.amounts = []int64{share, share, share}
	case refundDupID:
		rp.amounts = []int64{paid * 30 / 100, paid * 20 / 100}
		rp.refundID = fmt.Sprintf("soak_dup_%05d", i)
	case refundUnpaid:
		rp.amounts = []int64{paid}
	}
	p.refunds[o.Name] = rp
}

// refunder plays the merchant's back office: it watches the orders and, when an order it planned
// to refund is Paid (Expired for refundUnpaid), creates that order's PaymentRefunds, all at the
// same moment.
type refunder struct {
	s *soak
	// seen holds the orders already handled, so a watch update never refunds twice.
	mu   sync.Mutex
	seen map[string]bool
	wg   sync.WaitGroup
	// active counts the orders whose refunds are being created, requested the PaymentRefunds the
	// API server accepted.
	active, requested atomic.Int64
	errMu             sync.Mutex
	errors            []string
}

func newRefunder(s *soak) *refunder { return &refunder{s: s, seen: map[string]bool{}} }

// hasStarted reports whether the order's refunds were started.
func (r *refunder) hasStarted(order string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[order]
}

// onChange starts an order's refunds the first time it is seen in the phase they wait for.
func (r *refunder) onChange(ctx context.Context, o *v1.PaymentOrder) {
	rp, ok := r.s.plan.refunds[o.Name]
	if !ok {
		return
	}
	want := v1.PhasePaid
	if rp.kind == refundUnpaid {
		want = v1.PhaseExpired
	}
	if o.Status.Phase != want {
		return
	}
	r.mu.Lock()
	dup := r.seen[o.Name]
	r.seen[o.Name] = true
	r.mu.Unlock()
	if dup {
		return
	}
	r.active.Add(1)
	r.wg.Go(func() {
		defer r.active.Add(-1)
		if sleep(ctx, rp.delay) != nil {
			return
		}
		r.create(ctx, o, rp)
	})
}

// create creates the order's refunds concurrently, released together so they reach the
// managers as close to the same moment as the API server allows.
func (r *refunder) create(ctx context.Context, o *v1.PaymentOrder, rp refundPlan) {
	release := make(chan struct{})
	var wg sync.WaitGroup
	for j, minor := range rp.amounts {
		amount, err := money.FromMinor(minor, o.Spec.Currency)
		if err != nil {
			r.fail("refund %d of %s: %v", j+1, o.Name, err)
			continue
		}
		ref := &v1.PaymentRefund{
			ObjectMeta: metav1.ObjectMeta{Namespace: soakNamespace, Name: fmt.Sprintf("%s-r%d", o.Name, j+1)},
			Spec: v1.PaymentRefundSpec{OrderRef: v1.LocalObjectReference{Name: o.Name}, Amount: amount,
				Reason: "soak " + string(rp.kind), RefundID: rp.refundID},
		}
		wg.Go(func() {
			<-release
			r.createOne(ctx, ref)
		})
	}
	close(release)
	wg.Wait()
}

// createOne creates one PaymentRefund, retried briefly: the API server is not under test.
func (r *refunder) createOne(ctx context.Context, ref *v1.PaymentRefund) {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		// AlreadyExists: an earlier attempt was created but its answer was lost.
		if err = r.s.env.Client.Create(ctx, ref.DeepCopy()); err == nil || apierrors.IsAlreadyExists(err) {
			r.requested.Add(1)
			return
		}
		if sleep(ctx, time.Second) != nil {
			return
		}
	}
	r.fail("creating PaymentRefund %s of %s: %v", ref.Name, ref.Spec.OrderRef.Name, err)
}

func (r *refunder) fail(format string, a ...any) {
	r.errMu.Lock()
	r.errors = append(r.errors, fmt.Sprintf(format, a...))
	r.errMu.Unlock()
}

// failures returns the refunds that could not be created.
func (r *refunder) failures() []string {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return slices.Clone(r.errors)
}

// refundSummary says what the plan does with the orders' money.
func (p *plan) refundSummary() string {
	kinds := map[refundKind]int{}
	refunds := 0
	for _, rp := range p.refunds {
		kinds[rp.kind]++
		refunds += len(rp.amounts)
	}
	return fmt.Sprintf("%d refunds of %d orders (%d partial, %d full, %d split in two, %d over-refunded by three 40%% refunds at once, "+
		"%d with one refund number twice, %d of unpaid orders); %d orders paid late",
		refunds, len(p.refunds), kinds[refundPartial], kinds[refundFull], kinds[refundSplit], kinds[refundOver], kinds[refundDupID], kinds[refundUnpaid], len(p.late))
}
