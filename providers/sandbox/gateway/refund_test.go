package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers/sandbox/gateway"
	"github.com/kubepay/kubepay/providers/sandbox/gatewaytest"
)

// refund asks for a refund of payment id; the Idempotency-Key is the out_refund_no.
func (c client) refund(id string, req gateway.RefundRequest) (int, gateway.Refund, []byte) {
	c.t.Helper()
	b, _ := json.Marshal(req)
	status, body, _ := c.do(http.MethodPost, "/v1/payments/"+id+"/refunds", b, "Authorization", "Bearer "+c.key, "Idempotency-Key", req.OutRefundNo, "Content-Type", "application/json")
	var r gateway.Refund
	if status == http.StatusOK || status == http.StatusCreated {
		mustDecode(c.t, body, &r)
	}
	return status, r, body
}

func (c client) mustRefund(id string, req gateway.RefundRequest) gateway.Refund {
	c.t.Helper()
	status, r, body := c.refund(id, req)
	if status != http.StatusCreated {
		c.t.Fatalf("refund %q of payment %s: HTTP %d %s, want 201", req.OutRefundNo, id, status, body)
	}
	return r
}

func (c client) completeRefund(id, outcome, reason string) (int, []byte) {
	c.t.Helper()
	b, _ := json.Marshal(map[string]string{"outcome": outcome, "reason": reason})
	status, body, _ := c.do(http.MethodPost, "/v1/refunds/"+id+"/complete", b, "Content-Type", "application/json")
	return status, body
}

func (c client) getRefund(path string) (int, gateway.Refund, []byte) {
	c.t.Helper()
	status, body := c.get(path)
	var r gateway.Refund
	if status == http.StatusOK {
		mustDecode(c.t, body, &r)
	}
	return status, r, body
}

// paidPayment creates a payment of 1050 USD and pays it.
func (c client) paidPayment(otn, notifyURL string) gateway.Payment {
	c.t.Helper()
	p := c.mustCreate(order(otn, notifyURL))
	c.mustPay(p.ID, "succeeded")
	return p
}

func TestRefundIsIdempotentOnOutRefundNo(t *testing.T) {
	t.Parallel()
	g, srv := gatewaytest.StartTest(t, gateway.Options{RefundDelay: -1})
	c := newClient(t, srv)
	p := c.paidPayment("otn-refund-idem", noNotify)
	other := c.paidPayment("otn-refund-idem-other", noNotify)
	req := gateway.RefundRequest{OutRefundNo: "rf-idem-1", Amount: 300, Reason: "damaged cup"}

	first := c.mustRefund(p.ID, req)
	if !strings.HasPrefix(first.ID, "re_") || first.PaymentID != p.ID || first.OutTradeNo != "otn-refund-idem" || first.OutRefundNo != "rf-idem-1" ||
		first.Amount != 300 || first.Currency != "USD" || first.Status != gateway.RefundPending || first.CreatedAt.IsZero() || first.Reason != "damaged cup" {
		t.Fatalf("refund %+v: want a pending re_ refund of 300 USD of payment %s", first, p.ID)
	}
	tests := []struct {
		name    string
		payment string
		req     gateway.RefundRequest
		status  int
		code    string
	}{
		{"the same request again is the same refund: a retry after a lost answer", p.ID, req, 200, ""},
		{"the same key with another amount is a conflict, never a second refund", p.ID, gateway.RefundRequest{OutRefundNo: "rf-idem-1", Amount: 301, Reason: "damaged cup"}, 409, "idempotency_conflict"},
		{"the same key with another reason is a conflict too: the request differs", p.ID, gateway.RefundRequest{OutRefundNo: "rf-idem-1", Amount: 300}, 409, "idempotency_conflict"},
		{"the same key on another payment is a conflict: refund numbers are per merchant", other.ID, req, 409, "idempotency_conflict"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, r, b := c.refund(tc.payment, tc.req)
			if status != tc.status {
				t.Fatalf("HTTP %d %s, want %d", status, b, tc.status)
			}
			if tc.code != "" {
				if code := errorCode(t, b); code != tc.code {
					t.Errorf("code %q, want %q", code, tc.code)
				}
				return
			}
			if r != first {
				t.Errorf("replay answered %+v, want %+v", r, first)
			}
		})
	}
	for _, path := range []string{"/v1/refunds/" + first.ID, "/v1/refunds?out_refund_no=rf-idem-1"} {
		if status, r, b := c.getRefund(path); status != 200 || r != first {
			t.Errorf("GET %s: HTTP %d %s, want %+v", path, status, b, first)
		}
	}
	s := g.Stats()
	pr := s.RefundsFor("otn-refund-idem")
	if s.RefundsTotal != 1 || pr.Count != 1 || pr.Executions["rf-idem-1"] != 1 || pr.PendingTotal != 300 || pr.RefundedTotal != 0 ||
		s.RefundReplaysTotal != 1 || s.RefundConflictsTotal != 3 || s.RefundRequestsTotal != 2 {
		t.Errorf("stats %+v, refunds %+v: want one execution of rf-idem-1, pending 300, one replay, three conflicts", s, pr)
	}
}

