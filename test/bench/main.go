// Command bench measures kubepay against the API server's own limit, side by side in one run:
// raw status writes and creates with no kubepay in the path (the ceiling), then the same work
// through kubepay (orders created to AwaitingPayment by the controller; signed notifications
// applied by the callback server, each also sent 3 extra times concurrently). It prints a table
// and writes bin/bench/results.json. `make bench` runs it.
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
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kubepay/kubepay/internal/localrun"
	"github.com/kubepay/kubepay/internal/testenv"
)

// Results are the figures of one run; every value is a number.
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
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func main() {
	orders := flag.Int("orders", envInt("BENCH_ORDERS", 2000), "orders per phase (env BENCH_ORDERS)")
	conc := flag.Int("concurrency", envInt("BENCH_CONCURRENCY", 32), "concurrent clients (env BENCH_CONCURRENCY)")
	out := flag.String("out", "bin/bench/results.json", "where to write the results")
	flag.Parse()

	// The bench's own watch cache logs through controller-runtime; its chatter is not a result.
	ctrllog.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{root: localrun.RepoRoot(), orders: *orders, conc: *conc}
	res, err := b.run(ctx)
	b.cleanup()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench failed: %v (logs in %s)\n", err, b.dir)
		os.Exit(1)
	}
	printTable(res)
	path := filepath.Join(b.root, *out)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
		raw, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(path, append(raw, '\n'), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "writing %s: %v\n", path, err)
			os.Exit(1)
		}
		fmt.Printf("\nwritten to %s\n", path)
	}
	if res.TransitionsApplied != res.Orders {
		fmt.Fprintf(os.Stderr, "transitions_applied %d != orders %d: a notification was lost or applied twice\n", res.TransitionsApplied, res.Orders)
		os.Exit(1)
	}
}

type bench struct {
	root, dir    string
	orders, conc int
	env          *testenv.Env
	bins         localrun.Binaries
	procs        []*localrun.Proc
	watcher      *watcher
}

func (b *bench) run(ctx context.Context) (*Results, error) {
	b.dir = filepath.Join(b.root, "bin", "bench")
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return nil, err
	}
	fmt.Printf("kubepay bench: %d orders, concurrency %d\n", b.orders, b.conc)
	var err error
	if b.bins, err = localrun.Build(b.root, os.Stdout); err != nil {
		return nil, err
	}
	if err := os.Setenv("KUBEBUILDER_ASSETS", b.bins.Assets); err != nil {
		return nil, err
	}
	if b.env, err = testenv.StartE(); err != nil {
		return nil, fmt.Errorf("starting the control plane: %w", err)
	}
	// The benchmark's own client must not be the bottleneck it measures.
	b.env.Config.QPS, b.env.Config.Burst = 1e6, 1e6
	res := &Results{Orders: b.orders, Concurrency: b.conc, DuplicatesSent: 3 * b.orders}

	fmt.Println("\n[1/4] ceiling: raw creates + status writes, no kubepay in the path")
	if err := b.raw(ctx, res); err != nil {
		return nil, err
	}
	fmt.Println("[2/4] starting the sandbox gateway and the kubepay manager")
	if err := b.startKubepay(ctx); err != nil {
		return nil, err
	}
	fmt.Println("[3/4] kubepay: orders created until AwaitingPayment")
	names, err := b.createOrders(ctx, res)
	if err != nil {
		return nil, err
	}
	fmt.Println("[4/4] kubepay: signed notifications (+3 duplicates each) until every order is Paid")
	if err := b.notify(ctx, names, res); err != nil {
		return nil, err
	}
	res.VerifyUs = verifyMicros()
	res.NotifyVsRawRatio = round(res.NotifyAppliedPerS / res.RawStatusPatchPerS)
	res.CreateVsRawRatio = round(res.CreateToAwaitingPerS / res.RawCreatePerS)
	return res, nil
}

func (b *bench) cleanup() {
	for i := len(b.procs) - 1; i >= 0; i-- {
		b.procs[i].Stop()
	}
	if b.env != nil {
		_ = b.env.Env.Stop()
	}
}

func round(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

func perSecond(n int, d time.Duration) float64 { return round(float64(n) / d.Seconds()) }

func printTable(r *Results) {
	fmt.Printf("\n%-34s %12s\n", "metric", "value")
	rows := []struct {
		k string
		v float64
	}{
		{"raw_status_patch_per_s", r.RawStatusPatchPerS}, {"notify_applied_per_s", r.NotifyAppliedPerS},
		{"notify_vs_raw_ratio (target >= 0.8)", r.NotifyVsRawRatio}, {"notify_p50_ms", r.NotifyP50Ms},
		{"notify_p99_ms (target < 100)", r.NotifyP99Ms}, {"duplicates_sent", float64(r.DuplicatesSent)},
		{"transitions_applied (== orders)", float64(r.TransitionsApplied)}, {"raw_create_per_s", r.RawCreatePerS},
		{"create_to_awaiting_per_s", r.CreateToAwaitingPerS}, {"create_vs_raw_ratio (target >= 0.5)", r.CreateVsRawRatio},
		{"manager_heap_mib_per_10k_orders", r.ManagerHeapMiBPer10kOrder}, {"verify_us", r.VerifyUs},
	}
	for _, row := range rows {
		fmt.Printf("%-34s %12.2f\n", row.k, row.v)
	}
}
