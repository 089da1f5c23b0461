package gateway_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers/sandbox/gateway"
	"github.com/kubepay/kubepay/providers/sandbox/gatewaytest"
)

func TestCreateRejectsInvalidRequests(t *testing.T) {
	t.Parallel()
	_, srv := gatewaytest.StartTest(t, gateway.Options{})
	c := newClient(t, srv)
	valid := func() gateway.CreateRequest { return order("otn-valid", noNotify) }
	body := func(mod func(*gateway.CreateRequest)) []byte {
		r := valid()
		mod(&r)
		b, _ := json.Marshal(r)
		return b
	}
	auth := []string{"Authorization", "Bearer " + gatewaytest.APIKey, "Idempotency-Key", "otn-valid"}
	tests := []struct {
		name    string
		body    []byte
		headers []string
		status  int
		code    string
	}{
		{"a request without an API key is refused", body(func(*gateway.CreateRequest) {}), []string{"Idempotency-Key", "otn-valid"}, 401, "unauthorized"},
		{"a wrong API key is refused", body(func(*gateway.CreateRequest) {}), []string{"Authorization", "Bearer sk_wrong", "Idempotency-Key", "otn-valid"}, 401, "unauthorized"},
		{"a non-Bearer scheme is refused", body(func(*gateway.CreateRequest) {}), []string{"Authorization", "Basic " + gatewaytest.APIKey, "Idempotency-Key", "otn-valid"}, 401, "unauthorized"},
		{"the Idempotency-Key header is mandatory", body(func(*gateway.CreateRequest) {}), []string{"Authorization", "Bearer " + gatewaytest.APIKey}, 400, "invalid_request"},
		{"the Idempotency-Key must be the out_trade_no", body(func(*gateway.CreateRequest) {}), []string{"Authorization", "Bearer " + gatewaytest.APIKey, "Idempotency-Key", "other"}, 400, "invalid_request"},
		{"a zero amount is not a payment", body(func(r *gateway.CreateRequest) { r.Amount = 0 }), auth, 400, "invalid_request"},
		{"a negative amount is not a payment", body(func(r *gateway.CreateRequest) { r.Amount = -5 }), auth, 400, "invalid_request"},
		{"currencies are upper case", body(func(r *gateway.CreateRequest) { r.Currency = "usd" }), auth, 400, "invalid_request"},
		{"currencies have three letters", body(func(r *gateway.CreateRequest) { r.Currency = "US" }), auth, 400, "invalid_request"},
		{"a subject is required", body(func(r *gateway.CreateRequest) { r.Subject = "" }), auth, 400, "invalid_request"},
		{"notify_url must be http(s)", body(func(r *gateway.CreateRequest) { r.NotifyURL = "ftp://x/y" }), auth, 400, "invalid_request"},
		{"notify_url is required", body(func(r *gateway.CreateRequest) { r.NotifyURL = "" }), auth, 400, "invalid_request"},
		{"return_url, when set, must be http(s)", body(func(r *gateway.CreateRequest) { r.ReturnURL = "javascript:alert(1)" }), auth, 400, "invalid_request"},
		{"expires_at must be RFC 3339", body(func(r *gateway.CreateRequest) { r.ExpiresAt = "tomorrow" }), auth, 400, "invalid_request"},
		{"expires_at must be in the future", body(func(r *gateway.CreateRequest) { r.ExpiresAt = "2001-01-01T00:00:00Z" }), auth, 400, "invalid_request"},
		{"unknown fields are client bugs and refused", []byte(`{"out_trade_no":"otn-valid","amount":1,"currency":"USD","subject":"s","notify_url":"http://x/y","amout":1}`), auth, 400, "invalid_request"},
		{"the body must be JSON", []byte(`out_trade_no=otn-valid`), auth, 400, "invalid_request"},
		{"trailing data after the object is refused", append(body(func(*gateway.CreateRequest) {}), []byte(`{}`)...), auth, 400, "invalid_request"},
		{"bodies above 1 MiB are refused", []byte(`{"subject":"` + strings.Repeat("x", gateway.MaxBodyBytes) + `"}`), auth, 413, "request_too_large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, b, _ := c.do(http.MethodPost, "/v1/payments", tc.body, tc.headers...)
			if status != tc.status {
				t.Fatalf("HTTP %d %s, want %d", status, b, tc.status)
			}
			if code := errorCode(t, b); code != tc.code {
				t.Errorf("error code %q, want %q", code, tc.code)
			}
		})
	}
	// out_trade_no length limits, at and past the boundary.
	for _, otn := range []string{strings.Repeat("a", 64), strings.Repeat("b", 65), "has space"} {
		r := order(otn, noNotify)
		status, _, b := c.create(r)
		want := http.StatusBadRequest
		if len(otn) == 64 {
			want = http.StatusCreated
		}
		if status != want {
			t.Errorf("create with out_trade_no of %d characters %q: HTTP %d %s, want %d", len(otn), otn, status, b, want)
		}
	}
	if s := srvStats(t, c); s.PaymentsTotal != 1 {
		t.Errorf("payments_total = %d after rejected creates, want 1", s.PaymentsTotal)
	}
}

