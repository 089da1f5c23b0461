package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/localrun"
)

const benchAPIKey = "sk_bench"

// signingKey is the gateway's notification key; the bench holds it too so it can sign the
// notifications it posts, exactly as the gateway would.
var signingKey *rsa.PrivateKey

// passConfig is one run of the manager against one namespace of its own.
type passConfig struct {
	name, ns string
	events   bool
	// pace lists the rates of the paced notifications (per second), one paced run each.
	pace []pacing
	// late is how many late notifications of settled orders to send (scale run); lateOf names
	// the settled orders they are about (nil: the pass's own, once settled).
	late   int
	lateOf []lateTarget
}

// PassResult is what one pass measured.
type PassResult struct {
	Name             string `json:"name"`
	TransitionEvents bool   `json:"transition_events"`
	// SettledPresent is how many settled orders the API server held when the manager started.
	SettledPresent int `json:"settled_orders_present"`
	// StartToReadyS: from the manager's exec until an order created just before it reached
	// AwaitingPayment (caches synced, controller running, provider resolved, first reconcile
	// done); ReadyzS until /readyz first answered 200. Medians of startRuns starts.
	StartToReadyS float64 `json:"start_to_ready_s"`
	ReadyzS       float64 `json:"readyz_s"`
	// Every start's figures (the reported ones are their medians).
	StartToReadyRunsS []float64 `json:"start_to_ready_runs_s"`
	ReadyzRunsS       []float64 `json:"readyz_runs_s"`
	// Manager heap after a forced GC, at ready (idle) and with the pass's orders open: live
	// objects (go_memstats_heap_alloc_bytes, what pprof's inuse_space samples) and the spans
	// holding them (go_memstats_heap_inuse_bytes, which adds fragmentation).
	HeapIdleMiB             float64 `json:"heap_idle_mib"`
	HeapOpenMiB             float64 `json:"heap_open_mib"`
	HeapMiBPer10kOpenOrders float64 `json:"heap_mib_per_10k_open_orders"`
	// The same once the pass's orders were paid by notification and settled through kubepay, to
	// compare with HeapIdleMiB: a settled order leaves the cache and its query schedule. What stays
	// is mostly fixed (the bench's 128 kept-alive callback connections, pooled buffers that one GC
	// keeps) plus bounded per-order memory: the recent-notification set (at most 65,536 ids) and
	// the queue's entry for the order's next query, gone at that time. Not divided per order: the
	// fixed part would read as per-order cost (500 orders: +3.0 MiB, 2,000: +4.0 MiB).
	HeapSettledMiB               float64 `json:"heap_settled_mib"`
	HeapSpansIdleMiB             float64 `json:"heap_spans_idle_mib"`
	HeapSpansOpenMiB             float64 `json:"heap_spans_open_mib"`
	HeapSpansMiBPer10kOpenOrders float64 `json:"heap_spans_mib_per_10k_open_orders"`
	Orders                       int     `json:"orders"`
	CreateToAwaitingPerS         float64 `json:"create_to_awaiting_per_s"`
	CreateVsRawRatio             float64 `json:"create_vs_raw_ratio"`
	// Notifications at saturation: every order notified by conc clients, each notification also
	// sent 3 more times concurrently; latency per delivery.
	NotifyAppliedPerS float64 `json:"notify_applied_per_s"`
	NotifyVsRawRatio  float64 `json:"notify_vs_raw_ratio"`
	// NotifyVsRawCPURatio is the same comparison in CPU: a raw status patch's CPU (API server and
	// etcd) over an applied notification's (API server, etcd and manager; the harness apart on both
	// sides). Throughput on a shared machine moves with its neighbours; CPU per operation barely.
	NotifyVsRawCPURatio float64 `json:"notify_vs_raw_cpu_ratio"`
	NotifyP50Ms         float64 `json:"notify_p50_ms"`
	NotifyP99Ms         float64 `json:"notify_p99_ms"`
	TransitionsApplied  int     `json:"transitions_applied"`
	// Paced notifications, one run per offered rate (the first at the fraction of the raw
	// ceiling the issue sets, 0.5).
	Paced []*PacedResult `json:"paced"`
	// Late notifications of settled orders (new event ids, so no replica remembers them): the
	// order is not cached and is looked up on the API server. One client at a time.
	LateSent  int     `json:"late_sent,omitempty"`
	LateP50Ms float64 `json:"late_notify_p50_ms,omitempty"`
	LateP99Ms float64 `json:"late_notify_p99_ms,omitempty"`
	// The manager's API requests, named, per order: writes on the create path (creation to
	// AwaitingPayment) and per applied notification (Paid and settled in one status write), and reads.
	CreateWrites      map[string]float64 `json:"create_writes_per_order"`
	CreateWritesTotal float64            `json:"create_writes_per_order_total"`
	NotifyWrites      map[string]float64 `json:"notify_writes_per_order"`
	NotifyWritesTotal float64            `json:"notify_writes_per_order_total"`
	CreateReads       map[string]float64 `json:"create_reads_per_order"`
	NotifyReads       map[string]float64 `json:"notify_reads_per_order"`
	LateRequests      map[string]float64 `json:"late_requests_per_notification,omitempty"`
	// OrderJSONBytes is the size of the pass's first order as `kubectl get -o json` prints it, at
	// AwaitingPayment and once settled, with and without its managedFields (kept in etcd, trimmed
	// from the manager's cache); written to bin/bench/order-<phase>.json.
	OrderJSONBytes map[string]int `json:"order_json_bytes"`
	// CPU milliseconds per order by process (apiserver, etcd, manager, total) on the create path
	// and per notification (with its 3 duplicates, until settled).
	CreateCPUMs map[string]float64 `json:"create_cpu_ms_per_order"`
	NotifyCPUMs map[string]float64 `json:"notify_cpu_ms_per_order"`
	// NotifyWriteMs is the mean latency of each kind of write during the saturated notifications.
	NotifyWriteMs map[string]float64 `json:"notify_write_latency_ms,omitempty"`
	// ManagerMethods is the manager's own count (rest_client_requests_total) of the same
	// requests by method, per order, notification window; it must agree with the proxy's.
	ManagerMethods map[string]float64 `json:"manager_client_requests_per_notification,omitempty"`
}

