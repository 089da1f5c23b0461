package rsakeys

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"sync"
	"testing"
)

var (
	once      sync.Once
	key, key2 *rsa.PrivateKey
	keysErr   error
)

// keys generates two 2048-bit keys once for all tests, since generating them takes a while.
func keys(t *testing.T) (*rsa.PrivateKey, *rsa.PrivateKey) {
	t.Helper()
	once.Do(func() {
		if key, keysErr = rsa.GenerateKey(rand.Reader, 2048); keysErr == nil {
			key2, keysErr = rsa.GenerateKey(rand.Reader, 2048)
		}
	})
	if keysErr != nil {
		t.Fatalf("generate RSA test keys: %v", keysErr)
	}
	return key, key2
}

func TestSignVerify(t *testing.T) {
	k, other := keys(t)
	msg := []byte("t.body")
	sig, err := Sign(k, msg)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pub  *rsa.PublicKey
		msg  []byte
		sig  string
		want error
	}{
		{"the signer's key over the signed bytes verifies", &k.PublicKey, msg, sig, nil},
		{"another key does not", &other.PublicKey, msg, sig, ErrMismatch},
		{"other bytes do not", &k.PublicKey, []byte("t.body2"), sig, ErrMismatch},
		{"a + that form decoding turned into a space is not base64 any more", &k.PublicKey, msg, " " + sig[1:], ErrEncoding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Verify(tt.pub, tt.msg, tt.sig); !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParseKeys(t *testing.T) {
	k, _ := keys(t)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	p8der, _ := x509.MarshalPKCS8PrivateKey(k)
	pkcs8 := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8der})
	pubDER, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallDER, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)

	for name, data := range map[string][]byte{"PKCS#1 PEM": pkcs1, "PKCS#8 PEM": pkcs8} {
		if _, err := ParsePrivatePEM(data); err != nil {
			t.Errorf("ParsePrivatePEM(%s): %v", name, err)
		}
	}
	if _, err := ParsePrivate([]byte(base64.StdEncoding.EncodeToString(p8der))); err != nil {
		t.Errorf("ParsePrivate(bare base64 PKCS#8), as Alipay's tools emit it: %v", err)
	}
	if _, err := ParsePublicPEM(pubPEM); err != nil {
		t.Errorf("ParsePublicPEM: %v", err)
	}
	if _, err := ParsePublic([]byte(base64.StdEncoding.EncodeToString(pubDER))); err != nil {
		t.Errorf("ParsePublic(bare base64): %v", err)
	}
	if _, err := ParsePublicPEM([]byte(base64.StdEncoding.EncodeToString(pubDER))); err == nil {
		t.Error("the strict PEM parser accepted bare base64")
	}
	if _, err := ParsePublicPEM(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: smallDER})); err == nil {
		t.Error("a 1024-bit key was accepted; the minimum is 2048")
	}
	if _, err := ParsePublicPEM([]byte("not a key")); err == nil {
		t.Error("garbage was accepted as a key")
	}
}
