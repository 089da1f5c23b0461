package fakegateway

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers/internal/fakekeys"
)

const (
	testAppID = "wxd678efh567hg6787"
	testMchID = "1230000109"
)

// paidOrder starts a gateway holding order "otn-paid" of 1050 fen, paid.
func paidOrder(t *testing.T) *Gateway {
	t.Helper()
	g := New(testAppID, testMchID)
	g.Start(t)
	g.AddOrder(Order{OutTradeNo: "otn-paid", TradeState: NotPay, Channel: "native", Total: 1050})
	if _, err := g.Pay("otn-paid"); err != nil {
		t.Fatal(err)
	}
	return g
}

// answer is one API answer: status and decoded body, after checking the platform signature.
type answer struct {
	status int
	body   map[string]any
}

func (a answer) str(k string) string { return fmt.Sprint(a.body[k]) }

// signedRequest is a request signed with the merchant key, as a merchant sends it.
func signedRequest(t *testing.T, g *Gateway, method, path string, in any) *http.Request {
	t.Helper()
	var body []byte
	if in != nil {
		body, _ = json.Marshal(in)
	}
	req, err := http.NewRequest(method, g.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Error(err)
		return nil
	}
	ts, nonce := strconv.FormatInt(time.Now().Unix(), 10), RandomString(16)
	sig := fakekeys.Sign(fakekeys.Key("merchant"), []byte(method+"\n"+path+"\n"+ts+"\n"+nonce+"\n"+string(body)+"\n"))
	req.Header.Set("Authorization", fmt.Sprintf(`WECHATPAY2-SHA256-RSA2048 mchid="%s",nonce_str="%s",signature="%s",timestamp="%s",serial_no="%s"`, testMchID, nonce, sig, ts, MerchantSerial))
	req.Header.Set("User-Agent", "fakegateway-test")
	return req
}

// do sends one signed request and checks the answer's platform signature. Runs in goroutines:
// failures are reported with t.Error.
func do(t *testing.T, g *Gateway, method, path string, in any) answer {
	t.Helper()
	req := signedRequest(t, g, method, path, in)
	if req == nil {
		return answer{}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return answer{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	h := resp.Header
	if !fakekeys.Verify(&g.PlatformKey.PublicKey, []byte(h.Get("Wechatpay-Timestamp")+"\n"+h.Get("Wechatpay-Nonce")+"\n"+string(b)+"\n"), h.Get("Wechatpay-Signature")) {
		t.Errorf("%s %s: answer is not signed with the platform key", method, path)
	}
	a := answer{status: resp.StatusCode}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &a.body); err != nil {
			t.Errorf("%s %s: answer %q is not JSON", method, path, b)
		}
	}
	return a
}

func refundBody(otn, no string, refund int64) map[string]any {
	return map[string]any{"out_trade_no": otn, "out_refund_no": no, "reason": "test", "notify_url": "https://kubepay.example/notify",
		"amount": map[string]any{"refund": refund, "total": 1050, "currency": "CNY"}}
}

// TestRefundsNeverExceedTheOrderUnderConcurrency: twenty refunds of 1.00, all different numbers,
// race for a 10.50 order; exactly ten are accepted and ten refused as exceeding what is left.
func TestRefundsNeverExceedTheOrderUnderConcurrency(t *testing.T) {
	t.Parallel()
	g := paidOrder(t)
	var wg sync.WaitGroup
	answers := make([]answer, 20)
	for i := range answers {
		wg.Go(func() {
			answers[i] = do(t, g, http.MethodPost, "/v3/refund/domestic/refunds", refundBody("otn-paid", fmt.Sprintf("r-%02d", i), 100))
		})
	}
	wg.Wait()
	accepted, refused := 0, 0
	for i, a := range answers {
		switch {
		case a.status == http.StatusOK && a.str("status") == RefundProcessing:
			accepted++
		case a.status == http.StatusBadRequest && a.str("code") == "INVALID_REQUEST" && a.str("message") == "申请退款金额超过订单可退金额":
			refused++
		default:
			t.Errorf("refund r-%02d: unexpected answer %d %v", i, a.status, a.body)
		}
	}
	s := g.RefundStats("otn-paid")
	if accepted != 10 || refused != 10 || s.RefundedFen != 1000 || s.TotalFen != 1050 {
		t.Errorf("%d accepted, %d refused, %d of %d fen committed; want 10, 10, 1000 of 1050", accepted, refused, s.RefundedFen, s.TotalFen)
	}
	for no, n := range s.Executions {
		if n > 1 {
			t.Errorf("refund %s accepted %d times", no, n)
		}
	}
}

