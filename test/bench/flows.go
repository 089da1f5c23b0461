package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/scheme"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
)

// fixtureLabel marks the settled orders the scale run writes itself; the bench's own watch
// leaves them out (the manager's cache does too, by status.settled).
const fixtureLabel = "bench.kubepay.io/fixture"

// watcher records, from a watch, when each order first reached each phase and whether it is
// settled.
type watcher struct {
	mu      sync.Mutex
	seen    map[v1.Phase]map[string]*v1.PaymentOrder
	settled map[string]bool
	notify  chan struct{}
}

func (b *bench) watch(ctx context.Context, ns string) (*watcher, error) {
	notFixture, err := labels.Parse("!" + fixtureLabel)
	if err != nil {
		return nil, err
	}
	c, err := cache.New(b.env.Config, cache.Options{Scheme: scheme.New(), DefaultNamespaces: map[string]cache.Config{ns: {}},
		ByObject: map[client.Object]cache.ByObject{&v1.PaymentOrder{}: {Label: notFixture}}})
	if err != nil {
		return nil, err
	}
	inf, err := c.GetInformer(ctx, &v1.PaymentOrder{})
	if err != nil {
		return nil, err
	}
	w := &watcher{seen: map[v1.Phase]map[string]*v1.PaymentOrder{}, settled: map[string]bool{}, notify: make(chan struct{}, 1)}
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
		if o.Status.Settled {
			w.settled[o.Name] = true
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

// reached is a wait condition: the order was seen in phase. Called with w.mu held.
func (w *watcher) reached(phase v1.Phase) func(string) bool {
	return func(name string) bool { return w.seen[phase][name] != nil }
}

// isSettled is a wait condition: the order is settled (status.settled). Called with w.mu held.
func (w *watcher) isSettled(name string) bool { return w.settled[name] }

// wait blocks until cond holds for every name, or timeout.
func (w *watcher) wait(ctx context.Context, what string, names []string, timeout time.Duration, cond func(string) bool) error {
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		got := 0
		for _, n := range names {
			if cond(n) {
				got++
			}
		}
		w.mu.Unlock()
		if got == len(names) {
			return nil
		}
		select {
		case <-w.notify:
		case <-deadline:
			return fmt.Errorf("%d of %d orders %s within %v", got, len(names), what, timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// orders returns the first version of each named order seen in phase.
func (w *watcher) orders(phase v1.Phase, names []string) []*v1.PaymentOrder {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]*v1.PaymentOrder, 0, len(names))
	for _, n := range names {
		if o := w.seen[phase][n]; o != nil {
			out = append(out, o)
		}
	}
	return out
}

// counts reads the proxy's named request counts (nil without the proxy).
func (b *bench) counts() map[string]float64 {
	c, _ := b.requests()
	return c
}

// requests reads the proxy's named request counts and summed latencies (nil without the proxy).
func (b *bench) requests() (counts, millis map[string]float64) {
	if b.proxy == nil {
		return nil, nil
	}
	return b.proxy.snapshot()
}

// settle waits until the manager is quiet: Events are sent asynchronously.
func (b *bench) settle(ctx context.Context) {
	if b.proxy != nil {
		b.proxy.quiet(ctx, time.Second, 30*time.Second)
	}
}

// createOrders creates the orders and waits until the controller brought every one to
// AwaitingPayment, then reads the manager's heap with them in its cache.
func (b *bench) createOrders(ctx context.Context, w *watcher, ns string, names []string, res *PassResult) error {
	before, cpu := b.counts(), b.cpuSeconds(ctx)
	start := time.Now()
	if err := parallel(len(names), b.conc, func(i int) error { return b.env.Client.Create(ctx, order(ns, names[i])) }); err != nil {
		return fmt.Errorf("creating orders: %w", err)
	}
	if err := w.wait(ctx, "reached AwaitingPayment", names, 5*time.Minute, w.reached(v1.PhaseAwaitingPayment)); err != nil {
		return err
	}
	res.CreateToAwaitingPerS = perSecond(len(names), time.Since(start))
	b.settle(ctx)
	res.CreateCPUMs = cpuMillisPer(cpu, b.cpuSeconds(ctx), len(names))
	if err := b.orderSize(ctx, ns, names[0], "awaiting", res); err != nil {
		return err
	}
	if before != nil {
		per := perOrder(before, b.counts(), len(names))
		res.CreateWrites, res.CreateWritesTotal = writesOnly(per)
		res.CreateReads = readsOnly(per)
	}
	live, spans, err := b.managerHeap("open-" + res.Name)
	if err != nil {
		return err
	}
	res.HeapOpenMiB, res.HeapSpansOpenMiB = mib(live), mib(spans)
	res.HeapMiBPer10kOpenOrders = round((res.HeapOpenMiB - res.HeapIdleMiB) / float64(len(names)) * 10000)
	res.HeapSpansMiBPer10kOpenOrders = round((res.HeapSpansOpenMiB - res.HeapSpansIdleMiB) / float64(len(names)) * 10000)
	fmt.Printf("  %d orders AwaitingPayment at %.0f/s, %.2f API writes and %v CPU ms each; manager heap %.1f -> %.1f MiB (%.1f MiB per 10k open orders)\n",
		len(names), res.CreateToAwaitingPerS, res.CreateWritesTotal, res.CreateCPUMs, res.HeapIdleMiB, res.HeapOpenMiB, res.HeapMiBPer10kOpenOrders)
	return nil
}

// notification is one signed delivery, prepared before the clock starts: RSA signing is the
// gateway's cost, not kubepay's, and on 2 cores it would otherwise compete with the system under
// test. Copies share the signature, as the gateway's duplicates do.
type notification struct {
	body []byte
	sig  string
}

// target is what a notification says about an order.
type lateTarget struct {
	name, outTradeNo, paymentID, currency string
	amountMinor                           int64
}

func targetOf(o *v1.PaymentOrder) lateTarget {
	return lateTarget{name: o.Name, outTradeNo: o.Status.OutTradeNo, paymentID: o.Status.ProviderPaymentID,
		currency: o.Spec.Currency, amountMinor: o.Status.AmountMinor}
}

func sign(eventID string, t lateTarget) notification {
	body := notificationBody(eventID, t)
	return notification{body: body, sig: gateway.SignPayload(signingKey, time.Now(), body)}
}

// notify posts one signed notification per order, each also sent 3 extra times concurrently,
// and waits until the watch saw every order Paid, then settled.
func (b *bench) notify(ctx context.Context, w *watcher, ns string, names []string, res *PassResult) error {
	orders := w.orders(v1.PhaseAwaitingPayment, names)
	var mu sync.Mutex
	latencies := make([]time.Duration, 0, 4*len(orders))
	url := b.notifyURL(ns)
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4 * b.conc}, Timeout: 30 * time.Second}
	notes := make([]notification, len(orders))
	for i, o := range orders {
		notes[i] = sign("evt_bench_"+o.Name, targetOf(o))
	}
	before, millisBefore := b.requests()
	methodsBefore, cpu := b.apiCalls(), b.cpuSeconds(ctx)
	stopProfiles := b.profileCPU(ctx, "notify-"+res.Name)
	start := time.Now()
	err := parallel(len(orders), b.conc, func(i int) error {
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() {
				d, err := postUntilAcked(ctx, httpc, url, notes[i])
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
	if err := w.wait(ctx, "reached Paid", names, 5*time.Minute, w.reached(v1.PhasePaid)); err != nil {
		return err
	}
	res.NotifyAppliedPerS = perSecond(len(orders), time.Since(start))
	if err := w.wait(ctx, "settled", names, 2*time.Minute, w.isSettled); err != nil {
		return err
	}
	b.settle(ctx)
	stopProfiles()
	res.NotifyCPUMs = cpuMillisPer(cpu, b.cpuSeconds(ctx), len(orders))
	live, _, err := b.managerHeap("settled-" + res.Name)
	if err != nil {
		return err
	}
	res.HeapSettledMiB = mib(live)
	fmt.Printf("  manager heap with those %d orders settled: %.1f MiB (idle %.1f MiB)\n", len(orders), res.HeapSettledMiB, res.HeapIdleMiB)
	if before != nil {
		after, millisAfter := b.requests()
		res.NotifyWriteMs = meanMillis(before, millisBefore, after, millisAfter)
		per := perOrder(before, after, len(orders))
		res.NotifyWrites, res.NotifyWritesTotal = writesOnly(per)
		res.NotifyReads = readsOnly(per)
		res.ManagerMethods = perOrder(methodsBefore, b.apiCalls(), len(orders))
		if proxied := byMethod(per); !sameCounts(proxied, res.ManagerMethods) {
			fmt.Printf("  note: the proxy counted %v per order, the manager's client metrics %v\n", proxied, res.ManagerMethods)
		}
	}
	res.NotifyP50Ms, res.NotifyP99Ms = percentile(latencies, 50), percentile(latencies, 99)
	if err := b.orderSize(ctx, ns, names[0], "settled", res); err != nil {
		return err
	}
	if res.TransitionsApplied, err = b.paidTransitions(ctx, ns, names); err != nil {
		return err
	}
	fmt.Printf("  %d orders Paid at %.0f/s (p50 %.1f ms, p99 %.1f ms), %.2f API writes and %v CPU ms each; %d Paid transitions; API write latency %v\n",
		len(orders), res.NotifyAppliedPerS, res.NotifyP50Ms, res.NotifyP99Ms, res.NotifyWritesTotal, res.NotifyCPUMs, res.TransitionsApplied, res.NotifyWriteMs)
	return nil
}

// sameCounts compares per-method counts to within rounding (the proxy also sees requests that
// never reached the API server: none are expected).
func sameCounts(a, b map[string]float64) bool {
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		if d := a[m] - b[m]; d > 0.01 || d < -0.01 {
			return false
		}
	}
	return true
}

// paced creates b.opts.paced orders, then sends one notification per order open-loop at
// pace.perS: each at its scheduled time whether or not earlier ones were answered, so a slow
// answer delays nobody else's send and latency counts from the scheduled time (no coordinated
// omission).
func (b *bench) paced(ctx context.Context, w *watcher, ns, prefix string, pace pacing) (*PacedResult, error) {
	names := orderNames(prefix, b.opts.paced)
	if err := parallel(len(names), b.conc, func(i int) error { return b.env.Client.Create(ctx, order(ns, names[i])) }); err != nil {
		return nil, fmt.Errorf("creating paced orders: %w", err)
	}
	if err := w.wait(ctx, "reached AwaitingPayment", names, 5*time.Minute, w.reached(v1.PhaseAwaitingPayment)); err != nil {
		return nil, err
	}
	b.settle(ctx)
	orders := w.orders(v1.PhaseAwaitingPayment, names)
	notes := make([]notification, len(orders))
	for i, o := range orders {
		notes[i] = sign("evt_paced_"+o.Name, targetOf(o))
	}
	before, millisBefore := b.requests()
	stopProfiles := b.profileCPU(ctx, prefix+"-"+ns)
	lat, took, err := b.sendPaced(ctx, b.notifyURL(ns), notes, pace.perS)
	stopProfiles()
	if err != nil {
		return nil, err
	}
	if err := w.wait(ctx, "reached Paid", names, 5*time.Minute, w.reached(v1.PhasePaid)); err != nil {
		return nil, err
	}
	res := &PacedResult{Fraction: pace.fraction, Orders: len(orders), OfferedPerS: pace.perS, AchievedPerS: perSecond(len(orders), took),
		P50Ms: percentile(lat, 50), P99Ms: percentile(lat, 99), MaxMs: percentile(lat, 100)}
	if res.TransitionsApplied, err = b.paidTransitions(ctx, ns, names); err != nil {
		return nil, err
	}
	if err := w.wait(ctx, "settled", names, 2*time.Minute, w.isSettled); err != nil {
		return nil, err
	}
	b.settle(ctx)
	if before != nil {
		after, millisAfter := b.requests()
		res.WriteMs = meanMillis(before, millisBefore, after, millisAfter)
	}
	fmt.Printf("  %d notifications paced at %.0f/s (%.2f of the raw ceiling; answered at %.0f/s): p50 %.1f ms, p99 %.1f ms, max %.1f ms; API write latency %v\n",
		len(orders), pace.perS, pace.fraction, res.AchievedPerS, res.P50Ms, res.P99Ms, res.MaxMs, res.WriteMs)
	return res, nil
}

// sendPaced posts notes at rate per second, open-loop; it returns each delivery's latency from
// its scheduled time and how long until the last was answered.
func (b *bench) sendPaced(ctx context.Context, url string, notes []notification, rate float64) ([]time.Duration, time.Duration, error) {
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512}, Timeout: 30 * time.Second}
	interval := time.Duration(float64(time.Second) / rate)
	lat := make([]time.Duration, len(notes))
	errs := make([]error, len(notes))
	var wg sync.WaitGroup
	start := time.Now()
	for i := range notes {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return nil, 0, ctx.Err()
			}
		}
		wg.Go(func() {
			_, errs[i] = postUntilAcked(ctx, httpc, url, notes[i])
			lat[i] = time.Since(at)
		})
	}
	wg.Wait()
	took := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return nil, 0, err
		}
	}
	return lat, took, nil
}