func srvStats(t *testing.T, c client) gateway.Stats {
	t.Helper()
	status, b, _ := c.do(http.MethodGet, "/v1/stats", nil)
	if status != http.StatusOK {
		t.Fatalf("GET /v1/stats: HTTP %d %s", status, b)
	}
	var s gateway.Stats
	mustDecode(t, b, &s)
	return s
}

func TestCreateIsIdempotent(t *testing.T) {
	t.Parallel()
	_, srv := gatewaytest.StartTest(t, gateway.Options{})
	c := newClient(t, srv)
	req := order("otn-idem", noNotify)
	req.ExpiresAt = time.Now().Add(time.Hour).UTC().Format(time.RFC3339)

	first := c.mustCreate(req)
	if !strings.HasPrefix(first.ID, "pay_") || first.Status != gateway.StatusOpen || first.PaymentURL != srv.URL+"/checkout/"+first.ID {
		t.Fatalf("created payment %+v: want a pay_ id, status open and payment_url under %s", first, srv.URL)
	}
	// The same request, spelt differently (another time zone for the same instant) is a replay.
	exp, _ := time.Parse(time.RFC3339, req.ExpiresAt)
	req.ExpiresAt = exp.In(time.FixedZone("UTC+8", 8*3600)).Format(time.RFC3339)
	status, again, b := c.create(req)
	if status != http.StatusOK || again.ID != first.ID {
		t.Fatalf("replayed create: HTTP %d %s, want 200 and payment %s", status, b, first.ID)
	}
	s := srvStats(t, c)
	if s.PaymentsTotal != 1 || s.PaymentsByOutTradeNo["otn-idem"] != 1 || s.CreatesTotal != 2 || s.CreateReplaysTotal != 1 {
		t.Errorf("stats %+v: want 1 payment for otn-idem, 2 creates of which 1 replay", s)
	}
}

func TestConcurrentIdenticalCreatesMakeOnePayment(t *testing.T) {
	t.Parallel()
	g, srv := gatewaytest.StartTest(t, gateway.Options{})
	c := newClient(t, srv)
	const n = 10
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		ids      = map[string]bool{}
	)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			status, p, _ := c.create(order("otn-race", noNotify))
			mu.Lock()
			defer mu.Unlock()
			statuses[status]++
			ids[p.ID] = true
		})
	}
	close(start)
	wg.Wait()
	if statuses[http.StatusCreated] != 1 || statuses[http.StatusOK] != n-1 || len(ids) != 1 {
		t.Fatalf("statuses %v, ids %v: want one 201, %d 200 and a single payment id", statuses, ids, n-1)
	}
	if s := g.Stats(); s.PaymentsTotal != 1 || s.PaymentsByOutTradeNo["otn-race"] != 1 || s.CreateReplaysTotal != n-1 {
		t.Errorf("stats %+v: want exactly one payment and %d replays", s, n-1)
	}
}

