// Package fakegateway is a fake WeChat Pay API v3 for tests, on loopback: it holds the platform
// key and the APIv3 key, verifies the merchant's Authorization signatures (refusing bad ones with
// 401 SIGN_ERROR), answers with Wechatpay-* signature headers, keeps orders, and builds and sends
// signed notifications with AES-GCM encrypted resources. Its crypto is written apart from the
// client's, so a passing test shows two implementations of the documented rules agree.
package fakegateway

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

var (
	keysMu sync.Mutex
	keys   = map[string]*rsa.PrivateKey{}
)

// Key returns a 2048-bit RSA key generated once per process for name ("platform", "merchant",
// "other"...).
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

// PrivatePEM encodes key as PKCS#8 PEM, like apiclient_key.pem.
func PrivatePEM(key *rsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// PublicPEM encodes pub as PKIX PEM, like the WeChat Pay public key file.
func PublicPEM(pub *rsa.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// SignMessage is the base64 SHA256withRSA signature of message.
func SignMessage(key *rsa.PrivateKey, message []byte) string {
	h := sha256.Sum256(message)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h[:])
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// VerifyMessage checks a base64 SHA256withRSA signature of message.
func VerifyMessage(pub *rsa.PublicKey, message []byte, sig string) bool {
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return false
	}
	h := sha256.Sum256(message)
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], raw) == nil
}

// SignedHeaders signs body as WeChat Pay signs answers and notifications:
// "timestamp\nnonce\nbody\n" with key, announced under serial.
func SignedHeaders(key *rsa.PrivateKey, serial string, at time.Time, body []byte) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	nonce := RandomString(16)
	h := http.Header{}
	h.Set("Wechatpay-Timestamp", ts)
	h.Set("Wechatpay-Nonce", nonce)
	h.Set("Wechatpay-Serial", serial)
	h.Set("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048")
	h.Set("Wechatpay-Signature", SignMessage(key, []byte(ts+"\n"+nonce+"\n"+string(body)+"\n")))
	return h
}

// Encrypt seals plaintext with AES-GCM under key (the APIv3 key), the 12-byte nonce and
// associated data, and returns base64 of ciphertext||tag.
func Encrypt(key []byte, nonce, associatedData string, plaintext []byte) string {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(gcm.Seal(nil, []byte(nonce), plaintext, []byte(associatedData)))
}

// RandomString is n random bytes in hex, upper case.
func RandomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return strings.ToUpper(hex.EncodeToString(b))
}
