// Command bench measures kubepay against the API server's own limit, side by side in one run:
// raw status writes and creates with no kubepay in the path (the ceiling), then the same work
// through kubepay (orders created to AwaitingPayment by the controller; signed notifications
// applied by the callback server, each also sent 3 extra times concurrently), once with the
// Normal transition Events and once without. Every API request the manager makes goes through a
// counting proxy (apiproxy.go), so each pass names its writes per order. It prints a table and
// writes bin/bench/results.json. `make bench` runs it.
//
// With -scale N (make bench-scale) it measures instead what N settled orders cost: the same pass
// on an empty cluster and on one holding N settled orders, side by side (scale.go), written to
// bin/bench/scale.json.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kubepay/kubepay/internal/localrun"
	"github.com/kubepay/kubepay/internal/testenv"
)

// Results are the figures of one run (results.json). The top-level figures are those of the pass
// with transition Events on (the default); EventsOff repeats the pass with --transition-events=false.
type Results struct {
	Orders                    int     `json:"orders"`
	Concurrency               int     `json:"concurrency"`
	RawStatusPatchPerS        float64 `json:"raw_status_patch_per_s"`
	NotifyAppliedPerS         float64 `json:"notify_applied_per_s"`
	NotifyVsRawRatio          float64 `json:"notify_vs_raw_ratio"`
	NotifyP50Ms               float64 `json:"notify_p50_ms"`
	NotifyP99Ms               float64 `json:"notify_p99_ms"`
	DuplicatesSent            int     `json:"duplicates_sent"`
	TransitionsApplied        int     `json:"transitions_applied"`
	CreateToAwaitingPerS      float64 `json:"create_to_awaiting_per_s"`
	RawCreatePerS             float64 `json:"raw_create_per_s"`
	CreateVsRawRatio          float64 `json:"create_vs_raw_ratio"`
	ManagerHeapMiBPer10kOrder float64 `json:"manager_heap_mib_per_10k_orders"`
	VerifyUs                  float64 `json:"verify_us"`
	// RawCPUMs is the raw path's CPU cost per order (milliseconds, by process).
	RawCPUMs rawCPU `json:"raw_cpu_ms_per_order"`
	// The pass itself, with the named writes; EventsOff is the same pass without transition Events.
	EventsOn  *PassResult `json:"events_on,omitempty"`
	EventsOff *PassResult `json:"events_off,omitempty"`
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v >= 0 {
		return v
	}
	return def
}