func TestCreateWithReusedKeyAndDifferentBodyConflicts(t *testing.T) {
	t.Parallel()
	_, srv := gatewaytest.StartTest(t, gateway.Options{})
	c := newClient(t, srv)
	tests := []struct {
		name   string
		change func(*gateway.CreateRequest)
	}{
		{"a different amount is a different payment", func(r *gateway.CreateRequest) { r.Amount++ }},
		{"a different currency is a different payment", func(r *gateway.CreateRequest) { r.Currency = "EUR" }},
		{"a different subject is a different order", func(r *gateway.CreateRequest) { r.Subject = "Black tea" }},
		{"a different notify_url sends notifications elsewhere", func(r *gateway.CreateRequest) { r.NotifyURL = "http://127.0.0.1:9/other" }},
		{"different metadata is a different request", func(r *gateway.CreateRequest) { r.Metadata = map[string]string{"k": "v"} }},
		{"a different expiry is a different request", func(r *gateway.CreateRequest) {
			r.ExpiresAt = time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
		}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			otn := "otn-conflict-" + strconv.Itoa(i)
			c := c
			c.t = t
			first := c.mustCreate(order(otn, noNotify))
			changed := order(otn, noNotify)
			tc.change(&changed)
			status, _, b := c.create(changed)
			if status != http.StatusConflict || errorCode(t, b) != "idempotency_conflict" {
				t.Fatalf("conflicting create: HTTP %d %s, want 409 idempotency_conflict", status, b)
			}
			// The original payment is untouched and still answers replays.
			if status, p, _ := c.create(order(otn, noNotify)); status != http.StatusOK || p.ID != first.ID {
				t.Errorf("replay after conflict: HTTP %d payment %s, want 200 %s", status, p.ID, first.ID)
			}
		})
	}
}

func TestGetAndLookup(t *testing.T) {
	t.Parallel()
	_, srv := gatewaytest.StartTest(t, gateway.Options{})
	c := newClient(t, srv)
	p := c.mustCreate(order("otn-get", noNotify))
	tests := []struct {
		name   string
		path   string
		key    string
		status int
		code   string
	}{
		{"by id", "/v1/payments/" + p.ID, gatewaytest.APIKey, 200, ""},
		{"by out_trade_no", "/v1/payments?out_trade_no=otn-get", gatewaytest.APIKey, 200, ""},
		{"an unknown id is 404", "/v1/payments/pay_unknown", gatewaytest.APIKey, 404, "payment_not_found"},
		{"an unknown out_trade_no is 404", "/v1/payments?out_trade_no=nope", gatewaytest.APIKey, 404, "payment_not_found"},
		{"a lookup needs out_trade_no", "/v1/payments", gatewaytest.APIKey, 400, "invalid_request"},
		{"reads need the API key too", "/v1/payments/" + p.ID, "sk_wrong", 401, "unauthorized"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, b, _ := c.do(http.MethodGet, tc.path, nil, "Authorization", "Bearer "+tc.key)
			if status != tc.status {
				t.Fatalf("HTTP %d %s, want %d", status, b, tc.status)
			}
			if tc.code != "" {
				if code := errorCode(t, b); code != tc.code {
					t.Errorf("code %q, want %q", code, tc.code)
				}
				return
			}
			var got gateway.Payment
			mustDecode(t, b, &got)
			if got.ID != p.ID || got.OutTradeNo != "otn-get" || got.Amount != 1050 || got.Currency != "USD" {
				t.Errorf("payment %+v, want %+v", got, p)
			}
		})
	}
}

