package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"

	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/scheme"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
)

// watcher records, from a watch, when each order first reached each phase.
type watcher struct {
	mu     sync.Mutex
	seen   map[v1.Phase]map[string]*v1.PaymentOrder
	notify chan struct{}
}

func (b *bench) watch(ctx context.Context) (*watcher, error) {
	c, err := cache.New(b.env.Config, cache.Options{Scheme: scheme.New(), DefaultNamespaces: map[string]cache.Config{benchNamespace: {}}})
	if err != nil {
		return nil, err
	}
	inf, err := c.GetInformer(ctx, &v1.PaymentOrder{})
	if err != nil {
		return nil, err
	}
	w := &watcher{seen: map[v1.Phase]map[string]*v1.PaymentOrder{}, notify: make(chan struct{}, 1)}
	record := func(obj any) {
		o, ok := obj.(*v1.PaymentOrder)
		if !ok {
			return
		}
		w.mu.Lock()
		if w.seen[o.Status.Phase] == nil {
			w.seen[o.Status.Phase] = map[string]*v1.PaymentOrder{}
		}
		if _, dup := w.seen[o.Status.Phase][o.Name]; !dup {
			w.seen[o.Status.Phase][o.Name] = o
		}
		w.mu.Unlock()
		select {
		case w.notify <- struct{}{}:
		default:
		}
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: record, UpdateFunc: func(_, n any) { record(n) }}); err != nil {
		return nil, err
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("watch cache did not sync")
	}
	return w, nil
}

// wait blocks until n orders reached phase, or timeout.
func (w *watcher) wait(ctx context.Context, phase v1.Phase, n int, timeout time.Duration) (map[string]*v1.PaymentOrder, error) {
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		got := len(w.seen[phase])
		out := w.seen[phase]
		w.mu.Unlock()
		if got >= n {
			return out, nil
		}
		select {
		case <-w.notify:
		case <-deadline:
			return nil, fmt.Errorf("%d of %d orders reached %s within %v", got, n, phase, timeout)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// createOrders creates the orders and waits until the controller brought every one to
// AwaitingPayment, measuring the manager's heap before and after they are in its cache.
func (b *bench) createOrders(ctx context.Context, res *Results) (map[string]*v1.PaymentOrder, error) {
	w, err := b.watch(ctx)
	if err != nil {
		return nil, err
	}
	heapBefore, err := managerHeap()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := parallel(b.orders, b.conc, func(i int) error { return b.env.Client.Create(ctx, order(benchNamespace, i)) }); err != nil {
		return nil, fmt.Errorf("creating orders: %w", err)
	}
	awaiting, err := w.wait(ctx, v1.PhaseAwaitingPayment, b.orders, 5*time.Minute)
	if err != nil {
		return nil, err
	}
	res.CreateToAwaitingPerS = perSecond(b.orders, time.Since(start))
	heapAfter, err := managerHeap()
	if err != nil {
		return nil, err
	}
	res.ManagerHeapMiBPer10kOrder = round(float64(heapAfter-heapBefore) / float64(b.orders) * 10000 / (1 << 20))
	fmt.Printf("  %d orders AwaitingPayment at %.0f/s; manager heap %0.1f -> %0.1f MiB\n", b.orders, res.CreateToAwaitingPerS, float64(heapBefore)/(1<<20), float64(heapAfter)/(1<<20))
	b.watcher = w
	return awaiting, nil
}

// notify posts one signed notification per order, each also sent 3 extra times concurrently,
// and waits until the watch saw every order Paid.
func (b *bench) notify(ctx context.Context, awaiting map[string]*v1.PaymentOrder, res *Results) error {
	orders := make([]*v1.PaymentOrder, 0, len(awaiting))
	for _, o := range awaiting {
		orders = append(orders, o)
	}
	var mu sync.Mutex
	latencies := make([]time.Duration, 0, 4*len(orders))
	url := "http://" + callbackAddr + "/notify/" + benchNamespace + "/sandbox"
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4 * b.conc}, Timeout: 30 * time.Second}
	// Signed before the clock starts: RSA signing is the gateway's cost, not kubepay's, and on 2
	// cores it would otherwise compete with the system under test. Copies share the signature, as
	// the gateway's duplicates do.
	bodies, sigs := make([][]byte, len(orders)), make([]string, len(orders))
	for i, o := range orders {
		bodies[i] = notificationBody(o)
		sigs[i] = gateway.SignPayload(signingKey, time.Now(), bodies[i])
	}
	callsBefore := apiCalls()
	start := time.Now()
	err := parallel(len(orders), b.conc, func(i int) error {
		body, sig := bodies[i], sigs[i]
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() {
				d, err := postUntilAcked(ctx, httpc, url, body, sig)
				mu.Lock()
				latencies = append(latencies, d)
				mu.Unlock()
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := b.watcher.wait(ctx, v1.PhasePaid, len(orders), 5*time.Minute); err != nil {
		return err
	}
	res.NotifyAppliedPerS = perSecond(len(orders), time.Since(start))
	callsAfter := apiCalls()
	for method, n := range callsAfter {
		fmt.Printf("  manager API calls during notifications: %s %.0f (%.2f per order)\n", method, n-callsBefore[method], (n-callsBefore[method])/float64(len(orders)))
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	res.NotifyP50Ms = ms(latencies[len(latencies)/2])
	res.NotifyP99Ms = ms(latencies[len(latencies)*99/100])

	list := &v1.PaymentOrderList{}
	if err := b.env.Client.List(ctx, list, client.InNamespace(benchNamespace)); err != nil {
		return err
	}
	for _, o := range list.Items {
		for _, h := range o.Status.History {
			if h.To == v1.PhasePaid {
				res.TransitionsApplied++
			}
		}
	}
	fmt.Printf("  %d orders Paid at %.0f/s (p50 %.1f ms, p99 %.1f ms); %d Paid transitions\n", len(orders), res.NotifyAppliedPerS, res.NotifyP50Ms, res.NotifyP99Ms, res.TransitionsApplied)
	return nil
}

func ms(d time.Duration) float64 { return round(float64(d) / float64(time.Millisecond)) }

// notificationBody is the gateway's payment.succeeded event for the order.
func notificationBody(o *v1.PaymentOrder) []byte {
	body, _ := json.Marshal(map[string]any{
		"id": "evt_bench_" + o.Name, "type": "payment.succeeded", "created": time.Now().Unix(),
		"data": map[string]any{"id": o.Status.ProviderPaymentID, "out_trade_no": o.Status.OutTradeNo,
			"status": "succeeded", "amount": o.Status.AmountMinor, "currency": o.Spec.Currency},
	})
	return body
}

// postUntilAcked posts like a provider: a failure answer is retried (bounded), and the latency
// is that of the answer that acknowledged it.
func postUntilAcked(ctx context.Context, c *http.Client, url string, body []byte, sig string) (time.Duration, error) {
	var last string
	for attempt := 0; attempt < 20; attempt++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(gateway.SignatureHeader, sig)
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			last = err.Error()
			continue
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		if resp.StatusCode == http.StatusOK && string(answer) == "success" {
			return d, nil
		}
		last = fmt.Sprintf("HTTP %d %q", resp.StatusCode, answer)
		time.Sleep(50 * time.Millisecond)
	}
	return 0, fmt.Errorf("notification never acknowledged: %s", last)
}