// pacing is one paced rate: a fraction of the raw ceiling.
type pacing struct{ fraction, perS float64 }

// PacedResult is one paced run: one notification per order, sent open-loop at OfferedPerS
// whatever the answers; latency from the scheduled send to the acknowledgement.
type PacedResult struct {
	Fraction           float64 `json:"fraction_of_raw_ceiling"`
	Orders             int     `json:"orders"`
	OfferedPerS        float64 `json:"offered_per_s"`
	AchievedPerS       float64 `json:"answered_per_s"`
	P50Ms              float64 `json:"notify_p50_ms"`
	P99Ms              float64 `json:"notify_p99_ms"`
	MaxMs              float64 `json:"notify_max_ms"`
	TransitionsApplied int     `json:"transitions_applied"`
	// WriteMs is the mean latency of each kind of write the manager made meanwhile, as the
	// proxy saw it (forwarded to answered).
	WriteMs map[string]float64 `json:"write_latency_ms,omitempty"`
}

// pacings are the paced rates: each fraction of the raw status-write ceiling.
func (b *bench) pacings(rawPerS float64) []pacing {
	var out []pacing
	for _, f := range b.opts.paceFractions {
		out = append(out, pacing{fraction: f, perS: round(rawPerS * f)})
	}
	return out
}

