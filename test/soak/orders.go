package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
)

// plan is decided before the run from the seed: which orders exist, what they cost, when they
// expire, whether the customer will pay them (on time, or late after the order expired) and
// which refunds the merchant will ask for. Being fixed up front, it is also what the final
// checks compare against.
type plan struct {
	orders []*v1.PaymentOrder
	pay    map[string]bool
	// late marks unpaid orders the customer pays anyway once they are Expired: money nobody
	// wants, which kubepay must refund by itself.
	late map[string]bool
	// refunds are the refunds asked for each order, once it is Paid (or, for refundUnpaid,
	// once it is Expired).
	refunds map[string]refundPlan
	// paidSeen and unpaidSeen count the orders planned so far, to walk the refund cycles.
	paidSeen, unpaidSeen int
	// created counts the orders the API server accepted so far.
	created atomic.Int64
	mu      sync.Mutex
	errors  []string
}

func newPlan(cfg config) *plan {
	rng := rand.New(rand.NewPCG(uint64(cfg.seed), 0x736f616b))
	// The refund and late-payment choices draw from a stream of their own, so that a seed still
	// gives the orders, amounts and payments it gave before refunds were planned.
	refundRNG := rand.New(rand.NewPCG(uint64(cfg.seed), 0x726566756e64))
	p := &plan{pay: map[string]bool{}, late: map[string]bool{}, refunds: map[string]refundPlan{}}
	for i := range cfg.orders {
		currency, amount := "CNY", fmt.Sprintf("%d.%02d", 1+rng.IntN(999), rng.IntN(100))
		switch i % 5 {
		case 3:
			currency, amount = "USD", fmt.Sprintf("%d.%02d", 1+rng.IntN(200), rng.IntN(100))
		case 4:
			currency, amount = "JPY", fmt.Sprint(100+rng.IntN(20000))
		}
		// Whole seconds: expiresAt is exchanged with the gateway at second precision.
		span := int(cfg.expireMax/time.Second - cfg.expireMin/time.Second)
		expires := cfg.expireMin + time.Duration(rng.IntN(span+1))*time.Second
		o := &v1.PaymentOrder{
			ObjectMeta: metav1.ObjectMeta{Namespace: soakNamespace, Name: fmt.Sprintf("soak-%05d", i)},
			Spec: v1.PaymentOrderSpec{
				ProviderRef: v1.ProviderReference{Name: providerName}, Amount: amount, Currency: currency,
				Channel: "sandbox", Subject: fmt.Sprintf("soak order %d", i),
				ExpiresAfter: &metav1.Duration{Duration: expires},
			},
		}
		p.orders = append(p.orders, o)
		p.pay[o.Name] = rng.Float64() < cfg.payRatio
		p.planRefunds(refundRNG, i, o)
	}
	return p
}

// create creates the orders evenly over the window, a few in parallel so that a slow API call
// does not shift the schedule. Each create is retried briefly: the API server is not under test.
func (s *soak) createOrders(ctx context.Context) {
	n := len(s.plan.orders)
	step := s.cfg.createWindow / time.Duration(n)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, o := range s.plan.orders {
		if sleep(ctx, time.Until(s.start.Add(time.Duration(i)*step))) != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			var err error
			for attempt := 0; attempt < 5; attempt++ {
				// AlreadyExists: an earlier attempt was created but its answer was lost.
				if err = s.env.Client.Create(ctx, o.DeepCopy()); err == nil || apierrors.IsAlreadyExists(err) {
					s.plan.created.Add(1)
					return
				}
				if sleep(ctx, time.Second) != nil {
					return
				}
			}
			s.plan.mu.Lock()
			s.plan.errors = append(s.plan.errors, fmt.Sprintf("creating %s: %v", o.Name, err))
			s.plan.mu.Unlock()
		})
	}
	wg.Wait()
}