// lateNotifications sends, one at a time, a notification with a new event id for settled orders:
// no replica remembers it and the cache does not hold the order, so the callback server looks it
// up on the API server by status.outTradeNo (a field selector the API server answers by scanning
// the namespace's orders).
func (b *bench) lateNotifications(ctx context.Context, w *watcher, cfg passConfig, names []string, res *PassResult) error {
	targets := cfg.lateOf
	if targets == nil {
		for _, o := range w.orders(v1.PhaseAwaitingPayment, names) {
			targets = append(targets, targetOf(o))
		}
	}
	targets = targets[:min(cfg.late, len(targets))]
	notes := make([]notification, len(targets))
	for i, t := range targets {
		notes[i] = sign("evt_late_"+t.name, t)
	}
	httpc := &http.Client{Timeout: 30 * time.Second}
	url := b.notifyURL(cfg.ns)
	before := b.counts()
	lat := make([]time.Duration, len(notes))
	for i, n := range notes {
		d, err := postUntilAcked(ctx, httpc, url, n)
		if err != nil {
			return fmt.Errorf("late notification of %s: %w", targets[i].name, err)
		}
		lat[i] = d
	}
	b.settle(ctx)
	if before != nil {
		res.LateRequests = perOrder(before, b.counts(), len(notes))
	}
	res.LateSent, res.LateP50Ms, res.LateP99Ms = len(notes), percentile(lat, 50), percentile(lat, 99)
	fmt.Printf("  %d late notifications of settled orders, one at a time: p50 %.1f ms, p99 %.1f ms; requests each %v\n",
		len(notes), res.LateP50Ms, res.LateP99Ms, res.LateRequests)
	return nil
}

