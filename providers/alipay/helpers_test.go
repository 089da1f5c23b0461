package alipay_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/alipay"
	"github.com/kubepay/kubepay/providers/alipay/internal/fakegateway"
	"github.com/kubepay/kubepay/providers/internal/fakekeys"
)

const (
	testAppID    = "2021000117600001"
	testSellerID = "2088621900000001"
)

// fixedNow is the client clock in tests that compare timestamps.
var fixedNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// startGateway serves a fake Alipay gateway for the test app.
func startGateway(t testing.TB) *fakegateway.Gateway {
	t.Helper()
	g := fakegateway.New(testAppID, testSellerID)
	g.Start(t)
	return g
}

// secret is the credentials Secret of the test app: the app key and the gateway's public key.
func secret() map[string][]byte {
	return map[string][]byte{
		alipay.SecretAppPrivateKey:   fakekeys.PrivatePEM(fakekeys.Key("app")),
		alipay.SecretAlipayPublicKey: fakekeys.PublicPEM(&fakekeys.Key("alipay").PublicKey),
	}
}

// newClient builds a client through the registry, as the controller does.
func newClient(t testing.TB, endpoint string) providers.Provider {
	t.Helper()
	p, err := providers.New(alipay.Type, providers.Config{
		Namespace: "shop", Name: "alipay", Endpoint: endpoint, AppID: testAppID, MerchantID: testSellerID,
		Secret: secret(), Now: func() time.Time { return fixedNow },
	})
	if err != nil {
		t.Fatalf("new alipay provider: %v", err)
	}
	return p
}

func testOrder(otn, channel string) providers.Order {
	return providers.Order{
		Namespace: "shop", Name: "order-" + otn, OutTradeNo: otn,
		AmountMinor: 1050, Amount: "10.50", Currency: "CNY", Channel: channel,
		Subject: "绿茶 & Co", NotifyURL: "https://kubepay.example/notify/shop/alipay",
		ReturnURL: "https://shop.example/return", ExpiresAt: fixedNow.Add(30 * time.Minute),
	}
}

// containsAll reports whether s contains every one of subs.
func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
