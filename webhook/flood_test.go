package webhook_test

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/resolver"
	"github.com/kubepay/kubepay/internal/testenv"
	"github.com/kubepay/kubepay/internal/testfixture"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
	"github.com/kubepay/kubepay/webhook"
)

// forgedSignature is a well-formed Sandbox-Signature with a current timestamp and four random
// 2048-bit "signatures" (the most the header may carry): it passes every cheap check, so each
// request costs the server four RSA verifications before it fails.
func forgedSignature() string {
	parts := []string{"t=" + strconv.FormatInt(time.Now().Unix(), 10)}
	for range 4 {
		sig := make([]byte, 256)
		_, _ = rand.Read(sig)
		parts = append(parts, "v1="+base64.StdEncoding.EncodeToString(sig))
	}
	return strings.Join(parts, ",")
}

// flood posts requests to url from 127.0.0.1 on workers connections until it has sent at least
// atLeast and stop() reports true, or it has sent atMost. It returns the answers by HTTP status, and
// any transport errors.
func flood(url string, workers, atLeast, atMost int, body []byte, signature func() string, stop func() bool) (map[int]int, []error) {
	client := &http.Client{
		Transport: &http.Transport{
			// Keep every worker's connection alive: thousands of short connections would only
			// measure the kernel's TIME_WAIT handling.
			DialContext:         (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: workers,
		},
		Timeout: 30 * time.Second,
	}
	defer client.CloseIdleConnections()
	var (
		sent  atomic.Int64
		mu    sync.Mutex
		codes = map[int]int{}
		errs  []error
		wg    sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for {
				n := sent.Add(1)
				if n > int64(atMost) || (n > int64(atLeast) && stop()) {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
				if sig := signature(); sig != "" {
					req.Header.Set("Sandbox-Signature", sig)
				}
				resp, err := client.Do(req)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					codes[resp.StatusCode]++
				}
				mu.Unlock()
				if err == nil {
					// Read to the end, or the connection cannot be reused.
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		})
	}
	wg.Wait()
	return codes, errs
}

// TestFloodDoesNotStarveGenuineNotifications: the callback server's only client address is
// 127.0.0.1, as behind an ingress, where the provider and everyone else share one source address.
// Someone floods the provider's route from it; meanwhile the customer pays and the gateway
// delivers the genuine notification from the same address. The genuine one must be applied on its
// first delivery: anything else means someone else's traffic refused it. Every flood request is
// refused, and the server logs the flood at a bounded rate.
func TestFloodDoesNotStarveGenuineNotifications(t *testing.T) {
	const (
		workers = 32
		burst   = 20 // failures logged one by one per source, before the budget runs out
	)
	tests := []struct {
		name      string
		requests  int
		signature func() string
	}{
		// Unsigned: the cheapest to refuse, so the most a sender can send.
		{"5,000 unsigned requests", 5000, func() string { return "" }},
		// Forged but well formed: each one costs full signature verifications, the most
		// expensive thing an unauthenticated sender can make the server do.
		{"2,000 requests with forged, well-formed signatures", 2000, forgedSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testenv.SkipIfShort(t)
			logs := &lineLog{}
			// Its own callback server, so the flood's per-source budget and logs are this test's.
			// The budget does not refill during the test (one failure per 1000 s), so counts are
			// exact however slow the machine.
			base := startCallback(t, &webhook.Server{
				Addr: "127.0.0.1:0", Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
				Resolver: &resolver.Resolver{Reader: mgr.GetClient()}, Recorder: mgr.GetEventRecorder("flood-test"),
				Log: logs.logger(), RateLimit: 0.001, RateBurst: burst,
			})
			f := testfixture.New(t, env, gateway.Options{}, testfixture.Provider{CallbackBaseURL: base, QueryInitial: 10 * time.Minute, QueryMax: 10 * time.Minute})
			f.Order("genuine", "12.00", "CNY", 30*time.Minute)
			o := f.WaitPhase("genuine", v1.PhaseAwaitingPayment, 30*time.Second)

			// firstAttempt is the gateway's first delivery attempt, once it has been answered.
			firstAttempt := func() (gateway.Attempt, bool) {
				for _, d := range f.GW.Stats().DeliveriesFor(o.Status.OutTradeNo) {
					for _, a := range d.Attempts {
						if a.Number == 1 && (a.StatusCode != 0 || a.Error != "") {
							return a, true
						}
					}
				}
				return gateway.Attempt{}, false
			}
			// The flood runs at least tt.requests, and on until the genuine delivery has been
			// answered, so the two overlap whatever the machine's speed; never more than 10x.
			var attempted atomic.Bool
			t.Cleanup(func() { attempted.Store(true) }) // a failed test stops the flood early
			type result struct {
				codes map[int]int
				errs  []error
			}
			done := make(chan result, 1)
			// Junk in the shape of a notification, for this very order.
			body := notification("evt_flood", "payment.succeeded", o, 1200, "CNY")
			floodStart := time.Now()
			go func() {
				codes, errs := flood(notifyURL(base, f), workers, tt.requests, 10*tt.requests, body, tt.signature, attempted.Load)
				done <- result{codes, errs}
			}()

			// Pay once the flood is under way and the source's failure budget is spent.
			testenv.Eventually(t, 30*time.Second, func() (bool, string) {
				n := len(logs.matching("refused"))
				return n >= burst, fmt.Sprintf("%d refusals logged, waiting for %d", n, burst)
			})
			f.Pay(o.Status.ProviderPaymentID, "succeeded")
			testenv.Eventually(t, 30*time.Second, func() (bool, string) {
				_, ok := firstAttempt()
				return ok, "the gateway's first delivery has not been answered"
			})
			attempted.Store(true)
			res := <-done

			if len(res.errs) > 0 {
				t.Errorf("%d flood requests failed at the transport, e.g. %v", len(res.errs), res.errs[0])
			}
			total := 0
			for code, n := range res.codes {
				total += n
				if code != http.StatusBadRequest && code != http.StatusTooManyRequests && code != http.StatusServiceUnavailable {
					t.Errorf("%d flood requests answered %d, want each refused (400, 429 or 503): %v", n, code, res.codes)
				}
			}
			if total < tt.requests {
				t.Errorf("flood answered %d requests, want at least %d", total, tt.requests)
			}

			a, _ := firstAttempt()
			if !a.Acked || a.StatusCode != http.StatusOK {
				t.Fatalf("the genuine notification's first delivery, during a flood from its own source address, was answered %d %q (error %q), want 200 success",
					a.StatusCode, a.Body, a.Error)
			}
			got := f.WaitPhase("genuine", v1.PhasePaid, 10*time.Second)
			if countTo(got, v1.PhasePaid) != 1 {
				t.Errorf("PaymentOrder %s/genuine: want one Paid transition: %s", f.NS, describe(got))
			}
			// Logged one by one while the source's budget lasts, then in aggregate per interval.
			if n := len(logs.matching("refus")); n > burst+10 {
				t.Errorf("a flood of %d requests (%v) made the server log %d refusal lines, want at most %d (the budget, then aggregates)", total, res.codes, n, burst+10)
			}
			t.Logf("flood of %d requests in %v answered %v; genuine delivery answered %d %q", total, time.Since(floodStart).Round(time.Millisecond), res.codes, a.StatusCode, a.Body)
		})
	}
}
