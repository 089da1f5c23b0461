package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
)

// snapshot is the end state, read before anything is stopped: the orders and refunds from the
// API server (not a cache) and, from the gateway, its stats and each order's payment and each
// refund as the gateway sees them.
type snapshot struct {
	orders   []v1.PaymentOrder
	refunds  []v1.PaymentRefund
	stats    gateway.Stats
	payments map[string]gateway.Payment // by out_trade_no
	// gatewayRefunds are the gateway's refunds by out_refund_no, for the refunds that have one.
	gatewayRefunds map[string]gateway.Refund
}

func (s *soak) collect(ctx context.Context) (*snapshot, error) {
	snap := &snapshot{payments: map[string]gateway.Payment{}, gatewayRefunds: map[string]gateway.Refund{}}
	list := &v1.PaymentOrderList{}
	if err := s.env.Client.List(ctx, list, client.InNamespace(soakNamespace)); err != nil {
		return nil, err
	}
	snap.orders = list.Items
	refunds := &v1.PaymentRefundList{}
	if err := s.env.Client.List(ctx, refunds, client.InNamespace(soakNamespace)); err != nil {
		return nil, err
	}
	snap.refunds = refunds.Items
	var err error
	if snap.stats, err = s.gatewayStats(); err != nil {
		return nil, fmt.Errorf("reading the gateway's stats: %w", err)
	}
	var mu sync.Mutex
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	httpc := &http.Client{Timeout: 15 * time.Second}
	for _, o := range snap.orders {
		if o.Status.OutTradeNo == "" {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			p, err := lookupPayment(ctx, httpc, s.addr.gatewayURL(), o.Status.OutTradeNo)
			if err != nil {
				return // no payment: reported by verify
			}
			mu.Lock()
			snap.payments[o.Status.OutTradeNo] = p
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := s.collectRefunds(ctx, httpc, snap); err != nil {
		return nil, err
	}
	return snap, ctx.Err()
}

func lookupPayment(ctx context.Context, c *http.Client, base, outTradeNo string) (gateway.Payment, error) {
	var p gateway.Payment
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/payments?out_trade_no="+url.QueryEscape(outTradeNo), nil)
	req.Header.Set("Authorization", "Bearer "+soakAPIKey)
	resp, err := c.Do(req)
	if err != nil {
		return p, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return p, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return p, json.NewDecoder(resp.Body).Decode(&p)
}

// verify checks the end state against the gateway's truth (which payments succeeded and which
// were closed) and returns the figures with every failed check spelled out.
func (s *soak) verify(snap *snapshot) (*Results, []string) {
	v := &verdict{r: &Results{Orders: len(s.plan.orders)}, examples: map[string]int{}}
	r := v.r
	for _, e := range s.plan.errors {
		v.example("create", "%s", e)
	}
	if len(snap.orders) != r.Orders {
		v.failf("%d orders exist, %d were planned", len(snap.orders), r.Orders)
	}
	for i := range snap.orders {
		o := &snap.orders[i]
		p, ok := snap.payments[o.Status.OutTradeNo]
		v.checkOrder(o, p, ok, s.plan.pay[o.Name], s.plan.late[o.Name])
	}
	r.Lost += r.Stuck
	v.checkGateway(snap.stats)
	v.checkRefunds(snap, s.plan)
	s.checkProcesses(v)
	v.checkTotals()
	r.FailedChecks = len(v.failures)
	return r, v.failures
}

// verdict collects the figures and the failed checks of one verification.
type verdict struct {
	r        *Results
	failures []string
	// examples counts the failures of each kind, so one systematic bug lists five of them
	// rather than a thousand lines.
	examples map[string]int
}

func (v *verdict) failf(format string, a ...any) {
	v.failures = append(v.failures, fmt.Sprintf(format, a...))
}

// example records a failure of kind, listing only the first five of each kind.
func (v *verdict) example(kind, format string, a ...any) {
	if v.examples[kind]++; v.examples[kind] <= 5 {
		v.failf(kind+": "+format, a...)
	}
}

// paidPhase reports whether an order in phase p was paid: Paid, or refunded in part or in full
// since.
func paidPhase(p v1.Phase) bool {
	return p == v1.PhasePaid || p == v1.PhasePartiallyRefunded || p == v1.PhaseRefunded
}

// checkOrder counts one order's transitions and checks it against its payment at the gateway
// (found false when the gateway has none); meantToPay says whether the customer paid it, paidLate
// whether the customer paid it after it expired.
func (v *verdict) checkOrder(o *v1.PaymentOrder, p gateway.Payment, found, meantToPay, paidLate bool) {
	r := v.r
	paidEntries := v.countHistory(o)
	r.countPhase(o.Status.Phase)
	r.observeTimes(o)
	if paidEntries > 1 {
		r.DoubleApplied++
		v.example("double_applied", "%s has %d history entries to Paid", o.Name, paidEntries)
	}
	if !o.Status.Phase.Terminal() {
		r.Stuck++
		v.example("stuck", "%s is still %q", o.Name, o.Status.Phase)
	}
	if !found {
		r.MissingPayments++
		v.example("missing_payment", "%s (outTradeNo %q) has no payment at the gateway", o.Name, o.Status.OutTradeNo)
		return
	}
	v.checkPayment(o, p, paidEntries, meantToPay, paidLate)
}

// countPhase counts an order's end phase.
func (r *Results) countPhase(phase v1.Phase) {
	switch phase {
	case v1.PhasePaid:
		r.Paid++
	case v1.PhasePartiallyRefunded:
		r.Paid++
		r.PartiallyRefundedOrders++
	case v1.PhaseRefunded:
		r.Paid++
		r.RefundedOrders++
	case v1.PhaseExpired:
		r.Expired++
	}
}

// checkPayment checks an order's phase and late payments against its payment at the gateway:
// paid on time (checkPaid), paid late (the order stays Expired) or closed (Expired).
func (v *verdict) checkPayment(o *v1.PaymentOrder, p gateway.Payment, paidEntries int, meantToPay, paidLate bool) {
	r := v.r
	switch {
	case p.Status == gateway.StatusSucceeded && p.Late:
		r.LatePaidAtGateway++
		if o.Status.Phase != v1.PhaseExpired || !paidLate {
			r.WrongState++
			v.example("wrong_state", "%s's payment %s was paid late but the order is %q (planned to be paid late: %v)", o.Name, p.ID, o.Status.Phase, paidLate)
		}
	case p.Status == gateway.StatusSucceeded:
		r.PaidAtGateway++
		v.checkPaid(o, p, paidEntries, meantToPay)
	case p.Status == gateway.StatusClosed:
		r.ClosedAtGateway++
		if o.Status.Phase != v1.PhaseExpired {
			r.WrongState++
			v.example("wrong_state", "%s's payment %s is closed but the order is %q", o.Name, p.ID, o.Status.Phase)
		}
		if paidLate {
			r.WrongState++
			v.example("wrong_state", "%s was to be paid late but its payment %s is still closed at the gateway", o.Name, p.ID)
		}
	default:
		r.WrongState++
		v.example("wrong_state", "%s's payment %s is %q at the end (order %q): neither paid nor closed", o.Name, p.ID, p.Status, o.Status.Phase)
	}
	if paidPhase(o.Status.Phase) && (p.Status != gateway.StatusSucceeded || p.Late) {
		r.WrongState++
		v.example("wrong_state", "%s is %s but its payment %s is %q (late %v) at the gateway", o.Name, o.Status.Phase, p.ID, p.Status, p.Late)
	}
	if len(o.Status.LatePayments) > 0 && !p.Late {
		r.WrongState++
		v.example("wrong_state", "%s records %d late payments but its payment %s was not paid late", o.Name, len(o.Status.LatePayments), p.ID)
	}
}

// countHistory counts the order's transitions to Paid and Expired by who applied them, and
// returns how many went to Paid: more than one is a double application. Transitions to
// PartiallyRefunded and Refunded are checked against the refunds by checkLedger.
func (v *verdict) countHistory(o *v1.PaymentOrder) (paidEntries int) {
	r := v.r
	for _, h := range o.Status.History {
		switch h.To {
		case v1.PhasePaid:
			paidEntries++
			switch h.Source {
			case v1.SourceNotification:
				r.NotificationsApplied++
			case v1.SourceQuery:
				r.QueryApplied++
			default:
				r.ControllerApplied++
			}
		case v1.PhaseExpired:
			// Expired -> Expired is a late payment's record (reason LatePayment), not an expiry.
			if h.From == v1.PhaseExpired {
				continue
			}
			if h.Source == v1.SourceNotification {
				r.ExpiredByNotification++
			} else {
				r.ExpiredByController++
			}
		}
	}
	return paidEntries
}

// checkPaid checks an order whose payment succeeded at the gateway: it must be Paid once, with
// the gateway's amount, payment id and time, and the customer must have meant to pay it.
func (v *verdict) checkPaid(o *v1.PaymentOrder, p gateway.Payment, paidEntries int, meantToPay bool) {
	r := v.r
	// What the order records of the payment must be the gateway's: amount, payment id, time.
	if paidPhase(o.Status.Phase) && (o.Status.PaidAmount != o.Spec.Amount || o.Status.ProviderPaymentID != p.ID ||
		o.Status.PaidAt == nil || !o.Status.PaidAt.Time.Equal(p.PaidAt)) {
		r.PaidMismatch++
		v.example("paid_mismatch", "%s records %s paid at %v by %s; the gateway has %d minor units paid at %v by %s",
			o.Name, o.Status.PaidAmount, o.Status.PaidAt, o.Status.ProviderPaymentID, p.Amount, p.PaidAt, p.ID)
	}
	if !meantToPay {
		v.example("wrong_state", "%s was paid at the gateway but the customer never meant to pay it", o.Name)
		r.WrongState++
	}
	if !paidPhase(o.Status.Phase) || paidEntries != 1 {
		if !paidPhase(o.Status.Phase) && o.Status.Phase.Terminal() {
			r.Lost++ // stuck ones are counted below
		}
		v.example("lost", "%s was paid at the gateway (%s) but is %q with %d Paid entries", o.Name, p.ID, o.Status.Phase, paidEntries)
	}
}

// checkGateway checks the gateway's own counts: exactly one payment per order, no create
// refused as a conflict, and every notification delivered (acknowledged, none pending, none
// given up).
func (v *verdict) checkGateway(st gateway.Stats) {
	r := v.r
	r.GatewayPayments = st.PaymentsTotal
	for otn, n := range st.PaymentsByOutTradeNo {
		if n > 1 {
			r.DuplicatePayments += n - 1
			v.example("duplicate_payment", "out_trade_no %s has %d payments", otn, n)
		}
	}
	r.CreateReplays, r.CreateConflicts = int(st.CreateReplaysTotal), int(st.CreateConflictsTotal)
	if st.CreateConflictsTotal != 0 {
		v.failf("the gateway refused %d creates as idempotency conflicts: a retried create changed its request", st.CreateConflictsTotal)
	}
	if st.PaymentsTotal != r.Orders {
		v.failf("the gateway holds %d payments for %d orders", st.PaymentsTotal, r.Orders)
	}

	r.NotificationEvents = len(st.Deliveries)
	r.AckedDeliveries, r.DeliveriesPending, r.DeliveriesGivenUp = st.DeliveriesAcked, st.DeliveriesPending, st.DeliveriesGivenUp
	for _, d := range st.Deliveries {
		r.Deliveries += len(d.Attempts)
		for _, a := range d.Attempts {
			if a.Dropped {
				r.DroppedAttempts++
			}
		}
		if !d.Acked {
			v.example("undelivered", "%s event %s (out_trade_no %s) not acknowledged after %d attempts (given up %v)", d.Type, d.EventID, d.OutTradeNo, len(d.Attempts), d.GaveUp)
		}
	}
	r.LostNotifications = st.DeliveriesPending + st.DeliveriesGivenUp
}

// checkProcesses checks the processes and the chaos: no exit but the planned kills, all three
// restarts done, and the customer told of exactly the payments the gateway has.
func (s *soak) checkProcesses(v *verdict) {
	r := v.r
	_, r.Restarts, _ = s.chaos.state()
	for _, m := range append([]*service{s.gateway}, s.managers[:]...) {
		r.UnexpectedExits += len(m.crashes)
		for _, c := range m.crashes {
			v.failf("unexpected exit: %s", c)
		}
	}
	if r.Restarts != 3 {
		v.failf("%d restarts performed, 3 planned", r.Restarts)
	}
	r.CustomerPaid, r.CustomerRefused, r.CustomerGaveUp = int(s.customer.paid.Load()), int(s.customer.refused.Load()), int(s.customer.failed.Load())
	if r.CustomerPaid != r.PaidAtGateway {
		v.failf("the customer was told %d payments succeeded, the gateway has %d", r.CustomerPaid, r.PaidAtGateway)
	}
	r.CustomerPaidLate = int(s.customer.latePaid.Load())
	if r.CustomerPaidLate != len(s.plan.late) || r.CustomerPaidLate != r.LatePaidAtGateway {
		v.failf("%d late payments planned; the customer was told %d succeeded (%d refused, %d given up), the gateway has %d paid late",
			len(s.plan.late), r.CustomerPaidLate, s.customer.lateRefused.Load(), s.customer.lateFailed.Load(), r.LatePaidAtGateway)
	}
	if r.LatePayments != r.LatePaidAtGateway || r.LatePaymentRefunds != r.LatePayments {
		v.failf("%d payments paid late at the gateway; the orders record %d late payments, kubepay's refunds of them succeeded %d times",
			r.LatePaidAtGateway, r.LatePayments, r.LatePaymentRefunds)
	}
	for _, e := range s.refunder.failures() {
		v.example("refund_create", "%s", e)
	}
	if requested := int(s.refunder.requested.Load()); requested != r.RefundsPlanned || r.RefundsRequested != r.RefundsPlanned {
		v.failf("%d refunds planned (of orders that reached the phase they wait for); the API server accepted %d and %d PaymentRefunds exist",
			r.RefundsPlanned, requested, r.RefundsRequested)
	}
	r.ProxyRequests, r.Proxy502 = int(s.proxy.perBackend[0].Load()+s.proxy.perBackend[1].Load()), int(s.proxy.badGateway.Load())
}

// checkTotals says how many failures of each kind there were beyond the five listed, and
// checks that the order phases add up to the gateway's payments.
func (v *verdict) checkTotals() {
	r := v.r
	for kind, n := range map[string]int{"paid_mismatch": r.PaidMismatch, "double_applied": r.DoubleApplied, "lost": r.Lost, "stuck": r.Stuck,
		"wrong_state": r.WrongState, "missing_payment": r.MissingPayments, "duplicate_payment": r.DuplicatePayments,
		"undelivered": r.LostNotifications, "refund_unexpected": r.RefundsUnexpected, "refund_stuck": r.RefundsStuck,
		"refund_mismatch": r.RefundMismatch, "refund_ledger": r.RefundLedgerMismatch, "over_refund": r.OverRefunds,
		"refund_executed_twice": r.RefundsExecutedTwice, "late_payment_unrefunded": r.LatePaymentsUnrefunded} {
		if n > 5 {
			v.failf("%s: %d in all (first 5 listed)", kind, n)
		}
	}
	if r.Paid != r.PaidAtGateway || r.Expired != r.ClosedAtGateway+r.LatePaidAtGateway || r.Paid+r.Expired != r.Orders {
		v.failf("%d paid (Paid or refunded) + %d Expired orders; the gateway has %d succeeded, %d closed and %d paid-late payments for %d orders",
			r.Paid, r.Expired, r.PaidAtGateway, r.ClosedAtGateway, r.LatePaidAtGateway, r.Orders)
	}
}

// observeTimes records how long the order waited at each step, from its history (second
// precision): created to AwaitingPayment (a leader failover shows here), the customer's payment
// to Paid, and expiresAt to Expired.
func (r *Results) observeTimes(o *v1.PaymentOrder) {
	for _, h := range o.Status.History {
		var d time.Duration
		switch {
		case h.To == v1.PhaseAwaitingPayment:
			d = h.Time.Sub(o.CreationTimestamp.Time)
			r.MaxToAwaitingS = max(r.MaxToAwaitingS, d.Seconds())
		case h.To == v1.PhasePaid && o.Status.PaidAt != nil:
			d = h.Time.Sub(o.Status.PaidAt.Time)
			r.MaxPayToPaidS = max(r.MaxPayToPaidS, d.Seconds())
		case h.To == v1.PhaseExpired && o.Status.ExpiresAt != nil:
			d = h.Time.Sub(o.Status.ExpiresAt.Time)
			r.MaxExpiryLatenessS = max(r.MaxExpiryLatenessS, d.Seconds())
		}
	}
}
