// Command soak runs kubepay for a bounded time under every kind of trouble at once, on loopback,
// and proves at the end that no payment was lost or applied twice. A local control plane, the
// sandbox gateway in full chaos (every notification sent 3 times concurrently, the first two
// attempts of a third of them dropped, reordered, delayed, retried on a compressed schedule), two
// managers behind a round-robin proxy (one leader runs the controller, both serve callbacks), the
// managers SIGKILLed and restarted, the gateway SIGKILLed and restarted from its state file, orders
// created throughout the first part of the run, two thirds of them paid by a simulated customer
// and the rest left to expire. Half the paid orders are refunded (in part, in full, in two refunds
// at once, by three 40% refunds at once that together exceed the payment, by two refunds with one
// refund number), a few expired ones too (refused), and some expired orders are paid late at the
// gateway, which kubepay must refund by itself. It prints a table and writes
// bin/soak/results.json; it exits 0 only when every check holds: no payment lost, applied twice or
// duplicated, no refund executed twice or beyond the payment, every late payment refunded.
// `make soak` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kubepay/kubepay/internal/localrun"
	"github.com/kubepay/kubepay/internal/testenv"
)

// config sizes one run. Everything else (pauses, deadlines, chaos times) derives from it so a
// quick run is the same story, shorter.
type config struct {
	orders int
	// createWindow spreads the creates; expireMin/Max bound each order's expiresAfter, so every
	// unpaid order expires within the run.
	createWindow         time.Duration
	expireMin, expireMax time.Duration
	payRatio             float64
	seed                 int64
}

// span is how long the planned traffic lasts: the last order created, then expired.
func (c config) span() time.Duration { return c.createWindow + c.expireMax }

// settleTimeout bounds the wait after the planned traffic for every order to be terminal and
// every notification delivered.
const settleTimeout = 150 * time.Second

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func main() {
	quick := flag.Bool("quick", os.Getenv("SOAK_QUICK") == "1", "a short run: 100 orders, shorter expiries (env SOAK_QUICK=1)")
	orders := flag.Int("orders", envInt("SOAK_ORDERS", 0), "orders to create (env SOAK_ORDERS; default 1000, or 100 with --quick)")
	seed := flag.Int64("seed", int64(envInt("SOAK_SEED", 1)), "seed of the gateway's chaos and of the customer's choices (env SOAK_SEED)")
	out := flag.String("out", "bin/soak/results.json", "where to write the results")
	flag.Parse()

	cfg := config{orders: *orders, expireMin: 60 * time.Second, expireMax: 120 * time.Second, payRatio: 2.0 / 3, seed: *seed}
	if *quick {
		cfg.expireMin, cfg.expireMax = 30*time.Second, 60*time.Second
		if cfg.orders == 0 {
			cfg.orders = 100
		}
	}
	if cfg.orders == 0 {
		cfg.orders = 1000
	}
	// About 8 creates a second: steady traffic on 2 cores, and the run stays under 10 minutes.
	cfg.createWindow = min(max(time.Duration(cfg.orders)*120*time.Millisecond, 20*time.Second), 150*time.Second)

	// The soak's own watch cache logs through controller-runtime; its chatter is not a result.
	ctrllog.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	began := time.Now()
	s := &soak{cfg: cfg, root: localrun.RepoRoot()}
	res, err := s.run(ctx)
	s.cleanup()
	if res != nil {
		// The whole run, builds and control plane included: what `make soak` costs.
		res.ElapsedS = round(time.Since(began).Seconds())
		printTable(res)
		if s.chaos != nil {
			fmt.Println("\nchaos performed:")
			for _, l := range s.chaos.lines {
				fmt.Println("  " + l)
			}
		}
		path := filepath.Join(s.root, *out)
		if werr := writeResults(path, res); werr != nil {
			fmt.Fprintf(os.Stderr, "writing %s: %v\n", path, werr)
			os.Exit(1)
		}
		fmt.Printf("\nwritten to %s (logs in %s)\n", path, s.dir)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "\n✗ soak failed: %v (logs in %s)\n", err, s.dir)
		os.Exit(1)
	}
	fmt.Println("\n✓ soak passed: every paid order Paid exactly once, every unpaid one Expired and closed, nothing lost;" +
		" every refund as planned, made once, never beyond the payment; every late payment refunded by kubepay")
}

// soak is one run.
type soak struct {
	cfg       config
	root, dir string
	start     time.Time
	bins      localrun.Binaries
	env       *testenv.Env
	addr      addresses
	gateway   *service
	managers  [2]*service
	proxy     *proxy
	plan      *plan
	customer  *customer
	refunder  *refunder
	chaos     *chaosLog
}

func (s *soak) run(ctx context.Context) (*Results, error) {
	s.dir = filepath.Join(s.root, "bin", "soak")
	// A fresh directory: an old state file would hand the new gateway yesterday's payments.
	if err := os.RemoveAll(s.dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, err
	}
	fmt.Printf("kubepay soak: %d orders created over %v, expiring after %v-%v, ~%.0f%% paid; seed %d\n",
		s.cfg.orders, s.cfg.createWindow, s.cfg.expireMin, s.cfg.expireMax, s.cfg.payRatio*100, s.cfg.seed)

	fmt.Println("\n[1/5] building and starting the control plane, the gateway, two managers and the callback proxy")
	if err := s.setUp(ctx); err != nil {
		return nil, err
	}
	fmt.Printf("\n[2/5] traffic and chaos for about %v (progress every 15s)\n", s.cfg.span().Round(time.Second))
	s.start = time.Now()
	stopReport := make(chan struct{})
	var reporting sync.WaitGroup
	reporting.Add(1)
	if err := s.traffic(ctx, stopReport, &reporting); err != nil {
		return nil, err
	}
	fmt.Println("\n[3/5] waiting until every order is terminal and every notification delivered")
	settleErr := s.settle(ctx)
	close(stopReport)
	reporting.Wait()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("interrupted: %w", ctx.Err())
	}
	fmt.Println("\n[4/5] collecting the orders and the gateway's records")
	snap, err := s.collect(ctx)
	if err != nil {
		return nil, err
	}
	fmt.Println("\n[5/5] stopping everything and checking")
	s.cleanup()
	res, failures := s.verify(snap)
	if settleErr != nil {
		failures = append([]string{settleErr.Error()}, failures...)
	}
	res.Failures = failures
	if len(failures) > 0 {
		return res, fmt.Errorf("%d check(s) failed", len(failures))
	}
	return res, nil
}

// cleanup stops every process and the control plane; it is safe to call more than once.
func (s *soak) cleanup() {
	s.proxy.close()
	for _, m := range s.managers {
		if m != nil {
			m.checkCrash()
			m.stop()
		}
	}
	if s.gateway != nil {
		s.gateway.checkCrash()
		s.gateway.stop()
	}
	if s.env != nil {
		_ = s.env.Env.Stop()
		s.env = nil
	}
}

func round(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
