package rsakeys

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

// ParsePublic reads a public key as Alipay's tools hand it out: PEM ("PUBLIC KEY" or
// "RSA PUBLIC KEY") or the bare base64 DER shown in its console. The DER may be PKIX or PKCS#1
// whatever the PEM block says, since merchants relabel blocks by hand.
func ParsePublic(data []byte) (*rsa.PublicKey, error) {
	der, err := derOf(data, "PUBLIC KEY", "RSA PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	var pub *rsa.PublicKey
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		if pub, err = asRSA[*rsa.PublicKey](k); err != nil {
			return nil, err
		}
	} else if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
		pub = k
	} else {
		return nil, errors.New("key is neither a PKIX nor a PKCS#1 RSA public key")
	}
	if err := strongEnough(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// ParsePrivate reads a private key as Alipay's key tool prints it: PEM ("RSA PRIVATE KEY" or
// "PRIVATE KEY") or bare base64 DER, PKCS#8 or PKCS#1 whatever the block says.
func ParsePrivate(data []byte) (*rsa.PrivateKey, error) {
	der, err := derOf(data, "RSA PRIVATE KEY", "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	var key *rsa.PrivateKey
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		if key, err = asRSA[*rsa.PrivateKey](k); err != nil {
			return nil, err
		}
	} else if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		key = k
	} else {
		return nil, errors.New("key is neither a PKCS#8 nor a PKCS#1 RSA private key")
	}
	if err := strongEnough(&key.PublicKey); err != nil {
		return nil, err
	}
	return key, nil
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
