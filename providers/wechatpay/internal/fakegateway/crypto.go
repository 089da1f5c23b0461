// Package fakegateway is a fake WeChat Pay API v3 for tests, on loopback: it holds the platform
// key and the APIv3 key, verifies the merchant's Authorization signatures (refusing bad ones with
// 401 SIGN_ERROR), answers with Wechatpay-* signature headers, keeps orders, and builds and sends
// signed notifications with AES-GCM encrypted resources. Its crypto is written apart from the
// client's, so a passing test shows two implementations of the documented rules agree.
package fakegateway

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kubepay/kubepay/providers/internal/fakekeys"
)

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
	h.Set("Wechatpay-Signature", fakekeys.Sign(key, []byte(ts+"\n"+nonce+"\n"+string(body)+"\n")))
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
