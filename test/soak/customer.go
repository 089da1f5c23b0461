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
// API. It never pays an order twice; it retries while the gateway is down.
type customer struct {
	s    *soak
	http *http.Client
	// seen holds the orders already handled, so a watch update never pays twice.
	mu   sync.Mutex
	seen map[string]bool
	wg   sync.WaitGroup
	sem  chan struct{}
	// Outcomes of the pay calls: paid, refused by the gateway (expired/closed), or given up.
	paid, refused, failed atomic.Int64
	// active counts the payments planned or in progress.
	active atomic.Int64
}

func (s *soak) startCustomer(ctx context.Context) error {
	c := &customer{s: s, http: &http.Client{Timeout: 15 * time.Second}, seen: map[string]bool{}, sem: make(chan struct{}, 16)}
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
		if !ok || o.Status.Phase != v1.PhaseAwaitingPayment || o.Status.ProviderPaymentID == "" {
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

// pay presses Pay once, retrying through gateway restarts for up to a minute. 409 already_paid
// means an earlier press went through but its answer was lost.
func (c *customer) pay(ctx context.Context, name, paymentID string, wait time.Duration) {
	if sleep(ctx, wait) != nil {
		return
	}
	c.sem <- struct{}{}
	defer func() { <-c.sem }()
	url := c.s.addr.gatewayURL() + "/v1/payments/" + paymentID + "/pay"
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader([]byte(`{"outcome":"succeeded"}`)))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.http.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var answer struct {
				Error struct{ Code string } `json:"error"`
			}
			_ = json.Unmarshal(body, &answer)
			switch {
			case resp.StatusCode == http.StatusOK, resp.StatusCode == http.StatusConflict && answer.Error.Code == "already_paid":
				c.paid.Add(1)
				return
			case resp.StatusCode == http.StatusConflict:
				// Expired or closed: too late, the order will be Expired.
				c.refused.Add(1)
				return
			}
		}
		if sleep(ctx, 300*time.Millisecond) != nil {
			return
		}
	}
	c.failed.Add(1)
	fmt.Printf("  customer gave up paying %s (%s)\n", name, paymentID)
}