func envString(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

type options struct {
	orders, conc, paced, late, scale int
	memProfileRate                   int
	paceFractions                    []float64
	events                           string
	proxy, retention, cpuProfile     bool
	out                              string
}

func main() {
	var o options
	flag.IntVar(&o.orders, "orders", envInt("BENCH_ORDERS", 2000), "orders per phase (env BENCH_ORDERS)")
	flag.IntVar(&o.conc, "concurrency", envInt("BENCH_CONCURRENCY", 32), "concurrent clients (env BENCH_CONCURRENCY)")
	flag.IntVar(&o.paced, "paced", envInt("BENCH_PACED", 1000), "notifications sent open-loop at a fixed rate, for latency below saturation (env BENCH_PACED; 0: none)")
	fractions := flag.String("pace-fractions", envString("BENCH_PACE_FRACTIONS", "0.5,0.25,0.1"), "paced rates, as fractions of the raw status-write ceiling, one paced run each (env BENCH_PACE_FRACTIONS)")
	flag.StringVar(&o.events, "transition-events", envString("BENCH_TRANSITION_EVENTS", "both"), "passes to run: on, off or both (env BENCH_TRANSITION_EVENTS)")
	flag.BoolVar(&o.proxy, "count-requests", os.Getenv("BENCH_COUNT_REQUESTS") != "0", "route the manager through the counting proxy (env BENCH_COUNT_REQUESTS=0 turns it off, to measure its cost)")
	flag.IntVar(&o.scale, "scale", envInt("BENCH_SCALE", 0), "settled orders present for the scale run (env BENCH_SCALE; 0: the default bench)")
	flag.IntVar(&o.late, "late", envInt("BENCH_LATE", 200), "scale run: late notifications for settled orders, read around the cache (env BENCH_LATE)")
	flag.BoolVar(&o.retention, "retention", os.Getenv("BENCH_RETENTION") != "0", "scale run: finish by letting retention delete the settled orders (env BENCH_RETENTION=0: skip)")
	flag.BoolVar(&o.cpuProfile, "cpu-profile", os.Getenv("BENCH_CPU_PROFILE") == "1", "record 10 s CPU profiles of the manager and the API server at the start of each notification phase (env BENCH_CPU_PROFILE=1)")
	flag.IntVar(&o.memProfileRate, "memprofilerate", envInt("BENCH_MEMPROFILERATE", 0), "run the manager with GODEBUG=memprofilerate=N, so its heap profiles sample every N bytes instead of 512 KiB (env BENCH_MEMPROFILERATE; slows it down: for heap analysis only)")
	flag.StringVar(&o.out, "out", "", "where to write the results, relative to the repository unless absolute (default bin/bench/results.json, or bin/bench/scale.json with -scale)")
	flag.Parse()
	for _, f := range strings.Split(*fractions, ",") {
		if v, err := strconv.ParseFloat(strings.TrimSpace(f), 64); err == nil && v > 0 {
			o.paceFractions = append(o.paceFractions, v)
		}
	}

	// The bench's own watch cache logs through controller-runtime; its chatter is not a result.
	ctrllog.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{root: localrun.RepoRoot(), opts: o, orders: o.orders, conc: o.conc}
	var res any
	var err error
	if o.scale > 0 {
		res, err = b.runScale(ctx)
	} else {
		res, err = b.run(ctx)
	}
	b.cleanup()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench failed: %v (logs in %s)\n", err, b.dir)
		os.Exit(1)
	}
	out := o.out
	if out == "" {
		out = "bin/bench/results.json"
		if o.scale > 0 {
			out = "bin/bench/scale.json"
		}
	}
	path := out
	if !filepath.IsAbs(path) {
		path = filepath.Join(b.root, out) // relative to the repository, as the defaults are
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
		raw, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(path, append(raw, '\n'), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "writing %s: %v\n", path, err)
			os.Exit(1)
		}
		fmt.Printf("\nwritten to %s\n", path)
	}
	if lost := b.lost(); lost != "" {
		fmt.Fprintln(os.Stderr, lost)
		os.Exit(1)
	}
}

type bench struct {
	root, dir    string
	opts         options
	orders, conc int
	env          *testenv.Env
	bins         localrun.Binaries
	addrs        addrs
	gateway      *localrun.Proc
	manager      *localrun.Proc
	proxy        *apiProxy
	// passes run so far, to check that every notification was applied exactly once.
	passes []*PassResult
}

// addrs are the loopback addresses of this run, picked free so that two benches on one machine
// (other worktrees) do not collide.
type addrs struct{ gateway, callback, metrics, probe, pprof, proxy string }

func (b *bench) start() error {
	b.dir = filepath.Join(b.root, "bin", "bench")
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return err
	}
	free, err := localrun.FreeAddrs(6)
	if err != nil {
		return err
	}
	b.addrs = addrs{gateway: free[0], callback: free[1], metrics: free[2], probe: free[3], pprof: free[4], proxy: free[5]}
	if b.bins, err = localrun.Build(b.root, os.Stdout); err != nil {
		return err
	}
	if err := os.Setenv("KUBEBUILDER_ASSETS", b.bins.Assets); err != nil {
		return err
	}
	if b.env, err = testenv.StartE(); err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	// The benchmark's own client must not be the bottleneck it measures.
	b.env.Config.QPS, b.env.Config.Burst = 1e6, 1e6
	return nil
}

