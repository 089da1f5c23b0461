package rsakeys

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// ParsePublicPEM reads a public key from PEM whose block type names its encoding: "PUBLIC KEY"
// (PKIX) or "RSA PUBLIC KEY" (PKCS#1). Nothing else is accepted, not even bare base64.
func ParsePublicPEM(data []byte) (*rsa.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var pub *rsa.PublicKey
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, errors.New("PUBLIC KEY block is not PKIX")
		}
		if pub, err = asRSA[*rsa.PublicKey](k); err != nil {
			return nil, err
		}
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, errors.New("RSA PUBLIC KEY block is not PKCS#1")
		}
		pub = k
	default:
		return nil, fmt.Errorf("PEM block is %q, want \"PUBLIC KEY\"", block.Type)
	}
	if err := strongEnough(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// ParsePrivatePEM reads a private key from PEM whose block type names its encoding:
// "PRIVATE KEY" (PKCS#8) or "RSA PRIVATE KEY" (PKCS#1). Nothing else is accepted.
func ParsePrivatePEM(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var key *rsa.PrivateKey
	switch block.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("PRIVATE KEY block is not PKCS#8")
		}
		if key, err = asRSA[*rsa.PrivateKey](k); err != nil {
			return nil, err
		}
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("RSA PRIVATE KEY block is not PKCS#1")
		}
		key = k
	default:
		return nil, fmt.Errorf("PEM block is %q, want \"PRIVATE KEY\"", block.Type)
	}
	if err := strongEnough(&key.PublicKey); err != nil {
		return nil, err
	}
	return key, nil
}