func (b *bench) notifyURL(ns string) string {
	return "http://" + b.addrs.callback + "/notify/" + ns + "/sandbox"
}

// paidTransitions counts the Paid transitions in the history of the named orders.
func (b *bench) paidTransitions(ctx context.Context, ns string, names []string) (int, error) {
	notFixture, _ := labels.Parse("!" + fixtureLabel)
	list := &v1.PaymentOrderList{}
	if err := b.env.Client.List(ctx, list, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: notFixture}); err != nil {
		return 0, err
	}
	n := 0
	for _, o := range list.Items {
		if !slices.Contains(names, o.Name) {
			continue
		}
		for _, h := range o.Status.History {
			if h.To == v1.PhasePaid {
				n++
			}
		}
	}
	return n, nil
}

// percentile is the p-th percentile of d (sorted in place); 100 is the maximum.
func percentile(d []time.Duration, p int) float64 {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := len(d) * p / 100
	if i >= len(d) {
		i = len(d) - 1
	}
	return ms(d[i])
}

func ms(d time.Duration) float64 { return round(float64(d) / float64(time.Millisecond)) }

// notificationBody is the gateway's payment.succeeded event for the order.
func notificationBody(eventID string, t lateTarget) []byte {
	body, _ := json.Marshal(map[string]any{
		"id": eventID, "type": "payment.succeeded", "created": time.Now().Unix(),
		"data": map[string]any{"id": t.paymentID, "out_trade_no": t.outTradeNo,
			"status": "succeeded", "amount": t.amountMinor, "currency": t.currency},
	})
	return body
}

