// Package fakegateway is a fake Alipay OpenAPI gateway for tests, on loopback: it holds
// "Alipay's" key pair, verifies the merchant's RSA2 request signatures with the application public
// key (refusing bad ones as Alipay does), answers with signed JSON, keeps trades, and builds and
// sends signed asynchronous notifications. Its signing code is written apart from the client's,
// so a test that passes shows two implementations of the documented rule agree.
package fakegateway

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
// "other"...), so tests do not pay for key generation over and over.
func Key(name string) *rsa.PrivateKey {
	keysMu.Lock()
	defer keysMu.Unlock()
	if k, ok := keys[name]; ok {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic("fakegateway: generating RSA key: " + err.Error())
	}
	keys[name] = k
	return k
}

// PrivatePEM encodes key as PKCS#8 PEM, the form Alipay's key tool exports for Java.
func PrivatePEM(key *rsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// PublicPEM encodes pub as PKIX PEM, the form of the Alipay public key.
func PublicPEM(pub *rsa.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}
