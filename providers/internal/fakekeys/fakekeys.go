// Package fakekeys is the key material of the fake gateways (Alipay's and WeChat Pay's): test
// keys generated once per process, their PEM forms, and the gateway side's SHA256withRSA.
//
// It is written apart from providers/internal/rsakeys on purpose: the fakes sign and verify
// with their own code, so a test that passes shows two implementations of the documented rules
// agree instead of one implementation agreeing with itself.
package fakekeys

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"sync"
)

var (
	keysMu sync.Mutex
	keys   = map[string]*rsa.PrivateKey{}
)

// Key returns a 2048-bit RSA key generated once per process for name ("alipay", "app",
// "platform", "merchant", "other"...), so tests do not pay for key generation over and over.
func Key(name string) *rsa.PrivateKey {
	keysMu.Lock()
	defer keysMu.Unlock()
	if k, ok := keys[name]; ok {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic("fakekeys: generating RSA key: " + err.Error())
	}
	keys[name] = k
	return k
}

// PrivatePEM encodes key as PKCS#8 PEM, the form of Alipay's key tool (for Java) and of
// WeChat Pay's apiclient_key.pem.
func PrivatePEM(key *rsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// PublicPEM encodes pub as PKIX PEM, the form of the Alipay public key and of the WeChat Pay
// public key file.
func PublicPEM(pub *rsa.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}
