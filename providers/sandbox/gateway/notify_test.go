package gateway_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers/sandbox/gateway"
	"github.com/kubepay/kubepay/providers/sandbox/gatewaytest"
)

// fastRetries turns the 4m,10m,... schedule into 24ms,60ms,...
const fastRetries = 0.0001

// verify checks a Sandbox-Signature header the way a receiver must, returning the signing time.
func verify(t *testing.T, g *gateway.Gateway, header string, body []byte) (int64, error) {
	t.Helper()
	block, _ := pem.Decode(g.PublicKeyPEM())
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatalf("parse gateway public key: %v", err)
	}
	ts, sig, ok := strings.Cut(header, ",v1=")
	ts, tok := strings.CutPrefix(ts, "t=")
	if !ok || !tok {
		return 0, fmt.Errorf("header %q is not of the form t=<unix time>,v1=<signature>", header)
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return 0, err
	}
	digest := sha256.Sum256([]byte(ts + "." + string(body)))
	if err := rsa.VerifyPKCS1v15(k.(*rsa.PublicKey), crypto.SHA256, digest[:], raw); err != nil {
		return 0, err
	}
	return strconv.ParseInt(ts, 10, 64)
}

func TestNotificationIsSignedOverTheRawBody(t *testing.T) {
	t.Parallel()
	rc := gatewaytest.NewReceiver(t, nil)
	g, srv := gatewaytest.StartTest(t, gateway.Options{})
	c := newClient(t, srv)
	p := c.mustCreate(order("otn-signed", rc.URL))
	c.mustPay(p.ID, "succeeded")
	got := rc.Wait(t, 1, waitTimeout)[0]
	if _, err := verify(t, g, got.Signature, got.Body); err != nil {
		t.Fatalf("signature %q does not verify: %v", got.Signature, err)
	}
	var ev gateway.Event
	mustDecode(t, got.Body, &ev)
	if !strings.HasPrefix(ev.ID, "evt_") || ev.Type != gateway.EventPaymentSucceeded || ev.Created == 0 ||
		ev.Data.ID != p.ID || ev.Data.OutTradeNo != "otn-signed" || ev.Data.Status != gateway.StatusSucceeded || ev.Data.Amount != 1050 {
		t.Errorf("event %+v does not describe the paid payment %s", ev, p.ID)
	}
	if _, err := verify(t, g, got.Signature, append(got.Body, ' ')); err == nil {
		t.Errorf("signature verifies over a modified body")
	}
	gatewaytest.WaitStats(t, g, waitTimeout, func(s gateway.Stats) bool { return s.DeliveriesAcked == 1 && s.DeliveriesPending == 0 })
}