func TestRefundRefusals(t *testing.T) {
	t.Parallel()
	clk := newClock()
	_, srv := gatewaytest.StartTest(t, gateway.Options{RefundDelay: -1, Now: clk.Now})
	c := newClient(t, srv)
	paid := c.paidPayment("otn-refuse-paid", noNotify)
	c.mustRefund(paid.ID, gateway.RefundRequest{OutRefundNo: "rf-refuse-part", Amount: 1000})
	open := c.mustCreate(order("otn-refuse-open", noNotify))
	closed := c.mustCreate(order("otn-refuse-closed", noNotify))
	if status, b := c.closePayment(closed.ID); status != 200 {
		t.Fatalf("close: HTTP %d %s", status, b)
	}
	failed := c.mustCreate(order("otn-refuse-failed", noNotify))
	c.mustPay(failed.ID, "failed")
	body := func(orn string, amount int64) []byte {
		b, _ := json.Marshal(gateway.RefundRequest{OutRefundNo: orn, Amount: amount})
		return b
	}
	auth := func(key string) []string {
		return []string{"Authorization", "Bearer " + gatewaytest.APIKey, "Idempotency-Key", key}
	}
	tests := []struct {
		name    string
		method  string
		path    string
		body    []byte
		headers []string
		status  int
		code    string
	}{
		{"an open payment has no money to give back", "POST", "/v1/payments/" + open.ID + "/refunds", body("rf-r1", 100), auth("rf-r1"), 409, "payment_not_paid"},
		{"a closed payment has no money to give back", "POST", "/v1/payments/" + closed.ID + "/refunds", body("rf-r2", 100), auth("rf-r2"), 409, "payment_not_paid"},
		{"a failed payment has no money to give back", "POST", "/v1/payments/" + failed.ID + "/refunds", body("rf-r3", 100), auth("rf-r3"), 409, "payment_not_paid"},
		{"more than what is left of the payment (1050 - 1000 pending) is refused", "POST", "/v1/payments/" + paid.ID + "/refunds", body("rf-r4", 51), auth("rf-r4"), 409, "refund_exceeds_payment"},
		{"more than the whole payment is refused", "POST", "/v1/payments/" + paid.ID + "/refunds", body("rf-r5", 5000), auth("rf-r5"), 409, "refund_exceeds_payment"},
		{"an unknown payment is the gateway's structured not-found", "POST", "/v1/payments/pay_nope/refunds", body("rf-r6", 1), auth("rf-r6"), 404, "payment_not_found"},
		{"a zero amount is no refund", "POST", "/v1/payments/" + paid.ID + "/refunds", body("rf-r7", 0), auth("rf-r7"), 400, "invalid_request"},
		{"a negative amount is no refund", "POST", "/v1/payments/" + paid.ID + "/refunds", body("rf-r8", -1), auth("rf-r8"), 400, "invalid_request"},
		{"the Idempotency-Key is mandatory", "POST", "/v1/payments/" + paid.ID + "/refunds", body("rf-r9", 1), []string{"Authorization", "Bearer " + gatewaytest.APIKey}, 400, "invalid_request"},
		{"the Idempotency-Key must be the out_refund_no", "POST", "/v1/payments/" + paid.ID + "/refunds", body("rf-r10", 1), auth("other"), 400, "invalid_request"},
		{"out_refund_no travels in a header: no spaces", "POST", "/v1/payments/" + paid.ID + "/refunds", body("rf r11", 1), auth("rf r11"), 400, "invalid_request"},
		{"a notify_url must be http(s)", "POST", "/v1/payments/" + paid.ID + "/refunds", []byte(`{"out_refund_no":"rf-r12","amount":1,"notify_url":"ftp://x/y"}`), auth("rf-r12"), 400, "invalid_request"},
		{"unknown fields are client bugs", "POST", "/v1/payments/" + paid.ID + "/refunds", []byte(`{"out_refund_no":"rf-r13","amount":1,"amout":1}`), auth("rf-r13"), 400, "invalid_request"},
		{"refunds need the API key", "POST", "/v1/payments/" + paid.ID + "/refunds", body("rf-r14", 1), []string{"Idempotency-Key", "rf-r14"}, 401, "unauthorized"},
		{"an unknown refund id is the structured refund_not_found", "GET", "/v1/refunds/re_nope", nil, auth(""), 404, "refund_not_found"},
		{"an unknown out_refund_no is the structured refund_not_found", "GET", "/v1/refunds?out_refund_no=rf-nope", nil, auth(""), 404, "refund_not_found"},
		{"a lookup needs out_refund_no", "GET", "/v1/refunds", nil, auth(""), 400, "invalid_request"},
		{"refund reads need the API key", "GET", "/v1/refunds?out_refund_no=rf-refuse-part", nil, nil, 401, "unauthorized"},
		{"completing an unknown refund is refund_not_found", "POST", "/v1/refunds/re_nope/complete", []byte(`{"outcome":"succeeded"}`), nil, 404, "refund_not_found"},
		{"a refund outcome is succeeded or failed", "POST", "/v1/refunds/re_nope/complete", []byte(`{"outcome":"maybe"}`), nil, 400, "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, b, _ := c.do(tc.method, tc.path, tc.body, tc.headers...)
			if status != tc.status {
				t.Fatalf("HTTP %d %s, want %d", status, b, tc.status)
			}
			if code := errorCode(t, b); code != tc.code {
				t.Errorf("code %q, want %q", code, tc.code)
			}
		})
	}
	if s := srvStats(t, c); s.RefundsTotal != 1 || s.RefundRefusalsTotal != 2 {
		t.Errorf("stats: %d refunds, %d refusals; want only the first refund made and the two excess refusals counted", s.RefundsTotal, s.RefundRefusalsTotal)
	}
}

