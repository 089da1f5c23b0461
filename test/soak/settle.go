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
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
)

// traffic starts the customer, the chaos schedule and the progress report (until stopReport),
// then creates the orders over the create window. The chaos schedule and the customer outlive
// it; settle waits for them.
func (s *soak) traffic(ctx context.Context, stopReport <-chan struct{}, reporting *sync.WaitGroup) error {
	s.plan = newPlan(s.cfg)
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
	phases  map[v1.Phase]int
	stats   gateway.Stats
	statErr error
}

func (s *soak) look(ctx context.Context) (progress, error) {
	p := progress{phases: map[v1.Phase]int{}}
	list := &v1.PaymentOrderList{}
	if err := s.env.Client.List(ctx, list, client.InNamespace(soakNamespace)); err != nil {
		return p, err
	}
	for _, o := range list.Items {
		p.phases[o.Status.Phase]++
	}
	p.stats, p.statErr = s.gatewayStats()
	return p, nil
}

func (s *soak) gatewayStats() (gateway.Stats, error) {
	var st gateway.Stats
	raw, err := httpGet(s.addr.gatewayURL() + "/v1/stats")
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
	gw := fmt.Sprintf("gateway: %d payments, %d deliveries pending, %d acked", p.stats.PaymentsTotal, p.stats.DeliveriesPending, p.stats.DeliveriesAcked)
	if p.statErr != nil {
		gw = "gateway: down"
	}
	return strings.Join(parts, ", ") + "; " + gw
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
		fmt.Printf("  t=%5.1fs  created %d/%d; %v; customer paid %d; proxy 502s %d\n", time.Since(s.start).Seconds(),
			s.plan.created.Load(), len(s.plan.orders), p, s.customer.paid.Load(), s.proxy.badGateway.Load())
	}
}

// settle waits, bounded, until the chaos schedule and the customer are done, every order is
// terminal and the gateway has nothing left to deliver.
func (s *soak) settle(ctx context.Context) error {
	deadline := s.start.Add(s.cfg.span() + settleTimeout)
	var last progress
	for {
		done, _, chaosErr := s.chaos.state()
		if chaosErr != nil {
			return fmt.Errorf("chaos schedule: %w", chaosErr)
		}
		p, err := s.look(ctx)
		if err == nil {
			last = p
			if done && s.customer.active.Load() == 0 && p.terminal() == len(s.plan.orders) &&
				p.statErr == nil && p.stats.DeliveriesPending == 0 {
				fmt.Printf("  settled at t=%.1fs: %v\n", time.Since(s.start).Seconds(), p)
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not settled %v after the planned traffic: chaos done %v, customer payments in flight %d, %d of %d orders terminal, %d deliveries pending",
				settleTimeout, done, s.customer.active.Load(), last.terminal(), len(s.plan.orders), last.stats.DeliveriesPending)
		}
		if err := sleep(ctx, 2*time.Second); err != nil {
			return err
		}
	}
}
