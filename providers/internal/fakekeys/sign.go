package fakekeys

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
)

// Sign is the base64 SHA256withRSA signature of message, as the gateways sign.
func Sign(key *rsa.PrivateKey, message []byte) string {
	h := sha256.Sum256(message)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h[:])
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// Verify checks a base64 SHA256withRSA signature of message, as the gateways verify.
func Verify(pub *rsa.PublicKey, message []byte, sig string) bool {
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return false
	}
	h := sha256.Sum256(message)
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], raw) == nil
}
