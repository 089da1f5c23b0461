package wechatpay_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/internal/fakekeys"
	"github.com/kubepay/kubepay/providers/wechatpay"
	"github.com/kubepay/kubepay/providers/wechatpay/internal/fakegateway"
)

// TestVerify: Verify is one signed query of an order nobody has; WeChat Pay's signed 404
// ORDER_NOT_EXIST proves the credentials, its 401/SIGN_ERROR refusals are ErrCredentials, and
// nothing else may be mistaken for either.
func TestVerify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, why string
		// secret edits the client's credentials Secret; mchID replaces its merchant id.
		secret func(map[string][]byte)
		mchID  string
		setup  func(g *fakegateway.Gateway)
		fault  *fakegateway.Fault
		err    errWant
	}{
		{name: "accepted", why: "a signed 404 ORDER_NOT_EXIST: WeChat Pay authenticated the request and its answer verified", err: errWant{ok: true}},
		{name: "order exists", why: "a signed 200 answers the query just as well", setup: func(g *fakegateway.Gateway) { notPaid(g, "kubepay_credentials_check_000000") }, err: errWant{ok: true}},
		{name: "wrong merchant key", why: "WeChat Pay refuses the request's signature: 401 SIGN_ERROR", secret: func(s map[string][]byte) {
			s[wechatpay.SecretMerchantPrivateKey] = fakekeys.PrivatePEM(fakekeys.Key("other"))
		}, err: errWant{is: providers.ErrCredentials, code: "SIGN_ERROR"}},
		{name: "wrong certificate serial", why: "the serial names a certificate WeChat Pay does not have for the merchant", secret: func(s map[string][]byte) {
			s[wechatpay.SecretMerchantCertSerial] = []byte("0000000000000000000000000000000000000000")
		}, err: errWant{is: providers.ErrCredentials, code: "SIGN_ERROR"}},
		{name: "wrong mchid", why: "another merchant's id in the Authorization header", mchID: "1900000109", err: errWant{is: providers.ErrCredentials, code: "SIGN_ERROR"}},
		{name: "wrong platform key", why: "an answer that does not verify with the configured platform key could be anyone's: retried, not accepted", secret: func(s map[string][]byte) {
			s[wechatpay.SecretPlatformPublicKey] = fakekeys.PublicPEM(&fakekeys.Key("other").PublicKey)
		}, err: errWant{retryable: true, code: "bad_response"}},
		{name: "unsigned not found", why: "an unsigned ORDER_NOT_EXIST proves nothing about the keys", fault: &fakegateway.Fault{Status: http.StatusNotFound, Code: "ORDER_NOT_EXIST", Unsigned: true},
			err: errWant{retryable: true, code: "ORDER_NOT_EXIST"}},
		{name: "bare 404", why: "a proxy's 404 page is not WeChat Pay's answer", fault: &fakegateway.Fault{Status: http.StatusNotFound, Unsigned: true},
			err: errWant{retryable: true, code: "404"}},
		{name: "system error", why: "500 SYSTEM_ERROR: ask again", fault: &fakegateway.Fault{Status: http.StatusInternalServerError, Code: "SYSTEM_ERROR"},
			err: errWant{retryable: true, code: "SYSTEM_ERROR"}},
		{name: "other refusal", why: "a signed refusal that is not about credentials says nothing about them", fault: &fakegateway.Fault{Status: http.StatusForbidden, Code: "NO_AUTH"},
			err: errWant{retryable: true, code: "NO_AUTH"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := startGateway(t)
			if tc.setup != nil {
				tc.setup(g)
			}
			if tc.fault != nil {
				g.InjectFaults(*tc.fault)
			}
			s := fakegateway.Secret()
			if tc.secret != nil {
				tc.secret(s)
			}
			mchID := testMchID
			if tc.mchID != "" {
				mchID = tc.mchID
			}
			c, err := providers.New(wechatpay.Type, providers.Config{Namespace: "shop", Name: "wechatpay", Endpoint: g.URL, AppID: testAppID, MerchantID: mchID, Secret: s, Now: clock})
			if err != nil {
				t.Fatal(err)
			}
			err = c.Verify(context.Background())
			checkErr(t, tc.why, err, tc.err)
			if err != nil && (!strings.Contains(err.Error(), "verify") || !strings.Contains(err.Error(), "shop/wechatpay")) {
				t.Errorf("%s: error %q does not name the call and the PaymentProvider", tc.why, err)
			}
			if got := g.Calls("query") + g.Rejected(); got != 1 {
				t.Errorf("%s: gateway saw %d requests, want one query", tc.why, got)
			}
		})
	}
	down := newClient(t, "http://127.0.0.1:1")
	checkErr(t, "an unreachable API says nothing about the credentials", down.Verify(context.Background()), errWant{retryable: true, code: "network"})
}