// startGateway runs the sandbox gateway; its key signs the bench's notifications.
func (b *bench) startGateway() error {
	var err error
	if signingKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return err
	}
	keyFile := filepath.Join(b.dir, "signing-key.pem")
	der, _ := x509.MarshalPKCS8PrivateKey(signingKey)
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	if b.gateway, err = localrun.Start(b.dir, "sandbox-gateway", b.bins.Gateway, "--bind-address", b.addrs.gateway,
		"--api-key", benchAPIKey, "--signing-key-file", keyFile, "--log-level", "warn"); err != nil {
		return err
	}
	if err := localrun.WaitHTTP(context.Background(), b.gateway, "http://"+b.addrs.gateway+"/healthz", time.Minute); err != nil {
		return err
	}
	// The manager authenticates as a user of its own; the proxy forwards with its credentials.
	user, err := b.env.Admin("bench")
	if err != nil {
		return err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	if !b.opts.proxy {
		return os.WriteFile(filepath.Join(b.dir, "kubeconfig"), kc, 0o600)
	}
	if b.proxy, err = startAPIProxy(b.addrs.proxy, user.Config()); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(b.dir, "kubeconfig"), b.proxy.kubeconfig(), 0o600)
}

// setupNamespace creates the pass's namespace, credentials Secret and PaymentProvider.
func (b *bench) setupNamespace(ctx context.Context, ns string) error {
	pub, err := localrun.Get("http://" + b.addrs.gateway + "/v1/public-key")
	if err != nil {
		return err
	}
	c := b.env.Client
	if err := c.Create(ctx, namespace(ns)); client.IgnoreAlreadyExists(err) != nil {
		return err
	}
	if err := c.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sandbox", Labels: map[string]string{v1.LabelCredentials: "true"}},
		Data:       map[string][]byte{"apiKey": []byte(benchAPIKey), "publicKey": pub},
	}); err != nil {
		return err
	}
	// Queries would add provider calls the benchmark does not measure: push them past the run.
	return c.Create(ctx, &v1.PaymentProvider{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sandbox"},
		Spec: v1.PaymentProviderSpec{
			Type: v1.ProviderSandbox, Endpoint: "http://" + b.addrs.gateway,
			CredentialsSecretRef: v1.LocalObjectReference{Name: "sandbox"},
			CallbackBaseURL:      "http://" + b.addrs.callback,
			Query:                &v1.QuerySettings{InitialInterval: &metav1.Duration{Duration: time.Hour}},
		},
	})
}

// startManager runs the manager binary, as shipped, against the proxy.
func (b *bench) startManager(name string, events bool) error {
	if b.opts.memProfileRate > 0 {
		// Only the manager starts after this; the control plane and the gateway are running.
		if err := os.Setenv("GODEBUG", "memprofilerate="+strconv.Itoa(b.opts.memProfileRate)); err != nil {
			return err
		}
	}
	var err error
	b.manager, err = localrun.Start(b.dir, "manager-"+name, b.bins.Manager, "--kubeconfig", filepath.Join(b.dir, "kubeconfig"),
		"--notify-bind-address", b.addrs.callback, "--metrics-bind-address", b.addrs.metrics,
		"--health-probe-bind-address", b.addrs.probe, "--pprof-bind-address", b.addrs.pprof,
		"--max-concurrent-reconciles", strconv.Itoa(b.conc), "--kube-api-qps", "2000", "--kube-api-burst", "4000",
		"--transition-events="+strconv.FormatBool(events),
		// The bench is one source posting as fast as kubepay answers; the per-source abuse limit
		// is policy, not capacity, so it is lifted to measure the ingest path itself.
		"--notify-rate-limit", "1000000", "--notify-rate-burst", "1000000")
	return err
}

func (b *bench) stopManager() {
	if b.manager != nil {
		b.manager.Stop()
		b.manager = nil
	}
}

