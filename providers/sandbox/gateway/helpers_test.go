package gateway_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers/sandbox/gateway"
	"github.com/kubepay/kubepay/providers/sandbox/gatewaytest"
)

// waitTimeout bounds every poll; generous because -race slows everything down.
const waitTimeout = 10 * time.Second

// client calls a test gateway's HTTP API.
type client struct {
	t   testing.TB
	srv *httptest.Server
	key string
}

func newClient(t testing.TB, srv *httptest.Server) client {
	return client{t: t, srv: srv, key: gatewaytest.APIKey}
}

// do sends a request; headers are name/value pairs.
func (c client) do(method, path string, body []byte, headers ...string) (int, []byte, http.Header) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatalf("build %s %s: %v", method, path, err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.srv.Client().Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("read answer of %s %s: %v", method, path, err)
	}
	return resp.StatusCode, b, resp.Header
}

func (c client) create(req gateway.CreateRequest) (int, gateway.Payment, []byte) {
	c.t.Helper()
	b, _ := json.Marshal(req)
	status, body, _ := c.do(http.MethodPost, "/v1/payments", b, "Authorization", "Bearer "+c.key, "Idempotency-Key", req.OutTradeNo, "Content-Type", "application/json")
	var p gateway.Payment
	if status == http.StatusOK || status == http.StatusCreated {
		mustDecode(c.t, body, &p)
	}
	return status, p, body
}

// mustCreate creates a payment and fails the test unless it is new.
func (c client) mustCreate(req gateway.CreateRequest) gateway.Payment {
	c.t.Helper()
	status, p, body := c.create(req)
	if status != http.StatusCreated {
		c.t.Fatalf("create %q: HTTP %d %s, want 201", req.OutTradeNo, status, body)
	}
	return p
}

func (c client) get(path string) (int, []byte) {
	c.t.Helper()
	status, body, _ := c.do(http.MethodGet, path, nil, "Authorization", "Bearer "+c.key)
	return status, body
}

func (c client) closePayment(id string) (int, []byte) {
	c.t.Helper()
	status, body, _ := c.do(http.MethodPost, "/v1/payments/"+id+"/close", nil, "Authorization", "Bearer "+c.key)
	return status, body
}

func (c client) pay(id, outcome string) (int, []byte) {
	c.t.Helper()
	status, body, _ := c.do(http.MethodPost, "/v1/payments/"+id+"/pay", []byte(`{"outcome":"`+outcome+`"}`), "Content-Type", "application/json")
	return status, body
}

func (c client) mustPay(id, outcome string) {
	c.t.Helper()
	if status, body := c.pay(id, outcome); status != http.StatusOK {
		c.t.Fatalf("pay %s %s: HTTP %d %s", id, outcome, status, body)
	}
}

func order(otn, notifyURL string) gateway.CreateRequest {
	return gateway.CreateRequest{
		OutTradeNo: otn, Amount: 1050, Currency: "USD", Subject: "Green tea", Channel: "sandbox",
		NotifyURL: notifyURL, ReturnURL: "https://shop.example/return",
		Metadata: map[string]string{"kubepay.io/name": otn},
	}
}

func mustDecode(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

func errorCode(t testing.TB, b []byte) string {
	t.Helper()
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	mustDecode(t, b, &e)
	if e.Error.Message == "" {
		t.Errorf("error answer %s has no message", b)
	}
	return e.Error.Code
}

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// noNotify is a notify_url nobody listens on, for tests that do not look at notifications.
const noNotify = "http://127.0.0.1:9/notify"