func (b *bench) run(ctx context.Context) (*Results, error) {
	fmt.Printf("kubepay bench: %d orders, concurrency %d, transition events %s\n", b.orders, b.conc, b.opts.events)
	if err := b.start(); err != nil {
		return nil, err
	}
	res := &Results{Orders: b.orders, Concurrency: b.conc, DuplicatesSent: 3 * b.orders}

	fmt.Println("\n[1/3] ceiling: raw creates + status writes, no kubepay in the path")
	if err := b.raw(ctx, &res.RawCreatePerS, &res.RawStatusPatchPerS, &res.RawCPUMs); err != nil {
		return nil, err
	}
	fmt.Println("[2/3] starting the sandbox gateway")
	if err := b.startGateway(); err != nil {
		return nil, err
	}
	pace := b.pacings(res.RawStatusPatchPerS)
	step := 3
	for _, events := range []bool{true, false} {
		if (events && b.opts.events == "off") || (!events && b.opts.events == "on") {
			continue
		}
		ns := "bench"
		if !events {
			ns = "bench-noevents"
		}
		fmt.Printf("[%d/%d] kubepay pass, transition events %v (namespace %s)\n", step, step, events, ns)
		p, err := b.runPass(ctx, passConfig{name: ns, ns: ns, events: events, pace: pace})
		if err != nil {
			return nil, err
		}
		p.NotifyVsRawRatio = round(p.NotifyAppliedPerS / res.RawStatusPatchPerS)
		p.NotifyVsRawCPURatio = cpuRatio(res.RawCPUMs.StatusPatch, p.NotifyCPUMs)
		p.CreateVsRawRatio = round(p.CreateToAwaitingPerS / res.RawCreatePerS)
		if events {
			res.EventsOn = p
		} else {
			res.EventsOff = p
		}
	}
	first := res.EventsOn
	if first == nil {
		first = res.EventsOff
	}
	res.NotifyAppliedPerS, res.NotifyP50Ms, res.NotifyP99Ms = first.NotifyAppliedPerS, first.NotifyP50Ms, first.NotifyP99Ms
	res.TransitionsApplied, res.CreateToAwaitingPerS = first.TransitionsApplied, first.CreateToAwaitingPerS
	res.ManagerHeapMiBPer10kOrder = first.HeapMiBPer10kOpenOrders
	res.NotifyVsRawRatio, res.CreateVsRawRatio = first.NotifyVsRawRatio, first.CreateVsRawRatio
	res.VerifyUs = b.verifyMicros()
	printTable(res)
	return res, nil
}

// lost reports a pass that lost a notification or applied one twice.
func (b *bench) lost() string {
	for _, p := range b.passes {
		if p.TransitionsApplied != p.Orders {
			return fmt.Sprintf("pass %s: transitions_applied %d != orders %d: a notification was lost or applied twice", p.Name, p.TransitionsApplied, p.Orders)
		}
		for _, pr := range p.Paced {
			if pr.TransitionsApplied != pr.Orders {
				return fmt.Sprintf("pass %s, paced at %.0f/s: transitions_applied %d != orders %d: a notification was lost or applied twice",
					p.Name, pr.OfferedPerS, pr.TransitionsApplied, pr.Orders)
			}
		}
	}
	return ""
}

func (b *bench) cleanup() {
	b.stopManager()
	b.gateway.Stop()
	b.proxy.close()
	if b.env != nil {
		_ = b.env.Env.Stop()
	}
}