// TestRefundReplaysAreOneRefund: one refund number sent ten times at once is one refund, and
// every answer is that refund; the same number with another amount is refused.
func TestRefundReplaysAreOneRefund(t *testing.T) {
	t.Parallel()
	g := paidOrder(t)
	var wg sync.WaitGroup
	answers := make([]answer, 10)
	for i := range answers {
		wg.Go(func() {
			answers[i] = do(t, g, http.MethodPost, "/v3/refund/domestic/refunds", refundBody("otn-paid", "r-same", 500))
		})
	}
	wg.Wait()
	ids := map[string]bool{}
	for _, a := range answers {
		if a.status != http.StatusOK {
			t.Errorf("replay answered %d %v", a.status, a.body)
		}
		ids[a.str("refund_id")] = true
	}
	s := g.RefundStats("otn-paid")
	if len(ids) != 1 || s.Executions["r-same"] != 1 || s.Requests["r-same"] != 10 || s.RefundedFen != 500 {
		t.Errorf("refund ids %v, stats %+v: want one refund of 10 requests, 500 fen", ids, s)
	}
	if a := do(t, g, http.MethodPost, "/v3/refund/domestic/refunds", refundBody("otn-paid", "r-same", 501)); a.status != http.StatusBadRequest || a.str("code") != "INVALID_REQUEST" {
		t.Errorf("the same number with another amount answered %d %v", a.status, a.body)
	}
}

// TestRefundRefusals: what the gateway refuses, and that a refusal commits nothing.
func TestRefundRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, why string
		paid      bool
		body      map[string]any
		status    int
		code      string
	}{
		{"unpaid", "an unpaid order cannot be refunded: RESOURCE_NOT_EXISTS", false, refundBody("otn-x", "r-1", 100), http.StatusNotFound, "RESOURCE_NOT_EXISTS"},
		{"unknown", "no such order", true, refundBody("otn-none", "r-1", 100), http.StatusNotFound, "RESOURCE_NOT_EXISTS"},
		{"wrong total", "amount.total must be the order's", true, func() map[string]any {
			b := refundBody("otn-x", "r-1", 100)
			b["amount"] = map[string]any{"refund": 100, "total": 1000, "currency": "CNY"}
			return b
		}(), http.StatusBadRequest, "INVALID_REQUEST"},
		{"more than the order", "one refund larger than the order", true, refundBody("otn-x", "r-1", 1051), http.StatusBadRequest, "INVALID_REQUEST"},
		{"bad refund number", "out_refund_no is digits, letters and _-|*@", true, refundBody("otn-x", "r 1", 100), http.StatusBadRequest, "PARAM_ERROR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := New(testAppID, testMchID)
			g.Start(t)
			g.AddOrder(Order{OutTradeNo: "otn-x", TradeState: NotPay, Total: 1050})
			if tc.paid {
				if _, err := g.Pay("otn-x"); err != nil {
					t.Fatal(err)
				}
			}
			a := do(t, g, http.MethodPost, "/v3/refund/domestic/refunds", tc.body)
			if a.status != tc.status || a.str("code") != tc.code {
				t.Errorf("%s: answered %d %v, want %d %s", tc.why, a.status, a.body, tc.status, tc.code)
			}
			if s := g.RefundStats("otn-x"); s.RefundedFen != 0 {
				t.Errorf("%s: a refusal committed money: %+v", tc.why, s)
			}
		})
	}
}

