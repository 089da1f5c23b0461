// Package fakegateway is a fake Alipay OpenAPI gateway for tests, on loopback: it holds
// "Alipay's" key pair, verifies the merchant's RSA2 request signatures with the application public
// key (refusing bad ones as Alipay does), answers with signed JSON, keeps trades, and builds and
// sends signed asynchronous notifications. Its signing code is written apart from the client's,
// so a test that passes shows two implementations of the documented rule agree.
package fakegateway

import (
	"crypto/rsa"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers/internal/fakekeys"
)

// Trade statuses as Alipay names them.
const (
	WaitBuyerPay  = "WAIT_BUYER_PAY"
	TradeSuccess  = "TRADE_SUCCESS"
	TradeFinished = "TRADE_FINISHED"
	TradeClosed   = "TRADE_CLOSED"
)

var chinaTime = time.FixedZone("UTC+8", 8*3600)

const timeLayout = "2006-01-02 15:04:05"

// Trade is one trade the gateway keeps.
type Trade struct {
	OutTradeNo, TradeNo, Status, TotalAmount, Subject, NotifyURL string
	Created, PaidAt                                              time.Time
	// refunds are the trade's refunds by out_request_no; refundedFen is their sum.
	refunds     map[string]*refund
	refundOrder []string
	refundedFen int64
}

// Fault replaces the gateway's next answer to an API (POST) request.
type Fault struct {
	// HTTPStatus, when set, is answered with an empty body.
	HTTPStatus int
	// Code and SubCode, when set, make a failure answer (after the request was verified).
	Code, SubCode, SubMsg string
	// Unsigned leaves the sign out; WrongKey signs with a key that is not the gateway's.
	Unsigned, WrongKey bool
	// AfterExecution carries the request out first and then answers with the fault instead
	// of the real answer: a refund that happened but whose answer was lost.
	AfterExecution bool
	// Set changes fields of the real answer before it is signed (validly signed lies);
	// Tamper changes the answer object's bytes after signing (a man in the middle).
	Set    map[string]any
	Tamper func(object []byte) []byte
}

// Gateway is a fake Alipay gateway. Create it with New and serve it with Start.
type Gateway struct {
	AppID, SellerID string
	// AppPublicKey verifies the merchant's requests; Key signs answers and notifications.
	AppPublicKey *rsa.PublicKey
	Key          *rsa.PrivateKey
	// URL is the gateway URL (".../gateway.do") once started.
	URL string

	mu       sync.Mutex
	now      func() time.Time
	trades   map[string]*Trade
	faults   []Fault
	calls    map[string]int
	rejected int
	seq      int
	// outbox holds the notifications the gateway sent of its own accord (after refunds), in
	// order; deliver posts each to its notify_url as well, tracked by delivering.
	outbox     []url.Values
	deliver    bool
	deliveries []Delivery
	delivering sync.WaitGroup
}

// New returns a gateway for one application, signing with fakekeys.Key("alipay") and trusting the
// public half of fakekeys.Key("app").
func New(appID, sellerID string) *Gateway {
	return &Gateway{
		AppID: appID, SellerID: sellerID,
		AppPublicKey: &fakekeys.Key("app").PublicKey, Key: fakekeys.Key("alipay"),
		now: time.Now, trades: map[string]*Trade{}, calls: map[string]int{},
	}
}

// Start serves the gateway on loopback until the test ends.
func (g *Gateway) Start(t testing.TB) *httptest.Server {
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	g.URL = srv.URL + "/gateway.do"
	return srv
}

// SetClock replaces the gateway's clock.
func (g *Gateway) SetClock(now func() time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.now = now
}

// InjectFaults queues answers for the next API requests, in order.
func (g *Gateway) InjectFaults(f ...Fault) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.faults = append(g.faults, f...)
}

// Trade returns a copy of the trade for outTradeNo (without its refunds: see RefundStats).
func (g *Gateway) Trade(outTradeNo string) (Trade, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	t, ok := g.trades[outTradeNo]
	if !ok {
		return Trade{}, false
	}
	c := *t
	c.refunds, c.refundOrder = nil, nil
	return c, true
}

// Calls returns how many verified API requests the gateway answered for method.
func (g *Gateway) Calls(method string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[method]
}

// Rejected returns how many requests were refused for their signature or common parameters.
func (g *Gateway) Rejected() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.rejected
}

// Pay completes the trade as a customer would: TRADE_SUCCESS with a trade_no.
func (g *Gateway) Pay(outTradeNo string) (Trade, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	t, ok := g.trades[outTradeNo]
	if !ok {
		return Trade{}, fmt.Errorf("no trade %q (the checkout URL was never opened)", outTradeNo)
	}
	if t.Status != WaitBuyerPay {
		return Trade{}, fmt.Errorf("trade %q is %s", outTradeNo, t.Status)
	}
	g.seq++
	t.Status, t.PaidAt = TradeSuccess, g.now()
	t.TradeNo = fmt.Sprintf("%s22001%015d", t.PaidAt.In(chinaTime).Format("20060102"), g.seq)
	return *t, nil
}

// AddTrade puts a trade in the gateway directly, as if the checkout had been opened.
func (g *Gateway) AddTrade(t Trade) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.Created.IsZero() {
		t.Created = g.now()
	}
	t.refunds, t.refundOrder, t.refundedFen = nil, nil, 0
	g.trades[t.OutTradeNo] = &t
}

// ServeHTTP serves GET (the customer opening a page/WAP checkout URL) and POST (OpenAPI calls)
// at /gateway.do.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/gateway.do" {
		http.NotFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet:
		g.checkout(w, r)
	case http.MethodPost:
		g.api(w, r)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

// verifyRequest checks the common parameters and the merchant's RSA2 sign (only sign left out).
func (g *Gateway) verifyRequest(v url.Values) (subCode string, ok bool) {
	for k, vs := range v {
		if len(vs) != 1 {
			return "isv.invalid-parameter:" + k, false
		}
	}
	switch {
	case v.Get("app_id") != g.AppID:
		return "isv.invalid-app-id", false
	case v.Get("sign_type") != "RSA2":
		return "isv.invalid-signature-type", false
	case v.Get("charset") != "utf-8" || v.Get("version") != "1.0" || v.Get("format") != "JSON":
		return "isv.invalid-parameter", false
	case !fakekeys.Verify(g.AppPublicKey, []byte(Content(v, false)), v.Get("sign")):
		return "isv.invalid-signature", false
	}
	if _, err := time.ParseInLocation(timeLayout, v.Get("timestamp"), chinaTime); err != nil {
		return "isv.invalid-timestamp", false
	}
	return "", true
}