// TestConcurrentRefundsNeverExceedThePayment: the refunds of a payment can never add up to more
// than its amount, whatever arrives at the same time.
func TestConcurrentRefundsNeverExceedThePayment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// key names the out_refund_no of the i-th request.
		key                func(i int) string
		requests           int
		amount             int64
		created, replayed  int
		refused            int
		wantExecutionsEach int
	}{
		{"40 different refunds of 100 on a payment of 1050: exactly 10 fit", func(i int) string { return "rf-many-" + strconv.Itoa(i) }, 40, 100, 10, 0, 30, 1},
		{"20 copies of one refund of 600: one execution, 19 replays", func(int) string { return "rf-same" }, 20, 600, 1, 19, 0, 1},
		{"30 different refunds of the whole payment: exactly one", func(i int) string { return "rf-full-" + strconv.Itoa(i) }, 30, 1050, 1, 0, 29, 1},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g, srv := gatewaytest.StartTest(t, gateway.Options{RefundDelay: -1})
			c := newClient(t, srv)
			otn := "otn-concurrent-" + strconv.Itoa(i)
			p := c.paidPayment(otn, noNotify)
			var (
				wg       sync.WaitGroup
				mu       sync.Mutex
				statuses = map[int]int{}
				codes    = map[string]int{}
			)
			start := make(chan struct{})
			for j := range tc.requests {
				wg.Go(func() {
					<-start
					status, _, b := c.refund(p.ID, gateway.RefundRequest{OutRefundNo: tc.key(j), Amount: tc.amount})
					mu.Lock()
					defer mu.Unlock()
					statuses[status]++
					if status >= 400 {
						codes[errorCode(t, b)]++
					}
				})
			}
			close(start)
			wg.Wait()
			if statuses[201] != tc.created || statuses[200] != tc.replayed || statuses[409] != tc.refused || codes["refund_exceeds_payment"] != tc.refused {
				t.Fatalf("statuses %v codes %v: want %d created, %d replayed, %d refused as refund_exceeds_payment", statuses, codes, tc.created, tc.replayed, tc.refused)
			}
			pr := g.Stats().RefundsFor(otn)
			if pr.PendingTotal+pr.RefundedTotal > p.Amount || pr.Count != tc.created {
				t.Errorf("refunds %+v: %d refunds committing %d of a payment of %d", pr, pr.Count, pr.PendingTotal+pr.RefundedTotal, p.Amount)
			}
			for orn, n := range pr.Executions {
				if n != tc.wantExecutionsEach {
					t.Errorf("out_refund_no %s executed %d times, want %d", orn, n, tc.wantExecutionsEach)
				}
			}
		})
	}
}

