package gateway

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// SignatureHeader carries a notification's signature: "t=<unix seconds>,v1=<base64>".
const SignatureHeader = "Sandbox-Signature"

// SignPayload returns the Sandbox-Signature header value for body sent at t: v1 is the RSA
// PKCS#1 v1.5 SHA-256 signature of "<t>.<body>", base64 (standard, padded). Binding t into the
// signed bytes lets receivers reject replays outside their tolerance window.
//
// It is exported for tests that craft notifications. It panics if key cannot sign (nil, or below
// the 1024 bits crypto/rsa accepts), which is a programming error in the caller.
func SignPayload(key *rsa.PrivateKey, t time.Time, body []byte) string {
	v, err := signPayload(key, t, body)
	if err != nil {
		panic("gateway.SignPayload: " + err.Error())
	}
	return v
}

func signPayload(key *rsa.PrivateKey, t time.Time, body []byte) (string, error) {
	if key == nil {
		return "", errors.New("no signing key")
	}
	ts := strconv.FormatInt(t.Unix(), 10)
	h := sha256.New()
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	// PKCS#1 v1.5 signing is deterministic, so no randomness source is needed.
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, h.Sum(nil))
	if err != nil {
		return "", fmt.Errorf("sign notification: %w", err)
	}
	return "t=" + ts + ",v1=" + base64.StdEncoding.EncodeToString(sig), nil
}

// ParsePrivateKeyPEM parses an RSA private key from a PEM "RSA PRIVATE KEY" (PKCS#1) or
// "PRIVATE KEY" (PKCS#8) block.
func ParsePrivateKeyPEM(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse PKCS#1 private key: %w", err)
		}
		return key, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse PKCS#8 private key: %w", err)
		}
		key, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("PKCS#8 key is a %T, not an RSA key", k)
		}
		return key, nil
	default:
		return nil, fmt.Errorf("PEM block is %q, want \"RSA PRIVATE KEY\" or \"PRIVATE KEY\"", block.Type)
	}
}

func privateKeyPEM(key *rsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode signing key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func publicKeyPEM(key *rsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}
