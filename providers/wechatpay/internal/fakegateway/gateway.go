package fakegateway

import (
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers/internal/fakekeys"
)

// Trade states as WeChat Pay names them.
const (
	NotPay   = "NOTPAY"
	Success  = "SUCCESS"
	Closed   = "CLOSED"
	PayError = "PAYERROR"
	// Refund is the trade_state of a paid order with refunds.
	TradeRefund = "REFUND"
)

// Test credentials of the merchant this gateway serves.
const (
	MerchantSerial = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
	PlatformKeyID  = "PUB_KEY_ID_0114232134912410000000000000"
	APIv3Key       = "kubepayTestAPIv3Key0123456789abc"
)

var chinaTime = time.FixedZone("UTC+8", 8*3600)

// Order is one order the gateway keeps.
type Order struct {
	OutTradeNo, TransactionID, TradeState, Description, NotifyURL, PayURL, TimeExpire, Channel string
	// PayerClientIP is scene_info.payer_client_ip of an H5 order.
	PayerClientIP string
	Total         int64
	SuccessTime   time.Time
}

// Fault changes the gateway's next answer to an authenticated request.
type Fault struct {
	// Status, when set, replaces the answer: that status with {"code":Code,"message":Message}
	// (no body when Code is empty).
	Status        int
	Code, Message string
	// Unsigned leaves the Wechatpay-* headers out; WrongKey signs with another key;
	// UnknownSerial announces a serial the merchant does not know; Stale signs 10 minutes ago.
	Unsigned, WrongKey, UnknownSerial, Stale bool
	// AfterExecution carries the request out first and then answers with Status instead of
	// the real answer: a refund that happened but whose answer was lost.
	AfterExecution bool
	// Set changes top-level fields of the real answer before it is signed (validly signed
	// lies); Tamper changes the answer's bytes after signing (a man in the middle).
	Set    map[string]any
	Tamper func(body []byte) []byte
}

// Gateway is a fake WeChat Pay API v3. Create it with New and serve it with Start.
type Gateway struct {
	AppID, MchID string
	// MerchantKey verifies the merchant's requests under MerchantSerial.
	MerchantKey    *rsa.PublicKey
	MerchantSerial string
	// PlatformKey signs answers and notifications under PlatformKeyID; APIv3Key encrypts resources.
	PlatformKey   *rsa.PrivateKey
	PlatformKeyID string
	APIv3Key      []byte
	// URL is the API base URL once started.
	URL string

	mux      *http.ServeMux
	mu       sync.Mutex
	now      func() time.Time
	orders   map[string]*Order
	faults   []Fault
	calls    map[string]int
	rejected int
	seq      int
	// refunds are the merchant's refunds by out_refund_no (unique per merchant); refunded
	// sums per out_trade_no the refunds that are not CLOSED, which never exceeds the order.
	refunds  map[string]*Refund
	refunded map[string]int64
	// autoComplete completes each new refund with SUCCESS in the background, as WeChat Pay
	// does some time after accepting it.
	autoComplete bool
	// outbox holds the notifications the gateway sent of its own accord (refund results), in
	// order; deliver posts each to its notify_url as well, tracked by delivering.
	outbox     []Sent
	deliver    bool
	deliveries []Delivery
	delivering sync.WaitGroup
}

// New returns a gateway for one merchant, signing with fakekeys.Key("platform") and trusting
// fakekeys.Key("merchant").
func New(appID, mchID string) *Gateway {
	g := &Gateway{
		AppID: appID, MchID: mchID,
		MerchantKey: &fakekeys.Key("merchant").PublicKey, MerchantSerial: MerchantSerial,
		PlatformKey: fakekeys.Key("platform"), PlatformKeyID: PlatformKeyID, APIv3Key: []byte(APIv3Key),
		now: time.Now, orders: map[string]*Order{}, calls: map[string]int{},
		refunds: map[string]*Refund{}, refunded: map[string]int64{},
	}
	g.mux = http.NewServeMux()
	g.mux.HandleFunc("POST /v3/pay/transactions/native", g.authenticated("native", g.prepay))
	g.mux.HandleFunc("POST /v3/pay/transactions/h5", g.authenticated("h5", g.prepay))
	g.mux.HandleFunc("GET /v3/pay/transactions/out-trade-no/{otn}", g.authenticated("query", g.query))
	g.mux.HandleFunc("POST /v3/pay/transactions/out-trade-no/{otn}/close", g.authenticated("close", g.close))
	g.mux.HandleFunc("POST /v3/refund/domestic/refunds", g.authenticated("refund", g.refund))
	g.mux.HandleFunc("GET /v3/refund/domestic/refunds/{no}", g.authenticated("refund_query", g.refundQuery))
	return g
}

// Secret is the merchant's credentials Secret for this gateway (WeChat Pay public key mode).
func Secret() map[string][]byte {
	return map[string][]byte{
		"merchantPrivateKey":  fakekeys.PrivatePEM(fakekeys.Key("merchant")),
		"merchantCertSerial":  []byte(MerchantSerial),
		"apiV3Key":            []byte(APIv3Key + "\n"),
		"platformPublicKey":   fakekeys.PublicPEM(&fakekeys.Key("platform").PublicKey),
		"platformPublicKeyID": []byte(PlatformKeyID),
	}
}