// TestRefundSettlesAndNotifies: a refund completes by itself after RefundDelay and its result
// is a signed refund.succeeded event to the payment's notify_url, retried like any event.
func TestRefundSettlesAndNotifies(t *testing.T) {
	t.Parallel()
	rc := gatewaytest.NewReceiver(t, nil)
	g, srv := gatewaytest.StartTest(t, gateway.Options{RefundDelay: 20 * time.Millisecond})
	c := newClient(t, srv)
	p := c.paidPayment("otn-settle", rc.URL)
	rf := c.mustRefund(p.ID, gateway.RefundRequest{OutRefundNo: "rf-settle", Amount: 1050})
	s := gatewaytest.WaitStats(t, g, waitTimeout, func(s gateway.Stats) bool {
		return len(s.DeliveriesFor("otn-settle")) == 2 && s.DeliveriesAcked == 2
	})
	d := s.DeliveriesFor("otn-settle")[1]
	if d.Type != gateway.EventRefundSucceeded || d.RefundID != rf.ID || d.OutRefundNo != "rf-settle" || d.PaymentID != p.ID {
		t.Fatalf("delivery %+v: want refund.succeeded for %s", d, rf.ID)
	}
	if pr := s.RefundsFor("otn-settle"); pr.RefundedTotal != 1050 || pr.PendingTotal != 0 {
		t.Errorf("refunds %+v: want 1050 refunded, nothing pending", pr)
	}
	var got *gatewaytest.Received
	for _, r := range rc.Requests() {
		if r.EventID == d.EventID {
			got = &r
		}
	}
	if got == nil {
		t.Fatalf("receiver never got event %s", d.EventID)
	}
	if _, err := verify(t, g, got.Signature, got.Body); err != nil {
		t.Fatalf("refund event signature does not verify: %v", err)
	}
	var ev gateway.RefundEvent
	mustDecode(t, got.Body, &ev)
	if ev.Type != gateway.EventRefundSucceeded || ev.Data.ID != rf.ID || ev.Data.Status != gateway.RefundSucceeded || ev.Data.SucceededAt.IsZero() ||
		ev.Data.Amount != 1050 || ev.Data.OutTradeNo != "otn-settle" || ev.Data.PaymentID != p.ID {
		t.Errorf("event %+v does not describe the succeeded refund %s", ev, rf.ID)
	}
	if _, r, _ := c.getRefund("/v1/refunds/" + rf.ID); r.Status != gateway.RefundSucceeded {
		t.Errorf("refund after settling is %q, want succeeded", r.Status)
	}
	// A fully refunded payment has nothing left to refund.
	if status, _, b := c.refund(p.ID, gateway.RefundRequest{OutRefundNo: "rf-settle-2", Amount: 1}); status != 409 || errorCode(t, b) != "refund_exceeds_payment" {
		t.Errorf("refund after a full refund: HTTP %d %s, want 409 refund_exceeds_payment", status, b)
	}
}

