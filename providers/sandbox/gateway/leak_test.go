package gateway_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers/sandbox/gateway"
	"github.com/kubepay/kubepay/providers/sandbox/gatewaytest"
)

// TestCloseLeavesNoGoroutines is deliberately not parallel: top-level parallel tests are paused
// while it runs, so the process goroutine count is its own.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("busy gateway", func(t *testing.T) {
		rc := gatewaytest.NewReceiver(t, nil)
		g, srv := gatewaytest.StartTest(t, gateway.Options{Duplicates: 2, Reorder: true, ReorderWindow: time.Millisecond})
		c := newClient(t, srv)
		for _, otn := range []string{"otn-leak-1", "otn-leak-2", "otn-leak-3"} {
			c.mustPay(c.mustCreate(order(otn, rc.URL)).ID, "succeeded")
		}
		gatewaytest.WaitStats(t, g, waitTimeout, func(s gateway.Stats) bool { return s.DeliveriesAcked == 3 })
	})
	// Connection goroutines end asynchronously once the servers are closed: poll.
	deadline := time.Now().Add(waitTimeout)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
