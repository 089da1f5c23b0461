package gateway_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers/sandbox/gateway"
	"github.com/kubepay/kubepay/providers/sandbox/gatewaytest"
)

func TestResend(t *testing.T) {
	t.Parallel()
	var accept atomic.Bool
	accept.Store(true)
	rc := gatewaytest.NewReceiver(t, func(int, *http.Request, []byte) (int, string) {
		if accept.Load() {
			return 200, "success"
		}
		return 500, "fail"
	})
	g, srv := gatewaytest.StartTest(t, gateway.Options{RetrySchedule: []time.Duration{time.Millisecond}})
	c := newClient(t, srv)
	resend := func(eventID, key string) (int, gateway.Attempt) {
		t.Helper()
		status, b, _ := c.do(http.MethodPost, "/v1/events/"+eventID+"/resend", nil, "Authorization", "Bearer "+key)
		var a gateway.Attempt
		if status == http.StatusOK {
			mustDecode(t, b, &a)
		}
		return status, a
	}

	// An acknowledged event sent again, as a dashboard's "resend" does: a true duplicate.
	c.mustPay(c.mustCreate(order("otn-resend-acked", rc.URL)).ID, "succeeded")
	acked := gatewaytest.WaitStats(t, g, waitTimeout, func(s gateway.Stats) bool { return s.DeliveriesAcked == 1 }).Deliveries[0]
	status, a := resend(acked.EventID, gatewaytest.APIKey)
	if status != http.StatusOK || !a.Acked || !a.Manual || a.Number != 1 {
		t.Fatalf("resend of an acked event: HTTP %d %+v, want a manual acked attempt after attempt 1", status, a)
	}
	got := rc.Requests()
	if len(got) != 2 || got[1].EventID != acked.EventID || string(got[1].Body) != string(got[0].Body) {
		t.Fatalf("receiver got %d requests; want the same event twice", len(got))
	}

	// A given-up event is rescued by a successful resend.
	accept.Store(false)
	c.mustPay(c.mustCreate(order("otn-resend-gaveup", rc.URL)).ID, "failed")
	gaveUp := gatewaytest.WaitStats(t, g, waitTimeout, func(s gateway.Stats) bool { return s.DeliveriesGivenUp == 1 }).DeliveriesFor("otn-resend-gaveup")[0]
	if status, a := resend(gaveUp.EventID, gatewaytest.APIKey); status != http.StatusOK || a.Acked || a.StatusCode != 500 {
		t.Fatalf("failed resend: HTTP %d %+v, want 200 reporting the receiver's 500", status, a)
	}
	if s := g.Stats(); s.DeliveriesGivenUp != 1 {
		t.Fatalf("a failed resend changed the delivery: %+v", s.DeliveriesFor("otn-resend-gaveup"))
	}
	accept.Store(true)
	if status, a := resend(gaveUp.EventID, gatewaytest.APIKey); status != http.StatusOK || !a.Acked {
		t.Fatalf("resend after the receiver recovered: HTTP %d %+v", status, a)
	}
	if s := g.Stats(); s.DeliveriesGivenUp != 0 || s.DeliveriesAcked != 2 || s.DeliveriesPending != 0 {
		t.Errorf("stats %+v: want both deliveries acked", s)
	}

	if status, _ := resend("evt_nope", gatewaytest.APIKey); status != http.StatusNotFound {
		t.Errorf("resend of an unknown event: HTTP %d, want 404", status)
	}
	if status, _ := resend(acked.EventID, "sk_wrong"); status != http.StatusUnauthorized {
		t.Errorf("resend without the API key: HTTP %d, want 401", status)
	}
}