// TestRefundCompletedByHand: with RefundDelay < 0 a refund stays pending until the test settles
// it; a failed refund releases its amount and is notified with its reason.
func TestRefundCompletedByHand(t *testing.T) {
	t.Parallel()
	rc := gatewaytest.NewReceiver(t, nil)
	own := gatewaytest.NewReceiver(t, nil)
	g, srv := gatewaytest.StartTest(t, gateway.Options{RefundDelay: -1})
	c := newClient(t, srv)
	p := c.paidPayment("otn-byhand", rc.URL)
	rf := c.mustRefund(p.ID, gateway.RefundRequest{OutRefundNo: "rf-byhand-1", Amount: 1050, NotifyURL: own.URL})
	gatewaytest.WaitStats(t, g, waitTimeout, func(s gateway.Stats) bool { return s.DeliveriesAcked == 1 })
	if _, r, _ := c.getRefund("/v1/refunds/" + rf.ID); r.Status != gateway.RefundPending {
		t.Fatalf("refund is %q before anyone settled it, want pending", r.Status)
	}
	if status, _, b := c.refund(p.ID, gateway.RefundRequest{OutRefundNo: "rf-byhand-2", Amount: 1}); status != 409 || errorCode(t, b) != "refund_exceeds_payment" {
		t.Fatalf("refund beside a pending full refund: HTTP %d %s, want 409 refund_exceeds_payment", status, b)
	}
	steps := []struct {
		name    string
		outcome string
		status  int
		code    string
	}{
		{"the bank refuses the refund", "failed", 200, ""},
		{"settling it again the same way is a no-op", "failed", 200, ""},
		{"a failed refund cannot succeed afterwards", "succeeded", 409, "refund_not_pending"},
	}
	for _, st := range steps {
		status, b := c.completeRefund(rf.ID, st.outcome, "account closed")
		if status != st.status || (st.code != "" && errorCode(t, b) != st.code) {
			t.Fatalf("%s: HTTP %d %s, want %d %s", st.name, status, b, st.status, st.code)
		}
	}
	got := own.Wait(t, 1, waitTimeout)[0]
	var ev gateway.RefundEvent
	mustDecode(t, got.Body, &ev)
	if ev.Type != gateway.EventRefundFailed || ev.Data.Status != gateway.RefundFailed || ev.Data.FailureReason != "account closed" || ev.Data.FailedAt.IsZero() {
		t.Errorf("event %+v: want refund.failed with the reason, sent to the refund's own notify_url", ev)
	}
	// Its money is free again.
	again := c.mustRefund(p.ID, gateway.RefundRequest{OutRefundNo: "rf-byhand-3", Amount: 1050})
	if status, b := c.completeRefund(again.ID, "succeeded", ""); status != 200 {
		t.Fatalf("complete: HTTP %d %s", status, b)
	}
	s := gatewaytest.WaitStats(t, g, waitTimeout, func(s gateway.Stats) bool { return s.DeliveriesAcked == 3 })
	if pr := s.RefundsFor("otn-byhand"); pr.Count != 2 || pr.RefundedTotal != 1050 || pr.Executions["rf-byhand-1"] != 1 || pr.Executions["rf-byhand-3"] != 1 {
		t.Errorf("refunds %+v: want the failed and the succeeded refund, 1050 refunded", pr)
	}
	if n := len(rc.Requests()); n != 2 {
		t.Errorf("payment's notify_url got %d requests, want 2 (payment.succeeded, then the refund without its own notify_url)", n)
	}
}

