package alipay_test

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"os"
	"testing"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/alipay"
	"github.com/kubepay/kubepay/providers/alipay/internal/fakegateway"
	"github.com/kubepay/kubepay/providers/internal/fakekeys"
)

// BenchmarkParseNotification measures what the callback server pays per Alipay notification:
// form decoding, building the sorted string, one RSA-2048 verification and field mapping.
func BenchmarkParseNotification(b *testing.B) {
	g := paidGateway(b)
	c := newClient(b, "https://gateway.invalid/gateway.do")
	v, err := g.Notification("otn-paid", nil)
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(v.Encode())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.ParseNotification(ctx, nil, body); err != nil {
			b.Fatal(err)
		}
	}
}

// fuzzKey is a fixed test-only key standing in for Alipay's, committed so that the seed corpus
// under testdata/fuzz holds validly signed notifications.
func fuzzKey(f testing.TB) *rsa.PrivateKey {
	f.Helper()
	data, err := os.ReadFile("testdata/fuzz_alipay_test_key.pem")
	if err != nil {
		f.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		f.Fatal("testdata/fuzz_alipay_test_key.pem is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		f.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

// FuzzParseNotification: any body must be handled without panicking, and whatever is accepted
// must carry a sign that the gateway's independent implementation verifies over the decoded form.
func FuzzParseNotification(f *testing.F) {
	key := fuzzKey(f)
	g := fakegateway.New(testAppID, testSellerID)
	g.Key = key
	openTrade(g, "otn-paid")
	if _, err := g.Pay("otn-paid"); err != nil {
		f.Fatal(err)
	}
	for _, mutate := range []func(url.Values){
		nil,
		func(v url.Values) { v.Set("trade_status", "TRADE_CLOSED") },
		func(v url.Values) { v.Set("total_amount", "1e3") },
		func(v url.Values) { v.Set("subject", "a+b&c=d %") },
		// After a full refund: TRADE_CLOSED with the refund fields, a refund fact.
		func(v url.Values) {
			v.Set("trade_status", "TRADE_CLOSED")
			v.Set("refund_fee", "10.50")
			v.Set("gmt_refund", "2026-03-14 23:10:00.123")
			v.Set("out_biz_no", "r_1")
		},
	} {
		v, err := g.Notification("otn-paid", mutate)
		if err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(v.Encode()))
	}
	f.Add([]byte(""))
	f.Add([]byte("sign=&sign_type=RSA2"))
	f.Add([]byte("a=1&a=2&sign=AAAA"))
	s := map[string][]byte{
		alipay.SecretAppPrivateKey:   fakekeys.PrivatePEM(fakekeys.Key("app")),
		alipay.SecretAlipayPublicKey: fakekeys.PublicPEM(&key.PublicKey),
	}
	p, err := providers.New(alipay.Type, providers.Config{Namespace: "shop", Name: "alipay", AppID: testAppID, Secret: s})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := p.ParseNotification(context.Background(), nil, body)
		if err != nil {
			return
		}
		v, perr := url.ParseQuery(string(body))
		if perr != nil || !fakekeys.Verify(&key.PublicKey, []byte(fakegateway.Content(v, true)), v.Get("sign")) {
			t.Fatalf("accepted %q without a valid signature", body)
		}
		if n.ID == "" || n.ID != v.Get("notify_id") {
			t.Fatalf("accepted notification has id %q, form has %q", n.ID, v.Get("notify_id"))
		}
		// A notification that reports a refund is never also a payment outcome.
		if n.Refund != nil && n.Status != "" {
			t.Fatalf("accepted %q as both refund %+v and status %q", body, *n.Refund, n.Status)
		}
	})
}
