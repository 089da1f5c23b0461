package wechatpay_test

import (
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/wechatpay"
	"github.com/kubepay/kubepay/providers/wechatpay/internal/fakegateway"
)

const (
	testAppID = "wxd678efh567hg6787"
	testMchID = "1230000109"
)

// fixedNow is the clock of client and gateway in tests that compare times.
var fixedNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func clock() time.Time { return fixedNow }

// startGateway serves a fake WeChat Pay for the test merchant, on the fixed clock.
func startGateway(t testing.TB) *fakegateway.Gateway {
	t.Helper()
	g := fakegateway.New(testAppID, testMchID)
	g.SetClock(clock)
	g.Start(t)
	return g
}

// newClient builds a client through the registry, as the controller does, on the fixed clock.
func newClient(t testing.TB, endpoint string) providers.Provider {
	t.Helper()
	p, err := providers.New(wechatpay.Type, providers.Config{
		Namespace: "shop", Name: "wechatpay", Endpoint: endpoint, AppID: testAppID, MerchantID: testMchID,
		Secret: fakegateway.Secret(), Now: clock,
	})
	if err != nil {
		t.Fatalf("new wechatpay provider: %v", err)
	}
	return p
}

func testOrder(otn, channel string) providers.Order {
	return providers.Order{
		Namespace: "shop", Name: "order-" + otn, OutTradeNo: otn,
		AmountMinor: 1050, Amount: "10.50", Currency: "CNY", Channel: channel,
		Subject: "Image形象店-深圳腾大-QQ公仔", NotifyURL: "https://kubepay.example/notify/shop/wechatpay",
		ExpiresAt: fixedNow.Add(30 * time.Minute), PayerClientIP: "203.0.113.7",
	}
}