// TestRefundNotificationsHaveTheChaosOfPayments: duplicates and drops apply to refund events too.
func TestRefundNotificationsHaveTheChaosOfPayments(t *testing.T) {
	t.Parallel()
	rc := gatewaytest.NewReceiver(t, nil)
	g, srv := gatewaytest.StartTest(t, gateway.Options{RefundDelay: -1, Duplicates: 2, DropFirst: 1, TimeScale: fastRetries})
	c := newClient(t, srv)
	p := c.paidPayment("otn-refund-chaos", rc.URL)
	rf := c.mustRefund(p.ID, gateway.RefundRequest{OutRefundNo: "rf-chaos", Amount: 50})
	if status, b := c.completeRefund(rf.ID, "succeeded", ""); status != 200 {
		t.Fatalf("complete: HTTP %d %s", status, b)
	}
	s := gatewaytest.WaitStats(t, g, waitTimeout, func(s gateway.Stats) bool { return s.DeliveriesAcked == 2 })
	d := s.DeliveriesFor("otn-refund-chaos")[1]
	if d.Type != gateway.EventRefundSucceeded || d.AckedOn() != 2 || len(d.Attempts) != 3 || !d.Attempts[0].Dropped {
		t.Errorf("delivery %+v: want the first attempt dropped and the second sent twice", d)
	}
}

func TestLatePayment(t *testing.T) {
	t.Parallel()
	rc := gatewaytest.NewReceiver(t, nil)
	clk := newClock()
	g, srv := gatewaytest.StartTest(t, gateway.Options{Now: clk.Now})
	c := newClient(t, srv)
	latePay := func(id, outcome string) (int, []byte) {
		status, b, _ := c.do(http.MethodPost, "/v1/payments/"+id+"/pay", []byte(`{"outcome":"`+outcome+`","late":true}`), "Content-Type", "application/json")
		return status, b
	}
	setups := map[string]func(id string){
		"open": func(string) {},
		"closed": func(id string) {
			if status, b := c.closePayment(id); status != 200 {
				t.Fatalf("close %s: HTTP %d %s", id, status, b)
			}
		},
		"failed":    func(id string) { c.mustPay(id, "failed") },
		"succeeded": func(id string) { c.mustPay(id, "succeeded") },
	}
	tests := []struct {
		name     string
		from     string
		expired  bool
		outcome  string
		status   int
		code     string
		wantLate bool
	}{
		{"money arriving after the merchant closed the payment is paid anyway", "closed", false, "succeeded", 200, "", true},
		{"money arriving after the expiry is paid anyway", "open", true, "succeeded", 200, "", true},
		{"money arriving after a failed attempt is paid anyway", "failed", false, "succeeded", 200, "", true},
		{"a late flag on an open, unexpired payment is an ordinary payment", "open", false, "succeeded", 200, "", false},
		{"a paid payment is not paid twice", "succeeded", false, "succeeded", 409, "already_paid", false},
		{"late money is money: a late failure makes no sense", "closed", false, "failed", 400, "invalid_request", false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			otn := "otn-late-" + strconv.Itoa(i)
			req := order(otn, rc.URL)
			req.ExpiresAt = clk.Now().Add(time.Hour).Format(time.RFC3339)
			p := c.mustCreate(req)
			setups[tc.from](p.ID)
			if tc.expired {
				clk.Advance(2 * time.Hour)
				if status, b := c.pay(p.ID, "succeeded"); status != 409 || errorCode(t, b) != "expired" {
					t.Fatalf("ordinary pay after expiry: HTTP %d %s, want 409 expired", status, b)
				}
			}
			before := len(g.Stats().DeliveriesFor(otn))
			status, b := latePay(p.ID, tc.outcome)
			if status != tc.status {
				t.Fatalf("late pay: HTTP %d %s, want %d", status, b, tc.status)
			}
			if tc.code != "" {
				if code := errorCode(t, b); code != tc.code {
					t.Errorf("code %q, want %q", code, tc.code)
				}
				return
			}
			var got gateway.Payment
			mustDecode(t, b, &got)
			if got.Status != gateway.StatusSucceeded || got.PaidAt.IsZero() || got.Late != tc.wantLate {
				t.Errorf("payment %+v: want succeeded with paid_at, late=%v", got, tc.wantLate)
			}
			ds := g.Stats().DeliveriesFor(otn)
			if len(ds) != before+1 || ds[len(ds)-1].Type != gateway.EventPaymentSucceeded {
				t.Errorf("deliveries %+v: want one more payment.succeeded", ds)
			}
		})
	}
}

