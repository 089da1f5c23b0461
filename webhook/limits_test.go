package webhook_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	k8sevents "k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/kubepay/kubepay/internal/resolver"
	"github.com/kubepay/kubepay/internal/scheme"
	"github.com/kubepay/kubepay/webhook"
)

// startLimited runs a callback server with a tight per-source limit. Its client is an empty fake:
// the limits act before any object is read, and what passes them finds no provider (404), which
// is all these tests need to tell served from refused.
func startLimited(t *testing.T, limit float64, burst int) string {
	t.Helper()
	c := fake.NewClientBuilder().WithScheme(scheme.New()).Build()
	srv := &webhook.Server{
		Addr: "127.0.0.1:0", Client: c, APIReader: c,
		Resolver: &resolver.Resolver{Reader: c}, Recorder: k8sevents.NewFakeRecorder(100),
		Log: ctrl.Log.WithName("limits-test"), RateLimit: limit, RateBurst: burst,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("callback server stopped with: %v", err)
		}
	})
	select {
	case addr := <-srv.Addresses():
		return "http://" + addr
	case err := <-done:
		t.Fatalf("callback server did not start: %v", err)
	}
	return ""
}

// clientFrom sends from a chosen loopback source address, so two "sources" can be told apart.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 10 * time.Second}
}

func TestRateLimitPerSourceAddress(t *testing.T) {
	// One token per 100 s: no refill during the test, however slow the machine.
	base := startLimited(t, 0.01, 3)
	url := base + "/notify/nowhere/nothing"
	count := func(c *http.Client, n int) map[int]int {
		codes := map[int]int{}
		for range n {
			resp, err := c.Post(url, "application/json", strings.NewReader(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			codes[resp.StatusCode]++
			if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		}
		return codes
	}
	flood := count(clientFrom("127.0.0.1"), 12)
	// The burst of 3 passes (to the handler, which answers 404 for the unknown provider); the
	// rest are refused before any work.
	if flood[http.StatusNotFound] != 3 || flood[http.StatusTooManyRequests] != 9 {
		t.Fatalf("12 requests from one address answered %v; want 3 served and 9 refused with 429", flood)
	}
	// Another source address has its own bucket: one flooding peer does not lock out a provider.
	if other := count(clientFrom("127.0.0.2"), 2); other[http.StatusNotFound] != 2 {
		t.Fatalf("a second source address was answered %v; want both served", other)
	}
}

func TestHeaderSizeLimit(t *testing.T) {
	base := startLimited(t, 0, 0)
	req, _ := http.NewRequest(http.MethodPost, base+"/notify/nowhere/nothing", strings.NewReader(`{}`))
	req.Header.Set("X-Padding", strings.Repeat("a", 4*webhook.MaxHeaderBytes))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("a %d KiB header was answered %d, want 431", 4*webhook.MaxHeaderBytes>>10, resp.StatusCode)
	}
}