func TestNotificationIsRetriedUntilAcknowledged(t *testing.T) {
	t.Parallel()
	answers := func(first ...string) gatewaytest.AnswerFunc {
		return func(n int, _ *http.Request, _ []byte) (int, string) {
			if n > len(first) {
				return http.StatusOK, "success"
			}
			code, body, _ := strings.Cut(first[n-1], " ")
			status, _ := strconv.Atoi(code)
			return status, body
		}
	}
	tests := []struct {
		name     string
		opts     gateway.Options
		answer   gatewaytest.AnswerFunc
		ackedOn  int
		requests int
		codes    []int
	}{
		{"the first two attempts are dropped, the third is sent and acked", gateway.Options{DropFirst: 2}, nil, 3, 1, []int{0, 0, 200}},
		{"a receiver answering 500 twice is tried three times", gateway.Options{}, answers("500 fail", "500 fail"), 3, 3, []int{500, 500, 200}},
		{"a 2xx with another body is not an acknowledgement", gateway.Options{}, answers("200 ok"), 2, 2, []int{200, 200}},
		{"an empty 204 is not an acknowledgement", gateway.Options{}, answers("204 "), 2, 2, []int{204, 200}},
		{"a redirect is neither followed nor an acknowledgement", gateway.Options{}, answers("302 success"), 2, 2, []int{302, 200}},
		{"whitespace around success is tolerated", gateway.Options{}, answers("200  success\n"), 1, 1, []int{200}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc := gatewaytest.NewReceiver(t, tc.answer)
			tc.opts.TimeScale = fastRetries
			g, srv := gatewaytest.StartTest(t, tc.opts)
			c := newClient(t, srv)
			otn := "otn-retry-" + strconv.Itoa(i)
			c.mustPay(c.mustCreate(order(otn, rc.URL)).ID, "succeeded")
			s := gatewaytest.WaitStats(t, g, waitTimeout, func(s gateway.Stats) bool { return s.DeliveriesAcked == 1 })
			d := s.DeliveriesFor(otn)[0]
			if d.AckedOn() != tc.ackedOn {
				t.Errorf("acked on attempt %d, want %d; attempts %+v", d.AckedOn(), tc.ackedOn, d.Attempts)
			}
			var codes []int
			for j, a := range d.Attempts {
				codes = append(codes, a.StatusCode)
				if a.Number != j+1 || a.Dropped != (a.StatusCode == 0) {
					t.Errorf("attempt %d is %+v", j+1, a)
				}
			}
			if !reflect.DeepEqual(codes, tc.codes) {
				t.Errorf("attempt status codes %v, want %v", codes, tc.codes)
			}
			got := rc.Requests()
			if len(got) != tc.requests {
				t.Fatalf("receiver got %d requests, want %d", len(got), tc.requests)
			}
			for _, r := range got {
				if r.EventID != d.EventID || string(r.Body) != string(got[0].Body) {
					t.Errorf("a retry carried event %s / another body, want the same event %s and bytes", r.EventID, d.EventID)
				}
			}
		})
	}
}

func TestNotificationIsGivenUpAfterTheSchedule(t *testing.T) {
	t.Parallel()
	rc := gatewaytest.NewReceiver(t, func(int, *http.Request, []byte) (int, string) { return 500, "fail" })
	g, srv := gatewaytest.StartTest(t, gateway.Options{RetrySchedule: []time.Duration{time.Millisecond, 2 * time.Millisecond}})
	c := newClient(t, srv)
	c.mustPay(c.mustCreate(order("otn-giveup", rc.URL)).ID, "failed")
	s := gatewaytest.WaitStats(t, g, waitTimeout, func(s gateway.Stats) bool { return s.DeliveriesGivenUp == 1 })
	if d := s.Deliveries[0]; len(d.Attempts) != 3 || d.Acked || !d.GaveUp || s.DeliveriesPending != 0 {
		t.Errorf("delivery %+v (pending %d): want 3 attempts (1 + 2 retries), given up", d, s.DeliveriesPending)
	}
	if n := len(rc.Requests()); n != 3 {
		t.Errorf("receiver got %d requests, want 3", n)
	}
}

func TestEveryAttemptIsSignedAtItsOwnTime(t *testing.T) {
	t.Parallel()
	clk := newClock()
	// The receiver moves the clock on, so the retry happens "10 s later" for the gateway.
	rc := gatewaytest.NewReceiver(t, func(n int, _ *http.Request, _ []byte) (int, string) {
		clk.Advance(10 * time.Second)
		if n == 1 {
			return 503, "busy"
		}
		return 200, "success"
	})
	g, srv := gatewaytest.StartTest(t, gateway.Options{Now: clk.Now, RetrySchedule: []time.Duration{time.Millisecond}})
	c := newClient(t, srv)
	c.mustPay(c.mustCreate(order("otn-resign", rc.URL)).ID, "succeeded")
	got := rc.Wait(t, 2, waitTimeout)
	t1, err1 := verify(t, g, got[0].Signature, got[0].Body)
	t2, err2 := verify(t, g, got[1].Signature, got[1].Body)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatalf("signatures do not verify: %v", err)
	}
	if t2-t1 != 10 {
		t.Errorf("attempts signed at t=%d and t=%d, want the retry re-signed 10 s later", t1, t2)
	}
}