// TestRefundsSurviveARestart: refunds, their idempotency records and a pending automatic
// settlement are in the state file.
func TestRefundsSurviveARestart(t *testing.T) {
	t.Parallel()
	stateFile := filepath.Join(t.TempDir(), "state.json")
	// The first gateway settles after 2 s; it is stopped long before, so the second one must
	// pick the settlement up from the state file.
	g1, srv1 := gatewaytest.StartTest(t, gateway.Options{StateFile: stateFile, RefundDelay: 2 * time.Second})
	c1 := newClient(t, srv1)
	p := c1.paidPayment("otn-durable-refund", noNotify)
	rf := c1.mustRefund(p.ID, gateway.RefundRequest{OutRefundNo: "rf-durable", Amount: 700})
	srv1.Close()
	if err := g1.Close(); err != nil {
		t.Fatal(err)
	}
	if s := g1.Stats(); s.RefundsFor("otn-durable-refund").PendingTotal != 700 {
		t.Fatalf("the first gateway settled the refund before it stopped (stats %+v): the test proves nothing", s.RefundsFor("otn-durable-refund"))
	}

	g2, srv2 := gatewaytest.StartTest(t, gateway.Options{StateFile: stateFile})
	c2 := newClient(t, srv2)
	if status, again, b := c2.refund(p.ID, gateway.RefundRequest{OutRefundNo: "rf-durable", Amount: 700}); status != 200 || again.ID != rf.ID {
		t.Fatalf("replay after restart: HTTP %d %s, want 200 and refund %s", status, b, rf.ID)
	}
	if status, _, b := c2.refund(p.ID, gateway.RefundRequest{OutRefundNo: "rf-durable-2", Amount: 351}); status != 409 || errorCode(t, b) != "refund_exceeds_payment" {
		t.Fatalf("refund beyond what is left after restart: HTTP %d %s, want 409 refund_exceeds_payment", status, b)
	}
	s := gatewaytest.WaitStats(t, g2, waitTimeout, func(s gateway.Stats) bool { return s.RefundsFor("otn-durable-refund").RefundedTotal == 700 })
	if pr := s.RefundsFor("otn-durable-refund"); pr.Count != 1 || pr.Executions["rf-durable"] != 1 {
		t.Errorf("refunds after restart %+v: want the one refund, executed once", pr)
	}
	if d := s.Deliveries[len(s.Deliveries)-1]; d.Type != gateway.EventRefundSucceeded || d.RefundID != rf.ID {
		t.Errorf("last delivery %+v: want refund.succeeded for %s", d, rf.ID)
	}
}

// TestStatsShowRefundsOverHTTP: /v1/stats carries the refund counts for scripts.
func TestStatsShowRefundsOverHTTP(t *testing.T) {
	t.Parallel()
	_, srv := gatewaytest.StartTest(t, gateway.Options{RefundDelay: -1})
	c := newClient(t, srv)
	p := c.paidPayment("otn-stats-refund", noNotify)
	for i := range 3 {
		c.mustRefund(p.ID, gateway.RefundRequest{OutRefundNo: fmt.Sprintf("rf-stats-%d", i), Amount: 100})
	}
	_, b, _ := c.do(http.MethodGet, "/v1/stats", nil)
	var raw struct {
		RefundsByPayment map[string]struct {
			Count        int            `json:"count"`
			PendingTotal int64          `json:"pending_total"`
			Executions   map[string]int `json:"executions"`
		} `json:"refunds_by_payment"`
	}
	mustDecode(t, b, &raw)
	pr := raw.RefundsByPayment[p.ID]
	if pr.Count != 3 || pr.PendingTotal != 300 || len(pr.Executions) != 3 || pr.Executions["rf-stats-0"] != 1 {
		t.Errorf("refunds_by_payment[%s] = %+v in %s", p.ID, pr, b)
	}
}
