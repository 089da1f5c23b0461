package alipay_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/alipay"
	"github.com/kubepay/kubepay/providers/alipay/internal/fakegateway"
	"github.com/kubepay/kubepay/providers/internal/fakekeys"
)

// TestVerify: Verify is one signed alipay.trade.query of a trade nobody has; Alipay's signed "no
// such trade" proves the credentials, its credential refusals are ErrCredentials, and nothing
// else may be mistaken for either.
func TestVerify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, why string
		// secret edits the client's credentials Secret; appID replaces its app id.
		secret func(map[string][]byte)
		appID  string
		setup  func(g *fakegateway.Gateway)
		fault  *fakegateway.Fault
		err    errWant
	}{
		{name: "accepted", why: "a signed ACQ.TRADE_NOT_EXIST: Alipay took the request's sign and its answer verified", err: errWant{ok: true}},
		{name: "trade exists", why: "a signed success answers the query just as well", setup: func(g *fakegateway.Gateway) {
			g.AddTrade(fakegateway.Trade{OutTradeNo: "kubepay_credentials_check_0000000000000", Status: fakegateway.WaitBuyerPay, TotalAmount: "1.00"})
		}, err: errWant{ok: true}},
		{name: "wrong app key", why: "Alipay refuses the request's sign: isv.invalid-signature", secret: func(s map[string][]byte) {
			s[alipay.SecretAppPrivateKey] = fakekeys.PrivatePEM(fakekeys.Key("other"))
		}, err: errWant{is: providers.ErrCredentials, code: "isv.invalid-signature"}},
		{name: "wrong app id", why: "Alipay knows no such app: isv.invalid-app-id", appID: "2021000000000099",
			err: errWant{is: providers.ErrCredentials, code: "isv.invalid-app-id"}},
		{name: "insufficient permissions", why: "code 20001: the app may not call the API", fault: &fakegateway.Fault{Code: "20001", SubCode: "aop.invalid-auth-token"},
			err: errWant{is: providers.ErrCredentials, code: "aop.invalid-auth-token"}},
		{name: "wrong alipay key", why: "an answer that does not verify could be anyone's: retried, with the key named in the error", secret: func(s map[string][]byte) {
			s[alipay.SecretAlipayPublicKey] = fakekeys.PublicPEM(&fakekeys.Key("other").PublicKey)
		}, err: errWant{retryable: true, code: "bad_response"}},
		{name: "unsigned not-exist", why: "an unsigned ACQ.TRADE_NOT_EXIST proves nothing about the keys", fault: &fakegateway.Fault{Code: "40004", SubCode: "ACQ.TRADE_NOT_EXIST", Unsigned: true},
			err: errWant{retryable: true, code: "ACQ.TRADE_NOT_EXIST"}},
		{name: "bare 404", why: "a proxy's 404 page is not Alipay's answer", fault: &fakegateway.Fault{HTTPStatus: http.StatusNotFound},
			err: errWant{retryable: true, code: "404"}},
		{name: "unavailable", why: "code 20000: Alipay asks to try again", fault: &fakegateway.Fault{Code: "20000", SubCode: "isp.unknow-error"},
			err: errWant{retryable: true, code: "isp.unknow-error"}},
		{name: "other refusal", why: "a signed business refusal that is not about credentials says nothing about them either", fault: &fakegateway.Fault{Code: "40004", SubCode: "ACQ.INVALID_PARAMETER"},
			err: errWant{retryable: true, code: "ACQ.INVALID_PARAMETER"}},
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
			s := secret()
			if tc.secret != nil {
				tc.secret(s)
			}
			appID := testAppID
			if tc.appID != "" {
				appID = tc.appID
			}
			c, err := providers.New(alipay.Type, providers.Config{Namespace: "shop", Name: "alipay", Endpoint: g.URL, AppID: appID, Secret: s})
			if err != nil {
				t.Fatal(err)
			}
			err = c.Verify(context.Background())
			checkErr(t, tc.why, err, tc.err)
			if err != nil && !containsAll(err.Error(), "verify", "shop/alipay") {
				t.Errorf("%s: error %q does not name the call and the PaymentProvider", tc.why, err)
			}
			if got := g.Calls("alipay.trade.query") + g.Rejected(); got != 1 {
				t.Errorf("%s: gateway saw %d requests, want one query", tc.why, got)
			}
		})
	}
	down := newClient(t, "http://127.0.0.1:1/gateway.do")
	checkErr(t, "an unreachable gateway says nothing about the credentials", down.Verify(context.Background()), errWant{retryable: true, code: "network"})
}
