package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/scheme"
)

// customer plays the people at the checkout: it watches the orders, and a little after an order
// it planned to pay shows its payment (AwaitingPayment), it presses Pay through the gateway's pay
// API. It never pays an order twice; it retries while the gateway is down. An order it planned
// to pay late it lets expire, then pays anyway through the gateway's late-pay test aid, as a
// bank transfer that arrives after the shop gave up would.
type customer struct {
	s    *soak
	http *http.Client
	// seen and seenLate hold the orders already handled, so a watch update never pays twice.
	mu             sync.Mutex
	seen, seenLate map[string]bool
	wg             sync.WaitGroup
	sem            chan struct{}
	// Outcomes of the pay calls: paid, refused by the gateway (expired/closed), or given up;
	// the same for the late payments.
	paid, refused, failed             atomic.Int64
	latePaid, lateRefused, lateFailed atomic.Int64
	// active counts the payments planned or in progress, lateStarted the late ones begun.
	active, lateStarted atomic.Int64
}

func (s *soak) startCustomer(ctx context.Context) error {
	c := &customer{s: s, http: &http.Client{Timeout: 15 * time.Second}, seen: map[string]bool{}, seenLate: map[string]bool{}, sem: make(chan struct{}, 16)}
	s.refunder = newRefunder(s)
	informers, err := cache.New(s.env.Config, cache.Options{Scheme: scheme.New(), DefaultNamespaces: map[string]cache.Config{soakNamespace: {}}})
	if err != nil {
		return err
	}
	inf, err := informers.GetInformer(ctx, &v1.PaymentOrder{})
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(uint64(s.cfg.seed), 0x637573746f6d))
	var rngMu sync.Mutex
	onChange := func(obj any) {
		o, ok := obj.(*v1.PaymentOrder)
		if !ok {
			return
		}
		s.refunder.onChange(ctx, o)
		if o.Status.Phase == v1.PhaseExpired && s.plan.late[o.Name] {
			c.payLateOnce(ctx, o, rng, &rngMu)
			return
		}
		if o.Status.Phase != v1.PhaseAwaitingPayment || o.Status.ProviderPaymentID == "" {
			return
		}
		c.mu.Lock()
		dup := c.seen[o.Name]
		c.seen[o.Name] = true
		c.mu.Unlock()
		if dup || !s.plan.pay[o.Name] {
			return
		}
		// People take a while to pay: 0.5s to 10s, well before the earliest expiry.
		rngMu.Lock()
		wait := 500*time.Millisecond + time.Duration(rng.Int64N(int64(9500*time.Millisecond)))
		rngMu.Unlock()
		c.active.Add(1)
		c.wg.Go(func() {
			defer c.active.Add(-1)
			c.pay(ctx, o.Name, o.Status.ProviderPaymentID, wait)
		})
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: onChange, UpdateFunc: func(_, n any) { onChange(n) }}); err != nil {
		return err
	}
	go func() { _ = informers.Start(ctx) }()
	if !informers.WaitForCacheSync(ctx) {
		return fmt.Errorf("the customer's watch did not sync")
	}
	s.customer = c
	return nil
}

// payLateOnce starts the late payment of an Expired order the first time it is seen Expired,
// 0.5s to 5s later: late money arrives whenever it does.
func (c *customer) payLateOnce(ctx context.Context, o *v1.PaymentOrder, rng *rand.Rand, rngMu *sync.Mutex) {
	c.mu.Lock()
	dup := c.seenLate[o.Name]
	c.seenLate[o.Name] = true
	c.mu.Unlock()
	if dup {
		return
	}
	rngMu.Lock()
	wait := 500*time.Millisecond + time.Duration(rng.Int64N(int64(4500*time.Millisecond)))
	rngMu.Unlock()
	c.lateStarted.Add(1)
	c.active.Add(1)
	c.wg.Go(func() {
		defer c.active.Add(-1)
		if sleep(ctx, wait) != nil {
			return
		}
		switch c.press(ctx, o.Name, o.Status.ProviderPaymentID, `{"outcome":"succeeded","late":true}`) {
		case pressPaid:
			c.latePaid.Add(1)
		case pressRefused:
			c.lateRefused.Add(1)
		case pressGaveUp:
			c.lateFailed.Add(1)
		}
	})
}

// pay presses Pay once, after wait.
func (c *customer) pay(ctx context.Context, name, paymentID string, wait time.Duration) {
	if sleep(ctx, wait) != nil {
		return
	}
	switch c.press(ctx, name, paymentID, `{"outcome":"succeeded"}`) {
	case pressPaid:
		c.paid.Add(1)
	case pressRefused:
		c.refused.Add(1)
	case pressGaveUp:
		c.failed.Add(1)
	}
}

// The outcomes of pressing Pay.
type pressOutcome int

const (
	pressInterrupted pressOutcome = iota
	pressPaid
	pressRefused
	pressGaveUp
)

// press posts body to the payment's pay API, retrying through gateway restarts for up to a
// minute. 409 already_paid means an earlier press went through but its answer was lost.
func (c *customer) press(ctx context.Context, name, paymentID, body string) pressOutcome {
	c.sem <- struct{}{}
	defer func() { <-c.sem }()
	url := c.s.addr.gatewayURL() + "/v1/payments/" + paymentID + "/pay"
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader([]byte(body)))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.http.Do(req)
		if err == nil {
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var answer struct {
				Error struct{ Code string } `json:"error"`
			}
			_ = json.Unmarshal(raw, &answer)
			switch {
			case resp.StatusCode == http.StatusOK, resp.StatusCode == http.StatusConflict && answer.Error.Code == "already_paid":
				return pressPaid
			case resp.StatusCode == http.StatusConflict:
				// Expired or closed: too late, the order will be Expired.
				return pressRefused
			}
		}
		if sleep(ctx, 300*time.Millisecond) != nil {
			return pressInterrupted
		}
	}
	fmt.Printf("  customer gave up paying %s (%s) with %s\n", name, paymentID, body)
	return pressGaveUp
}