func round(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

func perSecond(n int, d time.Duration) float64 { return round(float64(n) / d.Seconds()) }

func printTable(r *Results) {
	fmt.Printf("\n%-40s %12s %12s\n", "metric", "events on", "events off")
	on, off := r.EventsOn, r.EventsOff
	if on == nil {
		on = &PassResult{}
	}
	if off == nil {
		off = &PassResult{}
	}
	rows := []struct {
		k      string
		on, of float64
	}{
		{"raw_status_patch_per_s", r.RawStatusPatchPerS, r.RawStatusPatchPerS},
		{"notify_applied_per_s", on.NotifyAppliedPerS, off.NotifyAppliedPerS},
		{"notify_vs_raw_ratio (target >= 0.5)", on.NotifyVsRawRatio, off.NotifyVsRawRatio},
		{"notify_vs_raw_cpu_ratio (raw CPU / notification CPU)", on.NotifyVsRawCPURatio, off.NotifyVsRawCPURatio},
		{"notify_p50_ms", on.NotifyP50Ms, off.NotifyP50Ms},
		{"notify_p99_ms", on.NotifyP99Ms, off.NotifyP99Ms},
		{"transitions_applied (== orders)", float64(on.TransitionsApplied), float64(off.TransitionsApplied)},
		{"raw_create_per_s", r.RawCreatePerS, r.RawCreatePerS},
		{"create_to_awaiting_per_s", on.CreateToAwaitingPerS, off.CreateToAwaitingPerS},
		{"create_vs_raw_ratio", on.CreateVsRawRatio, off.CreateVsRawRatio},
		{"create_writes_per_order", on.CreateWritesTotal, off.CreateWritesTotal},
		{"notify_writes_per_order", on.NotifyWritesTotal, off.NotifyWritesTotal},
		{"start_to_ready_s", on.StartToReadyS, off.StartToReadyS},
		{"manager_heap_mib_per_10k_orders", on.HeapMiBPer10kOpenOrders, off.HeapMiBPer10kOpenOrders},
		{"manager_heap_idle_mib", on.HeapIdleMiB, off.HeapIdleMiB},
		{"manager_heap_settled_mib (the pass's orders settled)", on.HeapSettledMiB, off.HeapSettledMiB},
	}
	for i := range max(len(on.Paced), len(off.Paced)) {
		a, z := pacedAt(on, i), pacedAt(off, i)
		f := max(a.Fraction, z.Fraction)
		rows = append(rows, []struct {
			k      string
			on, of float64
		}{
			{fmt.Sprintf("paced %.2f of raw: offered_per_s", f), a.OfferedPerS, z.OfferedPerS},
			{fmt.Sprintf("paced %.2f of raw: answered_per_s", f), a.AchievedPerS, z.AchievedPerS},
			{fmt.Sprintf("paced %.2f of raw: notify_p50_ms", f), a.P50Ms, z.P50Ms},
			{fmt.Sprintf("paced %.2f of raw: notify_p99_ms", f), a.P99Ms, z.P99Ms},
		}...)
	}
	for _, row := range rows {
		fmt.Printf("%-40s %12.2f %12.2f\n", row.k, row.on, row.of)
	}
	fmt.Printf("%-40s %12.2f\n", "verify_us", r.VerifyUs)
	for _, p := range []*PassResult{r.EventsOn, r.EventsOff} {
		if p != nil {
			printWrites(p)
		}
	}
}

func printWrites(p *PassResult) {
	fmt.Printf("\nAPI writes per order, pass %s (transition events %v):\n", p.Name, p.TransitionEvents)
	fmt.Printf("  create path (%.2f):\n", p.CreateWritesTotal)
	for _, k := range sortedKeys(p.CreateWrites) {
		fmt.Printf("    %-52s %6.3f\n", k, p.CreateWrites[k])
	}
	fmt.Printf("  per applied notification (%.2f):\n", p.NotifyWritesTotal)
	for _, k := range sortedKeys(p.NotifyWrites) {
		fmt.Printf("    %-52s %6.3f\n", k, p.NotifyWrites[k])
	}
}

// pacedAt is the pass's i-th paced run, or a zero one.
func pacedAt(p *PassResult, i int) *PacedResult {
	if i < len(p.Paced) {
		return p.Paced[i]
	}
	return &PacedResult{}
}
