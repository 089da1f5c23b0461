package wechatpay_test

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/internal/fakekeys"
	"github.com/kubepay/kubepay/providers/wechatpay"
	"github.com/kubepay/kubepay/providers/wechatpay/internal/fakegateway"
)

// BenchmarkParseNotification measures what the callback server pays per WeChat Pay notification:
// header checks, one RSA-2048 verification, JSON decoding and one AES-256-GCM decryption.
func BenchmarkParseNotification(b *testing.B) {
	g := paidGateway(b)
	c := newClient(b, "https://api.invalid")
	h, body := notification(b, g, nil)
	r := httptest.NewRequest(http.MethodPost, "/notify", nil)
	r.Header = h
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.ParseNotification(ctx, r, body); err != nil {
			b.Fatal(err)
		}
	}
}

// fuzzTime is the clock of the fuzz target and the signing time of its committed seeds.
var fuzzTime = time.Unix(1773500966, 0)

// fuzzKeyID names the fuzz platform key.
const fuzzKeyID = "PUB_KEY_ID_0000000000000000000000000FUZZ"

// fuzzKey is a fixed test-only platform key, committed so that the seed corpus under
// testdata/fuzz holds validly signed notifications.
func fuzzKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	data, err := os.ReadFile("testdata/fuzz_platform_test_key.pem")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("testdata/fuzz_platform_test_key.pem is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

// fuzzGateway signs with the fuzz key at fuzzTime.
func fuzzGateway(t testing.TB) *fakegateway.Gateway {
	g := fakegateway.New(testAppID, testMchID)
	g.PlatformKey, g.PlatformKeyID = fuzzKey(t), fuzzKeyID
	g.SetClock(func() time.Time { return fuzzTime })
	g.AddOrder(fakegateway.Order{OutTradeNo: "otn-fuzz-0001", TradeState: fakegateway.NotPay, Channel: "native", Total: 1050})
	if _, err := g.Pay("otn-fuzz-0001"); err != nil {
		t.Fatal(err)
	}
	return g
}

// FuzzParseNotification: any headers and body must be handled without panicking, and whatever is
// accepted must carry a signature that an independent check verifies with the platform key over
// "timestamp\nnonce\nbody\n", under the right serial, inside the time window, and not a probe.
func FuzzParseNotification(f *testing.F) {
	g := fuzzGateway(f)
	add := func(h http.Header, body []byte) {
		f.Add(h.Get("Wechatpay-Serial"), h.Get("Wechatpay-Timestamp"), h.Get("Wechatpay-Nonce"), h.Get("Wechatpay-Signature"), body)
	}
	for _, mutate := range []func(map[string]any){nil, func(tx map[string]any) { tx["trade_state"] = "CLOSED" }, func(tx map[string]any) { delete(tx, "amount") }} {
		h, body, err := g.Notification("otn-fuzz-0001", mutate)
		if err != nil {
			f.Fatal(err)
		}
		add(h, body)
	}
	// A refund result, as WeChat Pay sends it after a refund succeeds.
	refund := []byte(`{"mchid":"` + testMchID + `","out_trade_no":"otn-fuzz-0001","transaction_id":"42000202603150000000000001",` +
		`"out_refund_no":"r-1","refund_id":"50300202603150000000000002","refund_status":"SUCCESS","success_time":"2026-03-14T23:09:26+08:00",` +
		`"amount":{"total":1050,"refund":300,"payer_total":1050,"payer_refund":300}}`)
	body := g.Envelope("EV-fuzz-refund", "REFUND.SUCCESS", "refund", refund, g.APIv3Key, fuzzTime)
	add(fakegateway.SignedHeaders(g.PlatformKey, fuzzKeyID, fuzzTime, body), body)
	f.Add(fuzzKeyID, "1773500966", "n", "WECHATPAY/SIGNTEST/AAAA", []byte("{}"))
	f.Add("", "", "", "", []byte(""))
	f.Add(fuzzKeyID, "99999999999999999999", "n", "AAAA", []byte("{}"))
	s := fakegateway.Secret()
	s[wechatpay.SecretPlatformPublicKey] = fakekeys.PublicPEM(&g.PlatformKey.PublicKey)
	s[wechatpay.SecretPlatformPublicKeyID] = []byte(fuzzKeyID)
	p, err := providers.New(wechatpay.Type, providers.Config{Namespace: "shop", Name: "wechatpay", AppID: testAppID, MerchantID: testMchID,
		Secret: s, Now: func() time.Time { return fuzzTime }})
	if err != nil {
		f.Fatal(err)
	}
	pub := &g.PlatformKey.PublicKey
	f.Fuzz(func(t *testing.T, serial, timestamp, nonce, signature string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/notify", nil)
		r.Header["Wechatpay-Serial"] = []string{serial}
		r.Header["Wechatpay-Timestamp"] = []string{timestamp}
		r.Header["Wechatpay-Nonce"] = []string{nonce}
		r.Header["Wechatpay-Signature"] = []string{signature}
		n, err := p.ParseNotification(context.Background(), r, body)
		if err != nil {
			return
		}
		// A notification that reports a refund is never also a payment outcome.
		if n.Refund != nil && n.Status != "" {
			t.Fatalf("accepted %q as both refund %+v and status %q", body, *n.Refund, n.Status)
		}
		ts, err := strconv.ParseInt(timestamp, 10, 64)
		switch {
		case serial != fuzzKeyID, err != nil, ts-fuzzTime.Unix() > 300, fuzzTime.Unix()-ts > 300,
			strings.HasPrefix(signature, "WECHATPAY/SIGNTEST/"),
			!fakekeys.Verify(pub, []byte(timestamp+"\n"+nonce+"\n"+string(body)+"\n"), signature):
			t.Fatalf("accepted serial %q timestamp %q nonce %q signature %q body %q without a valid signature", serial, timestamp, nonce, signature, body)
		}
	})
}
