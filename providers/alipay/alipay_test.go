package alipay_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/alipay"
	"github.com/kubepay/kubepay/providers/internal/fakekeys"
)

// TestNewAcceptsKeyEncodings: merchants paste keys in every form Alipay's tools produce.
func TestNewAcceptsKeyEncodings(t *testing.T) {
	t.Parallel()
	app := fakekeys.Key("app")
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(app)
	pkcs1 := x509.MarshalPKCS1PrivateKey(app)
	pub, _ := x509.MarshalPKIXPublicKey(&fakekeys.Key("alipay").PublicKey)
	b64 := base64.StdEncoding.EncodeToString
	tests := []struct {
		name, why       string
		private, public []byte
	}{
		{"PKCS#8 PEM and PKIX PEM", "the usual PEM files", fakekeys.PrivatePEM(app), fakekeys.PublicPEM(&fakekeys.Key("alipay").PublicKey)},
		{"PKCS#1 PEM", "OpenSSL's traditional RSA key file", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: pkcs1}), fakekeys.PublicPEM(&fakekeys.Key("alipay").PublicKey)},
		{"bare base64 PKCS#8 and PKIX", "Alipay's key tool and console print one base64 line", []byte(b64(pkcs8)), []byte(b64(pub))},
		{"bare base64 PKCS#1", "the tool's non-Java format", []byte(b64(pkcs1)), []byte(b64(pub))},
		{"base64 wrapped with newlines", "keys copied from a console keep their line breaks", []byte(wrap(b64(pkcs8)) + "\n"), []byte(wrap(b64(pub)))},
		{"PKCS#1 public key PEM", "an RSA PUBLIC KEY block is the same key", fakekeys.PrivatePEM(app), pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&fakekeys.Key("alipay").PublicKey)})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := providers.New(alipay.Type, providers.Config{Namespace: "shop", Name: "alipay", AppID: testAppID,
				Secret: map[string][]byte{alipay.SecretAppPrivateKey: tc.private, alipay.SecretAlipayPublicKey: tc.public}})
			if err != nil {
				t.Fatalf("%s: %v", tc.why, err)
			}
		})
	}
}

// TestNewRefusesBadCredentials: each refusal wraps ErrCredentials (or is a spec error), names the
// key and never contains key material.
func TestNewRefusesBadCredentials(t *testing.T) {
	t.Parallel()
	good := secret()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	with := func(k string, v []byte) map[string][]byte {
		s := map[string][]byte{}
		for kk, vv := range good {
			s[kk] = vv
		}
		if v == nil {
			delete(s, k)
		} else {
			s[k] = v
		}
		return s
	}
	tests := []struct {
		name, why, appID, endpoint, mention string
		secret                              map[string][]byte
		credentials                         bool
	}{
		{"no app key", "the app key signs every request", testAppID, "", alipay.SecretAppPrivateKey, with(alipay.SecretAppPrivateKey, nil), true},
		{"no alipay key", "nothing could be verified", testAppID, "", alipay.SecretAlipayPublicKey, with(alipay.SecretAlipayPublicKey, nil), true},
		{"garbage app key", "neither PEM nor base64", testAppID, "", alipay.SecretAppPrivateKey, with(alipay.SecretAppPrivateKey, []byte("not a key!")), true},
		{"public key as app key", "a PUBLIC KEY block cannot sign", testAppID, "", alipay.SecretAppPrivateKey, with(alipay.SecretAppPrivateKey, good[alipay.SecretAlipayPublicKey]), true},
		{"EC app key", "RSA2 needs an RSA key", testAppID, "", alipay.SecretAppPrivateKey, with(alipay.SecretAppPrivateKey, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})), true},
		{"1024-bit app key", "weaker than RSA2's 2048 bits", testAppID, "", alipay.SecretAppPrivateKey, with(alipay.SecretAppPrivateKey, fakekeys.PrivatePEM(small)), true},
		{"private key as alipay key", "the wrong half", testAppID, "", alipay.SecretAlipayPublicKey, with(alipay.SecretAlipayPublicKey, good[alipay.SecretAppPrivateKey]), true},
		{"no app id", "app_id is in every signed request", "", "", "spec.appID", good, false},
		{"relative endpoint", "the gateway must be an absolute URL", testAppID, "gateway.do", "spec.endpoint", good, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := providers.New(alipay.Type, providers.Config{Namespace: "shop", Name: "alipay", AppID: tc.appID, Endpoint: tc.endpoint, Secret: tc.secret})
			if err == nil {
				t.Fatalf("%s: accepted", tc.why)
			}
			if errors.Is(err, providers.ErrCredentials) != tc.credentials {
				t.Errorf("%s: ErrCredentials = %v, want %v (%v)", tc.why, !tc.credentials, tc.credentials, err)
			}
			if !strings.Contains(err.Error(), tc.mention) || !strings.Contains(err.Error(), "shop/alipay") {
				t.Errorf("%s: error %q does not name %q and the PaymentProvider", tc.why, err, tc.mention)
			}
			for _, v := range tc.secret {
				if len(v) > 20 && strings.Contains(err.Error(), string(v[len(v)/2:len(v)/2+16])) {
					t.Errorf("%s: error leaks key material: %q", tc.why, err)
				}
			}
		})
	}
}

func wrap(s string) string {
	var b strings.Builder
	for len(s) > 64 {
		b.WriteString(s[:64] + "\n")
		s = s[64:]
	}
	b.WriteString(s)
	return b.String()
}