// postUntilAcked posts like a provider: a failure answer is retried (bounded), and the latency
// is that of the answer that acknowledged it.
func postUntilAcked(ctx context.Context, c *http.Client, url string, n notification) (time.Duration, error) {
	var last string
	for attempt := 0; attempt < 20; attempt++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(n.body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(gateway.SignatureHeader, n.sig)
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

// orderSize records the size of an order as JSON, with and without managedFields, and keeps a
// copy in bin/bench/order-<phase>.json.
func (b *bench) orderSize(ctx context.Context, ns, name, phase string, res *PassResult) error {
	o := &v1.PaymentOrder{}
	if err := b.env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, o); err != nil {
		return err
	}
	o.APIVersion, o.Kind = v1.GroupVersion.String(), "PaymentOrder"
	full, _ := json.MarshalIndent(o, "", "  ")
	_ = os.WriteFile(filepath.Join(b.dir, "order-"+phase+".json"), full, 0o644)
	compact, _ := json.Marshal(o)
	o.ManagedFields = nil
	trimmed, _ := json.Marshal(o)
	if res.OrderJSONBytes == nil {
		res.OrderJSONBytes = map[string]int{}
	}
	res.OrderJSONBytes[phase] = len(compact)
	res.OrderJSONBytes[phase+"_without_managed_fields"] = len(trimmed)
	return nil
}
