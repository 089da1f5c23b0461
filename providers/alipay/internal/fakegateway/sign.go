package fakegateway

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"sort"
	"strings"
)

// Content is the string Alipay signs: sorted "k=v" pairs joined by "&", decoded values, empty
// values and sign left out, and sign_type too when withoutSignType (notifications).
func Content(v url.Values, withoutSignType bool) string {
	var names []string
	for k := range v {
		if v.Get(k) == "" || k == "sign" || (withoutSignType && k == "sign_type") {
			continue
		}
		names = append(names, k)
	}
	// Sorted by key, not by "k=v": "a-b" sorts after "a" as a key but before "a=" as a pair.
	sort.Strings(names)
	pairs := make([]string, len(names))
	for i, k := range names {
		pairs[i] = k + "=" + v.Get(k)
	}
	return strings.Join(pairs, "&")
}

// Sign returns the base64 SHA256withRSA signature of s.
func Sign(key *rsa.PrivateKey, s string) string {
	h := sha256.Sum256([]byte(s))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h[:])
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// Verify checks a base64 SHA256withRSA signature of s.
func Verify(pub *rsa.PublicKey, s, sign string) bool {
	sig, err := base64.StdEncoding.DecodeString(sign)
	if err != nil {
		return false
	}
	h := sha256.Sum256([]byte(s))
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig) == nil
}

// SignNotification sets sign_type and sign of a notification form, signed with key.
func SignNotification(v url.Values, key *rsa.PrivateKey) {
	v.Set("sign_type", "RSA2")
	v.Set("sign", Sign(key, Content(v, true)))
}
