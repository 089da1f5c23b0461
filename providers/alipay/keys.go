package alipay

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// minKeyBits is the smallest RSA key accepted: Alipay's RSA2 keys are 2048 bits and weaker keys
// are forgeable.
const minKeyBits = 2048

// parsePrivateKey reads the merchant's application private key: PEM (PKCS#1 "RSA PRIVATE KEY" or
// PKCS#8 "PRIVATE KEY"), or the bare base64 DER that Alipay's key tool prints. Its errors describe
// the structure only, never the key, since they end up in conditions.
func parsePrivateKey(data []byte) (*rsa.PrivateKey, error) {
	der, err := derOf(data, "RSA PRIVATE KEY", "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	var key *rsa.PrivateKey
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("key is %T, want an RSA key", k)
		}
		key = rk
	} else if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		key = k
	} else {
		return nil, errors.New("key is neither a PKCS#8 nor a PKCS#1 RSA private key")
	}
	if bits := key.N.BitLen(); bits < minKeyBits {
		return nil, fmt.Errorf("RSA key has %d bits, at least %d are required", bits, minKeyBits)
	}
	return key, nil
}

// parsePublicKey reads the Alipay public key: PEM ("PUBLIC KEY" PKIX or "RSA PUBLIC KEY"
// PKCS#1), or the bare base64 PKIX DER shown in Alipay's console.
func parsePublicKey(data []byte) (*rsa.PublicKey, error) {
	der, err := derOf(data, "PUBLIC KEY", "RSA PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	var pub *rsa.PublicKey
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("key is %T, want an RSA key", k)
		}
		pub = rk
	} else if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
		pub = k
	} else {
		return nil, errors.New("key is neither a PKIX nor a PKCS#1 RSA public key")
	}
	if bits := pub.N.BitLen(); bits < minKeyBits {
		return nil, fmt.Errorf("RSA key has %d bits, at least %d are required", bits, minKeyBits)
	}
	return pub, nil
}

// derOf returns the DER inside a PEM block of one of the given types, or decodes bare base64
// (line breaks and spaces, as left by copying from a console, are ignored).
func derOf(data []byte, types ...string) ([]byte, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, errors.New("key is empty")
	}
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN")) {
		block, _ := pem.Decode(trimmed)
		if block == nil {
			return nil, errors.New("PEM block does not decode")
		}
		if !slices.Contains(types, block.Type) {
			return nil, fmt.Errorf("PEM block is %q, want one of %q", block.Type, types)
		}
		return block.Bytes, nil
	}
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(trimmed)), ""))
	if err != nil {
		return nil, errors.New("key is neither PEM nor base64 DER")
	}
	return der, nil
}