// runPass starts a manager and measures, in order: start to ready, creates, notifications at
// saturation, paced notifications, late notifications of settled orders. It stops the manager.
func (b *bench) runPass(ctx context.Context, cfg passConfig) (*PassResult, error) {
	res := &PassResult{Name: cfg.name, TransitionEvents: cfg.events, Orders: b.orders}
	b.passes = append(b.passes, res)
	if err := b.setupNamespace(ctx, cfg.ns); err != nil {
		return nil, err
	}
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	w, err := b.watch(wctx, cfg.ns)
	if err != nil {
		return nil, err
	}
	if res.SettledPresent, err = b.countSettled(ctx, ""); err != nil {
		return nil, err
	}
	if err := b.startReady(ctx, w, cfg, res); err != nil {
		return nil, err
	}
	defer b.stopManager()
	names := orderNames("order", b.orders)
	if err := b.createOrders(ctx, w, cfg.ns, names, res); err != nil {
		return nil, err
	}
	if err := b.notify(ctx, w, cfg.ns, names, res); err != nil {
		return nil, err
	}
	for i, pace := range cfg.pace {
		if b.opts.paced == 0 {
			break
		}
		p, err := b.paced(ctx, w, cfg.ns, fmt.Sprintf("paced%d", i), pace)
		if err != nil {
			return nil, err
		}
		res.Paced = append(res.Paced, p)
	}
	if cfg.late > 0 {
		if err := b.lateNotifications(ctx, w, cfg, names, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// startReady times the manager's start, startRuns times (each with a probe order created just
// before the exec; all but the last stopped again) and keeps the median; then it reads the idle heap.
func (b *bench) startReady(ctx context.Context, w *watcher, cfg passConfig, res *PassResult) error {
	for i := range startRuns {
		if i > 0 {
			b.stopManager()
		}
		ready, probe, err := b.startOnce(ctx, w, cfg, fmt.Sprintf("probe-%d", i))
		if err != nil {
			return err
		}
		res.ReadyzRunsS = append(res.ReadyzRunsS, ready)
		res.StartToReadyRunsS = append(res.StartToReadyRunsS, probe)
	}
	res.ReadyzS, res.StartToReadyS = median(res.ReadyzRunsS), median(res.StartToReadyRunsS)
	if err := localrun.WaitHTTP(ctx, b.manager, "http://"+b.addrs.callback+"/healthz", time.Minute); err != nil {
		return err
	}
	live, spans, err := b.managerHeap("idle-" + cfg.name)
	if err != nil {
		return err
	}
	res.HeapIdleMiB, res.HeapSpansIdleMiB = mib(live), mib(spans)
	fmt.Printf("  manager ready: /readyz after %v s, probe order AwaitingPayment after %v s (median %.2f s); heap %.1f MiB with %d settled orders present\n",
		res.ReadyzRunsS, res.StartToReadyRunsS, res.StartToReadyS, res.HeapIdleMiB, res.SettledPresent)
	return nil
}

// startRuns is how many times each pass starts the manager to time it.
const startRuns = 3

// startOnce creates a probe order, starts the manager and times it until /readyz and until the
// probe reached AwaitingPayment.
func (b *bench) startOnce(ctx context.Context, w *watcher, cfg passConfig, probe string) (readyz, ready float64, err error) {
	if err := b.env.Client.Create(ctx, order(cfg.ns, probe)); err != nil {
		return 0, 0, err
	}
	start := time.Now()
	if err := b.startManager(cfg.name, cfg.events); err != nil {
		return 0, 0, err
	}
	if err := localrun.WaitHTTP(ctx, b.manager, "http://"+b.addrs.probe+"/readyz", time.Minute); err != nil {
		return 0, 0, err
	}
	readyz = round(time.Since(start).Seconds())
	if err := w.wait(ctx, "AwaitingPayment", []string{probe}, time.Minute, w.reached(v1.PhaseAwaitingPayment)); err != nil {
		return 0, 0, err
	}
	return readyz, round(time.Since(start).Seconds()), nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func mib(bytes int64) float64 { return round(float64(bytes) / (1 << 20)) }

func orderNames(prefix string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%05d", prefix, i)
	}
	return names
}
