package rsakeys

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
)

var (
	// ErrEncoding reports a signature that is not standard base64, told apart from ErrMismatch
	// so callers can say the signature header is garbled rather than forged.
	ErrEncoding = errors.New("signature is not standard base64")
	// ErrMismatch reports a well-formed signature that does not verify with the key.
	ErrMismatch = errors.New("signature does not verify")
)

// Sign returns the standard-base64 SHA256withRSA (PKCS#1 v1.5) signature of message.
func Sign(key *rsa.PrivateKey, message []byte) (string, error) {
	digest := sha256.Sum256(message)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// Verify checks a standard-base64 SHA256withRSA signature of message. The decoding is strict:
// a sign whose "+" a careless form encoder turned into a space is not base64 any more and fails
// with ErrEncoding, as it must; a wrong signature fails with ErrMismatch.
func Verify(pub *rsa.PublicKey, message []byte, sig string) error {
	raw, err := base64.StdEncoding.Strict().DecodeString(sig)
	if err != nil {
		return ErrEncoding
	}
	digest := sha256.Sum256(message)
	return VerifyDigest(pub, digest[:], raw)
}

// VerifyDigest checks a raw SHA256withRSA signature of a SHA-256 digest, for callers that try
// several signatures over one message and hash it once; it fails with ErrMismatch.
func VerifyDigest(pub *rsa.PublicKey, digest, sig []byte) error {
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, sig) != nil {
		return ErrMismatch
	}
	return nil
}
