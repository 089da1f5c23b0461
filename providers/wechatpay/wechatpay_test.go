package wechatpay_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/internal/fakekeys"
	"github.com/kubepay/kubepay/providers/wechatpay"
	"github.com/kubepay/kubepay/providers/wechatpay/internal/fakegateway"
)

// TestNewCredentials: what the Secret must hold, and that refusals name the key but never its
// value.
func TestNewCredentials(t *testing.T) {
	t.Parallel()
	with := func(edit map[string][]byte) map[string][]byte {
		s := fakegateway.Secret()
		for k, v := range edit {
			if v == nil {
				delete(s, k)
			} else {
				s[k] = v
			}
		}
		return s
	}
	tests := []struct {
		name, why, mention string
		secret             map[string][]byte
		appID, mchID       string
		ok, credentials    bool
	}{
		{"public key mode", "the current WeChat Pay verification mode", "", fakegateway.Secret(), testAppID, testMchID, true, false},
		{"certificate mode only", "platform certificates are still in use", "", with(map[string][]byte{
			wechatpay.SecretPlatformPublicKey: nil, wechatpay.SecretPlatformPublicKeyID: nil,
			wechatpay.SecretPlatformCertificate: selfSignedPEM(t)}), testAppID, testMchID, true, false},
		{"no merchant key", "every request is signed with it", wechatpay.SecretMerchantPrivateKey, with(map[string][]byte{wechatpay.SecretMerchantPrivateKey: nil}), testAppID, testMchID, false, true},
		{"public key as merchant key", "a public key cannot sign", wechatpay.SecretMerchantPrivateKey, with(map[string][]byte{wechatpay.SecretMerchantPrivateKey: fakekeys.PublicPEM(&fakekeys.Key("merchant").PublicKey)}), testAppID, testMchID, false, true},
		{"serial with a space", "it goes into the Authorization header", wechatpay.SecretMerchantCertSerial, with(map[string][]byte{wechatpay.SecretMerchantCertSerial: []byte("51 57")}), testAppID, testMchID, false, true},
		{"short APIv3 key", "real APIv3 keys are 32 bytes", wechatpay.SecretAPIv3Key, with(map[string][]byte{wechatpay.SecretAPIv3Key: []byte("0123456789abcdef")}), testAppID, testMchID, false, true},
		{"no platform key", "nothing could be verified", wechatpay.SecretPlatformCertificate, with(map[string][]byte{wechatpay.SecretPlatformPublicKey: nil}), testAppID, testMchID, false, true},
		{"public key without id", "the id selects the key by Wechatpay-Serial", wechatpay.SecretPlatformPublicKeyID, with(map[string][]byte{wechatpay.SecretPlatformPublicKeyID: nil}), testAppID, testMchID, false, true},
		{"garbage certificate", "the certificate must parse", wechatpay.SecretPlatformCertificate, with(map[string][]byte{wechatpay.SecretPlatformCertificate: []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")}), testAppID, testMchID, false, true},
		{"no mchid", "mchid is in every request", "spec.merchantID", fakegateway.Secret(), testAppID, "", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := providers.New(wechatpay.Type, providers.Config{Namespace: "shop", Name: "wechatpay", AppID: tc.appID, MerchantID: tc.mchID, Secret: tc.secret})
			if tc.ok {
				if err != nil {
					t.Fatalf("%s: %v", tc.why, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("%s: accepted", tc.why)
			}
			if errors.Is(err, providers.ErrCredentials) != tc.credentials || !strings.Contains(err.Error(), tc.mention) || !strings.Contains(err.Error(), "shop/wechatpay") {
				t.Errorf("%s: %v (want ErrCredentials=%v, naming %q and the PaymentProvider)", tc.why, err, tc.credentials, tc.mention)
			}
			for _, v := range tc.secret {
				if len(v) >= 16 && strings.Contains(err.Error(), string(v[:16])) && !strings.HasPrefix(string(v), "-----") {
					t.Errorf("%s: error leaks a secret value: %v", tc.why, err)
				}
			}
		})
	}
}