func TestCloseAndPayTransitions(t *testing.T) {
	t.Parallel()
	rc := gatewaytest.NewReceiver(t, nil)
	clk := newClock()
	g, srv := gatewaytest.StartTest(t, gateway.Options{Now: clk.Now})
	c := newClient(t, srv)
	// setup brings a fresh payment into a state before the action under test.
	setups := map[string]func(id string){
		"open":      func(string) {},
		"succeeded": func(id string) { c.mustPay(id, "succeeded") },
		"failed":    func(id string) { c.mustPay(id, "failed") },
		"closed": func(id string) {
			if status, b := c.closePayment(id); status != 200 {
				t.Fatalf("close %s: HTTP %d %s", id, status, b)
			}
		},
	}
	tests := []struct {
		name       string
		from       string
		action     func(id string) (int, []byte)
		status     int
		code       string
		wantStatus string
		wantEvent  string
	}{
		{"closing an open payment closes it and notifies", "open", c.closePayment, 200, "", "closed", "payment.closed"},
		{"closing a closed payment is a no-op", "closed", c.closePayment, 200, "", "closed", ""},
		{"closing a paid payment is refused", "succeeded", c.closePayment, 409, "already_paid", "succeeded", ""},
		{"closing a failed payment leaves it failed: it is final and unpaid", "failed", c.closePayment, 200, "", "failed", ""},
		{"paying an open payment succeeds and notifies", "open", func(id string) (int, []byte) { return c.pay(id, "succeeded") }, 200, "", "succeeded", "payment.succeeded"},
		{"failing an open payment fails it and notifies", "open", func(id string) (int, []byte) { return c.pay(id, "failed") }, 200, "", "failed", "payment.failed"},
		{"paying twice is refused", "succeeded", func(id string) (int, []byte) { return c.pay(id, "succeeded") }, 409, "already_paid", "succeeded", ""},
		{"paying a closed payment is refused", "closed", func(id string) (int, []byte) { return c.pay(id, "succeeded") }, 409, "payment_not_open", "closed", ""},
		{"paying a failed payment is refused", "failed", func(id string) (int, []byte) { return c.pay(id, "succeeded") }, 409, "payment_not_open", "failed", ""},
		{"an unknown outcome is refused", "open", func(id string) (int, []byte) { return c.pay(id, "maybe") }, 400, "invalid_request", "open", ""},
		{"closing an unknown payment is 404", "", func(string) (int, []byte) { return c.closePayment("pay_nope") }, 404, "payment_not_found", "", ""},
		{"paying an unknown payment is 404", "", func(string) (int, []byte) { return c.pay("pay_nope", "succeeded") }, 404, "payment_not_found", "", ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			otn := "otn-tr-" + strconv.Itoa(i)
			p := c.mustCreate(order(otn, rc.URL))
			if tc.from != "" {
				setups[tc.from](p.ID)
			}
			before := len(g.Stats().DeliveriesFor(otn))
			status, b := tc.action(p.ID)
			if status != tc.status {
				t.Fatalf("HTTP %d %s, want %d", status, b, tc.status)
			}
			if tc.code != "" && errorCode(t, b) != tc.code {
				t.Errorf("answer %s, want code %q", b, tc.code)
			}
			if tc.wantStatus == "" {
				return
			}
			_, gb := c.get("/v1/payments/" + p.ID)
			var got gateway.Payment
			mustDecode(t, gb, &got)
			if got.Status != tc.wantStatus {
				t.Errorf("status %q, want %q", got.Status, tc.wantStatus)
			}
			if got.Status == "succeeded" && got.PaidAt.IsZero() || got.Status == "closed" && got.ClosedAt.IsZero() {
				t.Errorf("payment %+v lacks paid_at/closed_at", got)
			}
			ds := g.Stats().DeliveriesFor(otn)
			if tc.wantEvent == "" {
				if len(ds) != before {
					t.Errorf("%d new notifications, want none", len(ds)-before)
				}
				return
			}
			if len(ds) != before+1 || ds[len(ds)-1].Type != tc.wantEvent {
				t.Fatalf("deliveries %+v, want one more of type %s", ds, tc.wantEvent)
			}
		})
	}
}

func TestPayAfterExpiryIsRefused(t *testing.T) {
	t.Parallel()
	clk := newClock()
	_, srv := gatewaytest.StartTest(t, gateway.Options{Now: clk.Now})
	c := newClient(t, srv)
	req := order("otn-expiry", noNotify)
	req.ExpiresAt = clk.Now().Add(time.Hour).Format(time.RFC3339)
	p := c.mustCreate(req)
	clk.Advance(time.Hour)
	if status, b := c.pay(p.ID, "succeeded"); status != http.StatusConflict || errorCode(t, b) != "expired" {
		t.Fatalf("pay at expires_at: HTTP %d %s, want 409 expired", status, b)
	}
	// The gateway does not close expired payments by itself: the merchant does.
	_, b := c.get("/v1/payments/" + p.ID)
	var got gateway.Payment
	mustDecode(t, b, &got)
	if got.Status != gateway.StatusOpen {
		t.Fatalf("expired payment is %q, want still open", got.Status)
	}
	if status, b := c.closePayment(p.ID); status != http.StatusOK {
		t.Fatalf("close expired payment: HTTP %d %s", status, b)
	}
}

func TestPublicKeyAndHealth(t *testing.T) {
	t.Parallel()
	g, srv := gatewaytest.StartTest(t, gateway.Options{})
	c := newClient(t, srv)
	status, b, h := c.do(http.MethodGet, "/v1/public-key", nil)
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") || string(b) != string(g.PublicKeyPEM()) {
		t.Fatalf("public key: HTTP %d %q %q, want the PEM of PublicKeyPEM as text/plain", status, h.Get("Content-Type"), b)
	}
	if !strings.HasPrefix(string(b), "-----BEGIN PUBLIC KEY-----") {
		t.Errorf("public key is not a PKIX PEM: %q", b)
	}
	if status, b, _ := c.do(http.MethodGet, "/healthz", nil); status != 200 || strings.TrimSpace(string(b)) != "ok" {
		t.Errorf("healthz: HTTP %d %q", status, b)
	}
}
