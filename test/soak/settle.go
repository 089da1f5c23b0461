package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/localrun"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
)

// traffic starts the customer, the chaos schedule and the progress report (until stopReport),
// then creates the orders over the create window. The chaos schedule and the customer outlive
// it; settle waits for them.
func (s *soak) traffic(ctx context.Context, stopReport <-chan struct{}, reporting *sync.WaitGroup) error {
	s.plan = newPlan(s.cfg)
	fmt.Printf("  planned: %s\n", s.plan.refundSummary())
	s.chaos = &chaosLog{}
	if err := s.startCustomer(ctx); err != nil {
		reporting.Done()
		return err
	}
	go s.runChaos(ctx)
	go s.report(ctx, stopReport, reporting)
	s.createOrders(ctx)
	return ctx.Err()
}

// progress is one look at the run.
type progress struct {
	phases       map[v1.Phase]int
	refundPhases map[v1.RefundPhase]int
	// refunds counts the PaymentRefunds; reserved the refund reservations still held on orders;
	// late the late payments the orders record, lateOpen those not yet refunded; refundsWaiting
	// the orders whose planned refunds have not started but still can.
	refunds, reserved, late, lateOpen, refundsWaiting int
	stats                                             gateway.Stats
	statErr                                           error
}

func (s *soak) look(ctx context.Context) (progress, error) {
	p := progress{phases: map[v1.Phase]int{}, refundPhases: map[v1.RefundPhase]int{}}
	list := &v1.PaymentOrderList{}
	if err := s.env.Client.List(ctx, list, client.InNamespace(soakNamespace)); err != nil {
		return p, err
	}
	for _, o := range list.Items {
		p.phases[o.Status.Phase]++
		if rp, ok := s.plan.refunds[o.Name]; ok && !s.refunder.hasStarted(o.Name) && !rp.cannotRun(o.Status.Phase) {
			p.refundsWaiting++
		}
		for _, r := range o.Status.Refunds {
			if r.State == v1.RefundReserved {
				p.reserved++
			}
		}
		for _, lp := range o.Status.LatePayments {
			p.late++
			if !lp.Refunded {
				p.lateOpen++
			}
		}
	}
	refunds := &v1.PaymentRefundList{}
	if err := s.env.Client.List(ctx, refunds, client.InNamespace(soakNamespace)); err != nil {
		return p, err
	}
	p.refunds = len(refunds.Items)
	for _, r := range refunds.Items {
		p.refundPhases[r.Status.Phase]++
	}
	p.stats, p.statErr = s.gatewayStats()
	return p, nil
}

// refundsInFlight counts the PaymentRefunds not yet Succeeded or Failed.
func (p progress) refundsInFlight() int {
	return p.refunds - p.refundPhases[v1.RefundSucceeded] - p.refundPhases[v1.RefundFailed]
}

// pendingAtGateway counts the payments with a refund the gateway has not settled yet.
func (p progress) pendingAtGateway() int {
	n := 0
	for _, pr := range p.stats.RefundsByPayment {
		if pr.PendingTotal != 0 {
			n++
		}
	}
	return n
}

func (s *soak) gatewayStats() (gateway.Stats, error) {
	var st gateway.Stats
	raw, err := localrun.Get(s.addr.gatewayURL() + "/v1/stats")
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(raw, &st)
}

func (p progress) terminal() int {
	n := 0
	for phase, c := range p.phases {
		if phase.Terminal() {
			n += c
		}
	}
	return n
}

func (p progress) String() string {
	var parts []string
	for phase, c := range p.phases {
		name := string(phase)
		if name == "" {
			name = "(new)"
		}
		parts = append(parts, fmt.Sprintf("%s %d", name, c))
	}
	sort.Strings(parts)
	refunds := fmt.Sprintf("refunds: %d Succeeded, %d Failed, %d in flight, %d reserved; late payments %d (%d unrefunded)",
		p.refundPhases[v1.RefundSucceeded], p.refundPhases[v1.RefundFailed], p.refundsInFlight(), p.reserved, p.late, p.lateOpen)
	gw := fmt.Sprintf("gateway: %d payments, %d refunds, %d deliveries pending, %d acked", p.stats.PaymentsTotal, p.stats.RefundsTotal, p.stats.DeliveriesPending, p.stats.DeliveriesAcked)
	if p.statErr != nil {
		gw = "gateway: down"
	}
	return strings.Join(parts, ", ") + "; " + refunds + "; " + gw
}

