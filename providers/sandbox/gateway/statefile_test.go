package gateway_test

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers/sandbox/gateway"
	"github.com/kubepay/kubepay/providers/sandbox/gatewaytest"
)

func TestStateFileSurvivesARestart(t *testing.T) {
	t.Parallel()
	var accept atomic.Bool
	rc := gatewaytest.NewReceiver(t, func(int, *http.Request, []byte) (int, string) {
		if accept.Load() {
			return 200, "success"
		}
		return 503, "down for maintenance"
	})
	stateFile := filepath.Join(t.TempDir(), "gateway-state.json")
	// No SigningKey: the first gateway generates one, the second must load the same one.
	opts := gateway.Options{StateFile: stateFile, RetrySchedule: []time.Duration{20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond, time.Hour}}

	g1, srv1 := gatewaytest.StartTest(t, opts)
	c1 := newClient(t, srv1)
	p := c1.mustCreate(order("otn-durable", rc.URL))
	open := c1.mustCreate(order("otn-durable-open", noNotify))
	c1.mustPay(p.ID, "succeeded")
	gatewaytest.WaitStats(t, g1, waitTimeout, func(s gateway.Stats) bool {
		return len(s.Deliveries) == 1 && len(s.Deliveries[0].Attempts) >= 1
	})
	srv1.Close()
	if err := g1.Close(); err != nil {
		t.Fatalf("close first gateway: %v", err)
	}
	before := g1.Stats()
	if before.DeliveriesPending != 1 {
		t.Fatalf("first gateway stopped with %d pending deliveries, want 1", before.DeliveriesPending)
	}
	eventID, attempts := before.Deliveries[0].EventID, len(before.Deliveries[0].Attempts)
	if fi, err := os.Stat(stateFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file %v (err %v): want mode 0600, it holds the signing key", fi.Mode(), err)
	}

	accept.Store(true)
	g2, srv2 := gatewaytest.StartTest(t, opts)
	c2 := newClient(t, srv2)
	if !bytes.Equal(g1.PublicKeyPEM(), g2.PublicKeyPEM()) {
		t.Fatalf("the restarted gateway has another public key: notifications would stop verifying")
	}
	// Payments, their states and idempotency records are back.
	status, b := c2.get("/v1/payments/" + p.ID)
	var got gateway.Payment
	mustDecode(t, b, &got)
	if status != 200 || got.Status != gateway.StatusSucceeded || got.OutTradeNo != "otn-durable" {
		t.Fatalf("payment after restart: HTTP %d %+v, want the succeeded payment", status, got)
	}
	if status, replay, _ := c2.create(order("otn-durable-open", noNotify)); status != http.StatusOK || replay.ID != open.ID {
		t.Errorf("create replay after restart: HTTP %d %s, want 200 %s", status, replay.ID, open.ID)
	}
	if status, _, _ := c2.create(func() gateway.CreateRequest { r := order("otn-durable-open", noNotify); r.Amount = 1; return r }()); status != http.StatusConflict {
		t.Errorf("conflicting create after restart: HTTP %d, want 409", status)
	}
	// The pending notification resumes, with the same event id, and is signed with the same key.
	s := gatewaytest.WaitStats(t, g2, waitTimeout, func(s gateway.Stats) bool { return s.DeliveriesAcked == 1 })
	d := s.Deliveries[0]
	if d.EventID != eventID || len(d.Attempts) <= attempts || d.AckedOn() != d.Attempts[len(d.Attempts)-1].Number {
		t.Errorf("delivery after restart %+v: want event %s acked after its %d earlier attempts", d, eventID, attempts)
	}
	last := rc.Requests()[len(rc.Requests())-1]
	if last.EventID != eventID {
		t.Errorf("acknowledged event %s, want %s", last.EventID, eventID)
	}
	if _, err := verify(t, g1, last.Signature, last.Body); err != nil {
		t.Errorf("the resumed notification does not verify with the original key: %v", err)
	}
	if s.PaymentsTotal != 2 || s.PaymentsByOutTradeNo["otn-durable"] != 1 || s.CreatesTotal != before.CreatesTotal+1 {
		t.Errorf("stats after restart %+v: want 2 payments and the create counters carried over", s)
	}
}

func TestStateFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		path string
	}{
		{"a corrupt state file is an error, not a silent fresh start", write("corrupt.json", "{not json")},
		{"an unknown version is refused", write("version.json", `{"version":99}`)},
		{"a bad stored key is refused", write("key.json", `{"version":1,"signing_key_pem":"garbage"}`)},
		{"an idempotency record without its payment is refused", write("idem.json", `{"version":1,"idempotency":{"o":{"payment_id":"pay_x"}}}`)},
		{"a directory that does not exist cannot hold the state", filepath.Join(dir, "missing", "state.json")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := gateway.New(gateway.Options{APIKeys: []string{"k"}, StateFile: tc.path, SigningKey: gatewaytest.SigningKey()})
			if err == nil {
				_ = g.Close()
				t.Fatalf("New with state file %s succeeded", tc.path)
			}
		})
	}
}
