package sandbox_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/sandbox"
	"github.com/kubepay/kubepay/providers/sandbox/gatewaytest"
)

func publicPEM(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestRegistered(t *testing.T) {
	if !slices.Contains(providers.Types(), sandbox.Type) {
		t.Fatalf("registered types %v lack %q", providers.Types(), sandbox.Type)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	key := &gatewaytest.SigningKey().PublicKey
	good := publicPEM(t, key)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(key)})
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	const secretValue = "sk_live_DoNotLeakMe"
	tests := []struct {
		name        string
		endpoint    string
		secret      map[string][]byte
		credentials bool   // wraps ErrCredentials
		mention     string // the error names this
		ok          bool
	}{
		{"a complete config works", "http://gw:8090", map[string][]byte{"apiKey": []byte(secretValue), "publicKey": good}, false, "", true},
		{"a trailing newline in a Secret value is tolerated", "http://gw:8090/", map[string][]byte{"apiKey": []byte(secretValue + "\n"), "publicKey": good}, false, "", true},
		{"a PKCS#1 public key is accepted", "https://gw", map[string][]byte{"apiKey": []byte(secretValue), "publicKey": pkcs1}, false, "", true},
		{"the endpoint is required: there is no public sandbox", "", map[string][]byte{"apiKey": []byte(secretValue), "publicKey": good}, false, "spec.endpoint", false},
		{"the endpoint must be an http(s) URL", "gw:8090", map[string][]byte{"apiKey": []byte(secretValue), "publicKey": good}, false, "spec.endpoint", false},
		{"a missing apiKey is named", "http://gw", map[string][]byte{"publicKey": good}, true, `"apiKey"`, false},
		{"an apiKey with inner whitespace is refused without echoing it", "http://gw", map[string][]byte{"apiKey": []byte(secretValue + " x"), "publicKey": good}, true, `"apiKey"`, false},
		{"a missing publicKey is named", "http://gw", map[string][]byte{"apiKey": []byte(secretValue)}, true, `"publicKey"`, false},
		{"a publicKey that is not PEM is refused", "http://gw", map[string][]byte{"apiKey": []byte(secretValue), "publicKey": []byte("ssh-rsa AAAA")}, true, `"publicKey"`, false},
		{"a non-RSA publicKey is refused", "http://gw", map[string][]byte{"apiKey": []byte(secretValue), "publicKey": publicPEM(t, &ec.PublicKey)}, true, "RSA", false},
		{"a weak RSA key is refused", "http://gw", map[string][]byte{"apiKey": []byte(secretValue), "publicKey": publicPEM(t, &small.PublicKey)}, true, "1024 bits", false},
		{"a private key in place of the public key is refused", "http://gw", map[string][]byte{"apiKey": []byte(secretValue), "publicKey": pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)})}, true, "PUBLIC KEY", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := providers.New(sandbox.Type, providers.Config{Namespace: "shop", Name: "gw", Endpoint: tc.endpoint, Secret: tc.secret})
			if tc.ok {
				if err != nil || p.Type() != sandbox.Type {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("New succeeded")
			}
			if errors.Is(err, providers.ErrCredentials) != tc.credentials {
				t.Errorf("error %q: wraps ErrCredentials = %v, want %v", err, !tc.credentials, tc.credentials)
			}
			if !strings.Contains(err.Error(), tc.mention) || !strings.Contains(err.Error(), "shop/gw") {
				t.Errorf("error %q should name %s and PaymentProvider shop/gw", err, tc.mention)
			}
			if strings.Contains(err.Error(), secretValue) {
				t.Errorf("error %q leaks the API key", err)
			}
		})
	}
}
