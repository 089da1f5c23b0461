package wechatpay

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/internal/fakekeys"
	"github.com/kubepay/kubepay/providers/internal/testvectors"
	"github.com/kubepay/kubepay/providers/wechatpay/internal/fakegateway"
)

// vectorTime is the vector's Wechatpay-Timestamp; the SDK test patches its clock to it.
const vectorTime = 1624523846

// vectors are the genuine WeChat Pay-signed vectors in testdata/vectors/wechatpay;
// their absence fails the tests, since they are the only proof that this implementation
// matches WeChat Pay's.
var vectors = testvectors.Vectors{Provider: "wechatpay", Display: "WeChat Pay"}

// vectorRequest is the vector's notification request, headers from headers.txt.
func vectorRequest(t testing.TB) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/notify", nil)
	for _, line := range strings.Split(strings.TrimSpace(string(vectors.Read(t, "headers.txt"))), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("headers.txt line %q", line)
		}
		r.Header.Set(k, v)
	}
	return r
}

// vectorClient builds the client the production way except for the APIv3 key length: the
// vector's key is the SDK's 16-byte test key, which New refuses.
func vectorClient(t testing.TB, secret map[string][]byte, now int64) *Client {
	t.Helper()
	s := map[string][]byte{
		SecretMerchantPrivateKey: fakekeys.PrivatePEM(fakekeys.Key("merchant")),
		SecretMerchantCertSerial: []byte(fakegateway.MerchantSerial),
		SecretAPIv3Key:           vectors.Read(t, "apiv3_key.txt"),
	}
	for k, v := range secret {
		s[k] = v
	}
	c, err := newClient(providers.Config{
		Namespace: "shop", Name: "wechatpay", AppID: "054aa7d7a2a54ab5898df65bd96f001c", MerchantID: "1234567890",
		Secret: s, Now: func() time.Time { return time.Unix(now, 0) },
	}, 16)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestGenuineNotificationVector: WeChat Pay's own signed notification verifies through
// ParseNotification, with the platform certificate or the same key as a public key, at the
// vector's time; and it decrypts to the documented plaintext.
func TestGenuineNotificationVector(t *testing.T) {
	t.Parallel()
	body := vectors.Read(t, "body.json")
	cert := map[string][]byte{SecretPlatformCertificate: vectors.Read(t, "cert.pem")}
	pubKey := map[string][]byte{SecretPlatformPublicKey: vectors.Read(t, "public_key.pem"), SecretPlatformPublicKeyID: []byte("D7CE59D1F522D701")}
	for name, secret := range map[string]map[string][]byte{"certificate": cert, "public key": pubKey} {
		t.Run(name, func(t *testing.T) {
			c := vectorClient(t, secret, vectorTime)
			n, err := c.ParseNotification(context.Background(), vectorRequest(t), body)
			if err != nil {
				t.Fatalf("genuine notification refused: %v", err)
			}
			// A pay score event, not a payment: verified, acknowledged, not acted on.
			want := providers.Notification{ID: "3119dfba-e649-5eec-ab1e-3412bc4d2e17", Type: "PAYSCORE.USER_OPEN_SERVICE"}
			if n != want {
				t.Errorf("notification %+v, want %+v", n, want)
			}
		})
	}
	c := vectorClient(t, cert, vectorTime)
	ev := struct{ nonce, ad, ct string }{"Kj7QIyUiYx1q", "payscore", ""}
	ev.ct = string(bytes.Split(bytes.Split(body, []byte(`"ciphertext":"`))[1], []byte(`"`))[0])
	plain, err := decryptResource(c.aead, ev.nonce, ev.ad, ev.ct)
	if err != nil {
		t.Fatal(err)
	}
	if want := vectors.Read(t, "expected_plaintext.json"); !bytes.Equal(plain, want) {
		t.Errorf("plaintext\n%s\nwant\n%s", plain, want)
	}
}

// TestGenuineVectorRefusals: changes the SDK's SOURCE.md lists, and the clock window.
func TestGenuineVectorRefusals(t *testing.T) {
	t.Parallel()
	body := vectors.Read(t, "body.json")
	cert := map[string][]byte{SecretPlatformCertificate: vectors.Read(t, "cert.pem")}
	tests := []struct {
		name, why string
		now       int64
		secret    map[string][]byte
		edit      func(r *http.Request, body []byte) []byte
		ok        bool
	}{
		{"299 s later", "inside the 300 s window", vectorTime + 299, cert, nil, true},
		{"301 s later", "a replay past the window", vectorTime + 301, cert, nil, false},
		{"301 s earlier", "a timestamp from the future is refused the same way", vectorTime - 301, cert, nil, false},
		{"body byte changed", "the body is signed", vectorTime, cert, func(_ *http.Request, b []byte) []byte {
			return bytes.Replace(b, []byte("签约成功"), []byte("签约失败"), 1)
		}, false},
		{"nonce changed", "the nonce is signed", vectorTime, cert, func(r *http.Request, b []byte) []byte {
			r.Header.Set("Wechatpay-Nonce", "EcZ9Cmy4Xyx1i6RlJQzLcCyEqDa26NBZ")
			return b
		}, false},
		{"timestamp changed", "the timestamp is signed", vectorTime, cert, func(r *http.Request, b []byte) []byte {
			r.Header.Set("Wechatpay-Timestamp", "1624523847")
			return b
		}, false},
		{"serial unknown", "the key is chosen by serial; another serial has no key", vectorTime,
			map[string][]byte{SecretPlatformPublicKey: vectors.Read(t, "public_key.pem"), SecretPlatformPublicKeyID: []byte("F5765756002FDD77")}, nil, false},
		{"serial lower case", "certificate serials compare in any case", vectorTime, cert, func(r *http.Request, b []byte) []byte {
			r.Header.Set("Wechatpay-Serial", "d7ce59d1f522d701")
			return b
		}, true},
		{"probe", "WECHATPAY/SIGNTEST/ signatures are refused before anything else", vectorTime, cert, func(r *http.Request, b []byte) []byte {
			r.Header.Set("Wechatpay-Signature", "WECHATPAY/SIGNTEST/"+r.Header.Get("Wechatpay-Signature"))
			return b
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := vectorClient(t, tc.secret, tc.now)
			r := vectorRequest(t)
			b := append([]byte(nil), body...)
			if tc.edit != nil {
				b = tc.edit(r, b)
			}
			_, err := c.ParseNotification(context.Background(), r, b)
			if tc.ok && err != nil {
				t.Fatalf("%s: %v", tc.why, err)
			}
			if !tc.ok && !errors.Is(err, providers.ErrSignature) {
				t.Fatalf("%s: got %v, want ErrSignature", tc.why, err)
			}
		})
	}
}

// TestProductionRefusesTheTestKey: New insists on a real 32-byte APIv3 key.
func TestProductionRefusesTheTestKey(t *testing.T) {
	t.Parallel()
	_, err := New(providers.Config{Namespace: "shop", Name: "wechatpay", AppID: "a", MerchantID: "m", Secret: map[string][]byte{
		SecretMerchantPrivateKey: fakekeys.PrivatePEM(fakekeys.Key("merchant")), SecretMerchantCertSerial: []byte("ABC"),
		SecretAPIv3Key: vectors.Read(t, "apiv3_key.txt"), SecretPlatformCertificate: vectors.Read(t, "cert.pem"),
	}})
	if !errors.Is(err, providers.ErrCredentials) || !strings.Contains(err.Error(), SecretAPIv3Key) || strings.Contains(err.Error(), "testMchAPIv3Key0") {
		t.Fatalf("got %v, want ErrCredentials naming %s without its value", err, SecretAPIv3Key)
	}
}

// TestAES256GCMSupplement: the 32-byte-key decryption case, and its documented failures.
func TestAES256GCMSupplement(t *testing.T) {
	t.Parallel()
	read := func(f string) string { return string(vectors.Read(t, "aes256_gcm_decrypt_supplement", f)) }
	aead, err := newAEAD([]byte(read("apiv3_key.txt")))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, why, nonce, ad, ct string
		ok                       bool
	}{
		{"genuine", "decrypts to the documented message", read("nonce.txt"), read("associated_data.txt"), read("ciphertext.b64.txt"), true},
		{"bad associated data", "associated data is authenticated", read("nonce.txt"), "bad-associatedData", read("ciphertext.b64.txt"), false},
		{"bad nonce", "the nonce is authenticated", "bad-4a9R25RW", read("associated_data.txt"), read("ciphertext.b64.txt"), false},
		{"tag flipped", "a changed tag is refused", read("nonce.txt"), read("associated_data.txt"), flipLast(t, read("ciphertext.b64.txt")), false},
		{"short nonce", "the nonce is 12 bytes", "uluk4a9R25R", read("associated_data.txt"), read("ciphertext.b64.txt"), false},
		{"not base64", "ciphertext is base64", read("nonce.txt"), read("associated_data.txt"), "%%%", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plain, err := decryptResource(aead, tc.nonce, tc.ad, tc.ct)
			if tc.ok != (err == nil) {
				t.Fatalf("%s: err = %v", tc.why, err)
			}
			if tc.ok && string(plain) != read("plaintext.txt") {
				t.Errorf("plaintext %q, want %q", plain, read("plaintext.txt"))
			}
		})
	}
}

func flipLast(t testing.TB, b64 string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1
	return base64.StdEncoding.EncodeToString(b)
}