// report prints progress every 15 seconds until stop is closed, and notices processes that ended
// by themselves.
func (s *soak) report(ctx context.Context, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case <-t.C:
		}
		for _, m := range append([]*service{s.gateway}, s.managers[:]...) {
			m.checkCrash()
		}
		p, err := s.look(ctx)
		if err != nil {
			continue
		}
		fmt.Printf("  t=%5.1fs  created %d/%d; %v; customer paid %d (late %d); refunds requested %d; proxy 502s %d; %s\n", time.Since(s.start).Seconds(),
			s.plan.created.Load(), len(s.plan.orders), p, s.customer.paid.Load(), s.customer.latePaid.Load(), s.refunder.requested.Load(), s.proxy.badGateway.Load(),
			s.leaderQueues())
	}
}

// settle waits, bounded, until the chaos schedule, the customer and the refunder are done (every
// planned payment, late payment and refund made), every order and refund is terminal, every
// refund is counted on its order, every late payment is refunded and the gateway has nothing
// left to deliver or settle.
func (s *soak) settle(ctx context.Context) error {
	deadline := s.start.Add(s.cfg.span() + settleTimeout)
	var last progress
	for {
		done, _, chaosErr := s.chaos.state()
		if chaosErr != nil {
			return fmt.Errorf("chaos schedule: %w", chaosErr)
		}
		c, r := s.customer, s.refunder
		// The late payments and refunds start from watch events, which may trail the phases
		// read here: what was started says when every one has begun.
		lateBegun := c.lateStarted.Load() == int64(len(s.plan.late))
		idle := c.active.Load() == 0 && r.active.Load() == 0
		p, err := s.look(ctx)
		if err == nil {
			last = p
			if done && lateBegun && p.refundsWaiting == 0 && idle && p.terminal() == len(s.plan.orders) && p.refundsInFlight() == 0 &&
				p.reserved == 0 && p.lateOpen == 0 && p.late >= int(c.latePaid.Load()) &&
				p.statErr == nil && p.stats.DeliveriesPending == 0 && p.pendingAtGateway() == 0 {
				fmt.Printf("  settled at t=%.1fs: %v\n", time.Since(s.start).Seconds(), p)
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not settled %v after the planned traffic: chaos done %v, customer payments in flight %d, "+
				"late payments begun %d of %d, %d orders' planned refunds not begun (%d being created), %d of %d orders terminal, "+
				"%d refunds in flight, %d reservations held, %d of %d late payments unrefunded, %d payments with refunds pending at the gateway, %d deliveries pending",
				settleTimeout, done, c.active.Load(), c.lateStarted.Load(), len(s.plan.late), last.refundsWaiting, r.active.Load(),
				last.terminal(), len(s.plan.orders), last.refundsInFlight(), last.reserved, last.lateOpen, last.late,
				last.pendingAtGateway(), last.stats.DeliveriesPending)
		}
		if err := sleep(ctx, 2*time.Second); err != nil {
			return err
		}
	}
}

// leaderQueues reads the leader's work queues from its metrics: how many orders and refunds wait
// for a reconcile, how many it reconciled and how long one took on average. A queue that keeps
// growing says the leader cannot keep up with the traffic.
func (s *soak) leaderQueues() string {
	for i := range s.managers {
		if !s.isLeader(i) {
			continue
		}
		url := "http://" + s.addr.metrics[i] + "/metrics"
		var parts []string
		for _, c := range []string{"paymentorder", "paymentrefund"} {
			depth, errD := localrun.Metric(url, "workqueue_depth", `name="`+c+`"`)
			sum, errS := localrun.Metric(url, "controller_runtime_reconcile_time_seconds_sum", `controller="`+c+`"`)
			n, errN := localrun.Metric(url, "controller_runtime_reconcile_time_seconds_count", `controller="`+c+`"`)
			if errD != nil || errS != nil || errN != nil || n == 0 {
				parts = append(parts, c+" ?")
				continue
			}
			parts = append(parts, fmt.Sprintf("%s %.0f queued, %.0f done, %.0fms each", c, depth, n, 1000*sum/n))
		}
		return s.managers[i].name + " leads: " + strings.Join(parts, "; ")
	}
	return "no leader"
}