func TestDuplicatedDelivery(t *testing.T) {
	t.Parallel()
	rc := gatewaytest.NewReceiver(t, nil)
	g, srv := gatewaytest.StartTest(t, gateway.Options{Duplicates: 3})
	c := newClient(t, srv)
	c.mustPay(c.mustCreate(order("otn-dup", rc.URL)).ID, "succeeded")
	s := gatewaytest.WaitStats(t, g, waitTimeout, func(s gateway.Stats) bool { return s.DeliveriesAcked == 1 })
	got := rc.Requests()
	if len(got) != 3 {
		t.Fatalf("receiver got %d requests, want 3 copies", len(got))
	}
	for _, r := range got {
		if r.EventID != got[0].EventID || r.Signature != got[0].Signature {
			t.Errorf("copies differ: %s/%s vs %s/%s; duplicates must be identical", r.EventID, r.Signature[:12], got[0].EventID, got[0].Signature[:12])
		}
	}
	d := s.Deliveries[0]
	copies := map[int]bool{}
	for _, a := range d.Attempts {
		if a.Number != 1 || !a.Acked {
			t.Errorf("attempt %+v: want copies of attempt 1, each acked", a)
		}
		copies[a.Copy] = true
	}
	if len(copies) != 3 {
		t.Errorf("attempt copies %v, want 1, 2 and 3", copies)
	}
}

func TestReorderedDelivery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		reorder  bool
		shuffled bool
	}{
		{"without reordering one worker delivers in event order (the control)", false, false},
		{"with reordering a burst arrives in another order", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc := gatewaytest.NewReceiver(t, nil)
			// One worker makes the arrival order the dispatch order; the window is long enough
			// for the whole burst to be buffered together even under -race.
			g, srv := gatewaytest.StartTest(t, gateway.Options{Reorder: tc.reorder, ReorderWindow: 500 * time.Millisecond, Workers: 1, Seed: 42})
			c := newClient(t, srv)
			const n = 8
			var ids []string
			for i := range n {
				ids = append(ids, c.mustCreate(order(fmt.Sprintf("otn-order-%d", i), rc.URL)).ID)
			}
			var paid []string
			for _, id := range ids {
				c.mustPay(id, "succeeded")
				paid = append(paid, id)
			}
			gatewaytest.WaitStats(t, g, waitTimeout, func(s gateway.Stats) bool { return s.DeliveriesAcked == n })
			var arrived []string
			seen := map[string]bool{}
			for _, r := range rc.Requests() {
				var ev gateway.Event
				mustDecode(t, r.Body, &ev)
				if seen[ev.ID] {
					t.Errorf("event %s delivered twice", ev.ID)
				}
				seen[ev.ID] = true
				arrived = append(arrived, ev.Data.ID)
			}
			if len(arrived) != n {
				t.Fatalf("receiver got %d events, want %d", len(arrived), n)
			}
			if shuffled := !reflect.DeepEqual(arrived, paid); shuffled != tc.shuffled {
				t.Errorf("arrival order %v vs payment order %v: shuffled=%v, want %v", arrived, paid, shuffled, tc.shuffled)
			}
		})
	}
}

func TestDropRatioAppliesToSomeDeliveries(t *testing.T) {
	t.Parallel()
	rc := gatewaytest.NewReceiver(t, nil)
	g, srv := gatewaytest.StartTest(t, gateway.Options{DropFirst: 1, DropRatio: 0.5, Seed: 7, TimeScale: fastRetries})
	c := newClient(t, srv)
	const n = 20
	for i := range n {
		c.mustPay(c.mustCreate(order(fmt.Sprintf("otn-ratio-%d", i), rc.URL)).ID, "succeeded")
	}
	s := gatewaytest.WaitStats(t, g, waitTimeout, func(s gateway.Stats) bool { return s.DeliveriesAcked == n })
	dropped := 0
	for _, d := range s.Deliveries {
		if d.Attempts[0].Dropped {
			dropped++
			if d.AckedOn() != 2 {
				t.Errorf("delivery %s had its first attempt dropped but was acked on %d, want 2", d.EventID, d.AckedOn())
			}
		}
	}
	if dropped == 0 || dropped == n {
		t.Errorf("%d of %d deliveries had drops, want some but not all at ratio 0.5", dropped, n)
	}
}