// Start serves the gateway on loopback until the test ends.
func (g *Gateway) Start(t testing.TB) *httptest.Server {
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	return srv
}

func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.mux.ServeHTTP(w, r) }

// SetClock replaces the gateway's clock.
func (g *Gateway) SetClock(now func() time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.now = now
}

// Now is the gateway's clock.
func (g *Gateway) Now() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.now()
}

// InjectFaults queues changes to the next authenticated answers, in order.
func (g *Gateway) InjectFaults(f ...Fault) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.faults = append(g.faults, f...)
}

// Order returns a copy of the order.
func (g *Gateway) Order(outTradeNo string) (Order, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	o, ok := g.orders[outTradeNo]
	if !ok {
		return Order{}, false
	}
	return *o, true
}

// AddOrder puts an order in the gateway directly.
func (g *Gateway) AddOrder(o Order) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.orders[o.OutTradeNo] = &o
}

// Calls returns how many authenticated requests of kind (native, h5, query, close) were answered.
func (g *Gateway) Calls(kind string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[kind]
}

// Rejected returns how many requests failed authentication.
func (g *Gateway) Rejected() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.rejected
}

// Pay completes the order as the customer would.
func (g *Gateway) Pay(outTradeNo string) (Order, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	o, ok := g.orders[outTradeNo]
	if !ok || o.TradeState != NotPay {
		return Order{}, fmt.Errorf("order %q cannot be paid (exists %v)", outTradeNo, ok)
	}
	g.seq++
	o.TradeState, o.SuccessTime = Success, g.now()
	o.TransactionID = fmt.Sprintf("42000%s%013d", o.SuccessTime.In(chinaTime).Format("20060102"), g.seq)
	return *o, nil
}

// authenticated verifies the Authorization header of a request before handing it on, as WeChat
// Pay does, answering 401 SIGN_ERROR (unsigned) when it fails.
func (g *Gateway) authenticated(kind string, next func(w http.ResponseWriter, r *http.Request, body []byte, f Fault)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		if why := g.checkAuthorization(r, body); why != "" {
			g.rejected++
			g.reply(w, http.StatusUnauthorized, map[string]string{"code": "SIGN_ERROR", "message": why}, Fault{Unsigned: true})
			return
		}
		g.calls[kind]++
		var f Fault
		if len(g.faults) > 0 {
			f, g.faults = g.faults[0], g.faults[1:]
		}
		if f.Status != 0 {
			if f.AfterExecution {
				// The call takes effect; only its answer is replaced.
				next(httptest.NewRecorder(), r, body, Fault{})
			}
			var v any
			if f.Code != "" {
				v = map[string]string{"code": f.Code, "message": f.Message}
			}
			g.reply(w, f.Status, v, f)
			return
		}
		next(w, r, body, f)
	}
}

// checkAuthorization returns why the request's signature is refused, or "".
func (g *Gateway) checkAuthorization(r *http.Request, body []byte) string {
	rest, ok := strings.CutPrefix(r.Header.Get("Authorization"), "WECHATPAY2-SHA256-RSA2048 ")
	if !ok {
		return "Authorization scheme is not WECHATPAY2-SHA256-RSA2048"
	}
	p := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(part, "=")
		p[strings.TrimSpace(k)] = strings.Trim(v, `"`)
	}
	ts, err := strconv.ParseInt(p["timestamp"], 10, 64)
	switch {
	case r.Header.Get("User-Agent") == "":
		return "no User-Agent"
	case p["mchid"] != g.MchID:
		return "mchid does not match"
	case p["serial_no"] != g.MerchantSerial:
		return "unknown merchant certificate serial"
	case err != nil || g.now().Unix()-ts > 300 || ts-g.now().Unix() > 300:
		return "timestamp out of range"
	case p["nonce_str"] == "":
		return "no nonce"
	}
	msg := r.Method + "\n" + r.RequestURI + "\n" + p["timestamp"] + "\n" + p["nonce_str"] + "\n" + string(body) + "\n"
	if !fakekeys.Verify(g.MerchantKey, []byte(msg), p["signature"]) {
		return "signature does not verify"
	}
	return ""
}

// reply writes an answer signed with the platform key (unless f says otherwise).
func (g *Gateway) reply(w http.ResponseWriter, status int, v any, f Fault) {
	var body []byte
	if v != nil {
		var err error
		if body, err = json.Marshal(v); err != nil {
			panic(err)
		}
	}
	if len(f.Set) > 0 && body != nil {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			panic(err)
		}
		for k, val := range f.Set {
			m[k] = val
		}
		body, _ = json.Marshal(m)
	}
	signed := body
	if f.Tamper != nil {
		body = f.Tamper(append([]byte(nil), body...))
	}
	if !f.Unsigned {
		key, serial, at := g.PlatformKey, g.PlatformKeyID, g.now()
		if f.WrongKey {
			key = fakekeys.Key("other")
		}
		if f.UnknownSerial {
			serial = "PUB_KEY_ID_0000000000000000000000000000"
		}
		if f.Stale {
			at = at.Add(-10 * time.Minute)
		}
		for k, vs := range SignedHeaders(key, serial, at, signed) {
			w.Header()[k] = vs
		}
	}
	w.Header().Set("Request-ID", "08"+RandomString(8))
	if body != nil {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
