package testfixture

import (
	"context"
	"fmt"
	"time"

	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kubepay/kubepay/internal/manager"
	"github.com/kubepay/kubepay/internal/testenv"
)

// Manager is a kubepay manager running against a test control plane.
type Manager struct {
	*manager.Manager
	// CallbackURL is the base URL of its callback server ("" when it has none).
	CallbackURL string
	stop        func()
}

// Stop stops the manager and waits for it to exit.
func (m *Manager) Stop() { m.stop() }

// StartManager starts manager.New (the code cmd/manager runs) with metrics and probes off, the
// callback server on a free loopback port, and faults wrapping its client.
func StartManager(env *testenv.Env, faults *Faults, mutate func(*manager.Options)) (*Manager, error) {
	opts := manager.Options{
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		ProbeBindAddress:        "0",
		NotifyBindAddress:       "127.0.0.1:0",
		MaxConcurrentReconciles: 8,
		// Retention and the claim sweep run often, so tests wait seconds for them.
		HousekeepingInterval: time.Second,
		// A test binary may start several managers (one per test, or two installs at once).
		SecondInProcess: true,
	}
	if faults != nil {
		opts.WrapClient = faults.Wrap
	}
	if mutate != nil {
		mutate(&opts)
	}
	mgr, err := manager.New(env.Config, opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	// The manager's exit error after a cancel is the shutdown's; the test's verdict is already in.
	m := &Manager{Manager: mgr, stop: func() { cancel(); <-done }} //nolint:errcheck // see above
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		m.Stop()
		return nil, fmt.Errorf("manager cache did not sync")
	}
	if mgr.Callback != nil {
		select {
		case addr := <-mgr.Callback.Addresses():
			m.CallbackURL = "http://" + addr
		case err := <-done:
			cancel()
			return nil, fmt.Errorf("manager stopped before the callback server listened: %w", err)
		case <-time.After(30 * time.Second):
			m.Stop()
			return nil, fmt.Errorf("callback server did not start listening")
		}
	}
	return m, nil
}