// TestRefundLifecycle: accepted refunds are PROCESSING; completing one sends the signed,
// encrypted REFUND.<status> notification WeChat Pay documents; a CLOSED refund gives its
// amount back to the order; the query follows the refund; an unknown number is a signed 404.
func TestRefundLifecycle(t *testing.T) {
	t.Parallel()
	g := paidOrder(t)
	if a := do(t, g, http.MethodPost, "/v3/refund/domestic/refunds", refundBody("otn-paid", "r-1", 300)); a.status != http.StatusOK || a.str("status") != RefundProcessing {
		t.Fatalf("refund answered %d %v", a.status, a.body)
	}
	do(t, g, http.MethodPost, "/v3/refund/domestic/refunds", refundBody("otn-paid", "r-2", 750))
	if o, _ := g.Order("otn-paid"); o.TradeState != TradeRefund {
		t.Errorf("order is %s after a refund, want REFUND", o.TradeState)
	}
	if err := g.CompleteRefund("r-1", RefundSuccess); err != nil {
		t.Fatal(err)
	}
	if err := g.CompleteRefund("r-2", RefundClosed); err != nil {
		t.Fatal(err)
	}
	if err := g.CompleteRefund("r-1", RefundClosed); err == nil {
		t.Error("a SUCCESS refund was completed again")
	}
	if a := do(t, g, http.MethodGet, "/v3/refund/domestic/refunds/r-1", nil); a.status != http.StatusOK || a.str("status") != RefundSuccess || a.body["success_time"] == nil {
		t.Errorf("query of r-1 answered %d %v", a.status, a.body)
	}
	if a := do(t, g, http.MethodGet, "/v3/refund/domestic/refunds/r-9", nil); a.status != http.StatusNotFound || a.str("code") != "RESOURCE_NOT_EXISTS" {
		t.Errorf("query of an unknown refund answered %d %v", a.status, a.body)
	}
	if s := g.RefundStats("otn-paid"); s.RefundedFen != 300 {
		t.Errorf("committed %d fen after r-2 closed, want 300", s.RefundedFen)
	}
	out := g.Outbox()
	if len(out) != 2 {
		t.Fatalf("outbox has %d notifications, want 2", len(out))
	}
	for i, want := range []struct{ event, status, no string }{{"REFUND.SUCCESS", RefundSuccess, "r-1"}, {"REFUND.CLOSED", RefundClosed, "r-2"}} {
		h, body := out[i].Header, out[i].Body
		if !fakekeys.Verify(&g.PlatformKey.PublicKey, []byte(h.Get("Wechatpay-Timestamp")+"\n"+h.Get("Wechatpay-Nonce")+"\n"+string(body)+"\n"), h.Get("Wechatpay-Signature")) {
			t.Errorf("notification %d is not signed with the platform key", i)
		}
		var ev struct {
			EventType string `json:"event_type"`
			Resource  struct {
				OriginalType   string `json:"original_type"`
				AssociatedData string `json:"associated_data"`
				Nonce          string `json:"nonce"`
				Ciphertext     string `json:"ciphertext"`
			} `json:"resource"`
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Fatal(err)
		}
		var fields map[string]any
		_ = json.Unmarshal(open(t, g.APIv3Key, ev.Resource.Nonce, ev.Resource.AssociatedData, ev.Resource.Ciphertext), &fields)
		if ev.EventType != want.event || ev.Resource.OriginalType != "refund" || fields["refund_status"] != want.status || fields["out_refund_no"] != want.no || fields["mchid"] != testMchID {
			t.Errorf("notification %d: event %s, resource %s %v", i, ev.EventType, ev.Resource.OriginalType, fields)
		}
	}
}

// TestAfterExecutionFault: the refund is accepted, only its answer is lost.
func TestAfterExecutionFault(t *testing.T) {
	t.Parallel()
	g := paidOrder(t)
	g.InjectFaults(Fault{Status: http.StatusBadGateway, AfterExecution: true, Unsigned: true})
	resp, err := http.DefaultClient.Do(signedRequest(t, g, http.MethodPost, "/v3/refund/domestic/refunds", refundBody("otn-paid", "r-1", 100)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("answered %d, want the injected 502", resp.StatusCode)
	}
	if s := g.RefundStats("otn-paid"); s.Executions["r-1"] != 1 || s.RefundedFen != 100 {
		t.Errorf("the refund behind the lost answer was not accepted: %+v", s)
	}
}

// TestAutoCompleteAndDeliver: with both on, an accepted refund completes by itself and its
// REFUND.SUCCESS notification reaches notify_url once.
func TestAutoCompleteAndDeliver(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)
	g := paidOrder(t)
	g.AutoCompleteRefunds(t)
	g.DeliverNotifications(t)
	b := refundBody("otn-paid", "r-1", 100)
	b["notify_url"] = receiver.URL
	do(t, g, http.MethodPost, "/v3/refund/domestic/refunds", b)
	deadline := time.Now().Add(10 * time.Second)
	for len(g.Deliveries()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no delivery within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	d := g.Deliveries()[0]
	r, _ := g.Refund("r-1")
	mu.Lock()
	defer mu.Unlock()
	if d.Err != nil || d.StatusCode != http.StatusNoContent || len(got) != 1 || r.Status != RefundSuccess {
		t.Errorf("delivery %+v, %d received, refund %s", d, len(got), r.Status)
	}
}

// open decrypts a resource as a merchant would, apart from the gateway's Encrypt.
func open(t *testing.T, key []byte, nonce, ad, ct string) []byte {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(ct)
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := gcm.Open(nil, []byte(nonce), raw, []byte(ad))
	if err != nil {
		t.Fatalf("resource does not decrypt: %v", err)
	}
	return plain
}