func TestDelayPostponesAttempts(t *testing.T) {
	t.Parallel()
	rc := gatewaytest.NewReceiver(t, nil)
	const delay = 100 * time.Millisecond
	_, srv := gatewaytest.StartTest(t, gateway.Options{Delay: delay})
	c := newClient(t, srv)
	p := c.mustCreate(order("otn-delay", rc.URL))
	paidAt := time.Now()
	c.mustPay(p.ID, "succeeded")
	got := rc.Wait(t, 1, waitTimeout)[0]
	if waited := got.At.Sub(paidAt); waited < delay {
		t.Errorf("notification arrived %v after payment, want at least the %v delay", waited, delay)
	}
}

func TestAttemptTimeoutIsAFailedAttempt(t *testing.T) {
	t.Parallel()
	rc := gatewaytest.NewReceiver(t, func(n int, r *http.Request, _ []byte) (int, string) {
		if n == 1 {
			<-r.Context().Done() // hang until the gateway gives up on the request
		}
		return 200, "success"
	})
	g, srv := gatewaytest.StartTest(t, gateway.Options{AttemptTimeout: 200 * time.Millisecond, RetrySchedule: []time.Duration{time.Millisecond}})
	c := newClient(t, srv)
	c.mustPay(c.mustCreate(order("otn-timeout", rc.URL)).ID, "succeeded")
	s := gatewaytest.WaitStats(t, g, waitTimeout, func(s gateway.Stats) bool { return s.DeliveriesAcked == 1 })
	d := s.Deliveries[0]
	if d.AckedOn() != 2 || d.Attempts[0].Error == "" {
		t.Errorf("attempts %+v: want a timed-out first attempt and an ack on the second", d.Attempts)
	}
}

func TestCloseInterruptsDeliveryWithoutCountingIt(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	rc := gatewaytest.NewReceiver(t, func(_ int, r *http.Request, _ []byte) (int, string) {
		arrived <- struct{}{}
		<-r.Context().Done() // never answers while the gateway waits
		return 200, "success"
	})
	g, srv := gatewaytest.StartTest(t, gateway.Options{})
	c := newClient(t, srv)
	c.mustPay(c.mustCreate(order("otn-close", rc.URL)).ID, "succeeded")
	select {
	case <-arrived:
	case <-time.After(waitTimeout):
		t.Fatal("the notification never arrived")
	}
	done := make(chan error, 1)
	go func() { done <- g.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Close did not return while an attempt was in flight")
	}
	s := g.Stats()
	if s.DeliveriesPending != 1 || len(s.Deliveries[0].Attempts) != 0 {
		t.Errorf("after Close: %+v; want the interrupted delivery pending with no attempt counted", s)
	}
	if err := g.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestEventJSONShape(t *testing.T) {
	t.Parallel()
	rc := gatewaytest.NewReceiver(t, nil)
	_, srv := gatewaytest.StartTest(t, gateway.Options{})
	c := newClient(t, srv)
	p := c.mustCreate(order("otn-shape", rc.URL))
	if status, b := c.closePayment(p.ID); status != 200 {
		t.Fatalf("close: HTTP %d %s", status, b)
	}
	got := rc.Wait(t, 1, waitTimeout)[0]
	var raw map[string]json.RawMessage
	mustDecode(t, got.Body, &raw)
	for _, k := range []string{"id", "type", "created", "data"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("event lacks %q: %s", k, got.Body)
		}
	}
	var data map[string]any
	mustDecode(t, raw["data"], &data)
	for _, k := range []string{"id", "out_trade_no", "status", "amount", "currency", "subject", "payment_url", "created_at", "closed_at"} {
		if _, ok := data[k]; !ok {
			t.Errorf("event data lacks %q: %s", k, raw["data"])
		}
	}
	if got.Type != gateway.EventPaymentClosed || data["status"] != "closed" {
		t.Errorf("event %s with status %v, want payment.closed / closed", got.Type, data["status"])
	}
}
