package wechatpay

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// minKeyBits is the smallest RSA key accepted; WeChat Pay's keys are 2048 bits.
const minKeyBits = 2048

// platformKey is a key WeChat Pay signs answers and notifications with. Keys taken from a
// platform certificate carry its validity period; a WeChat Pay public key has none.
type platformKey struct {
	pub                 *rsa.PublicKey
	notBefore, notAfter time.Time
}

// parsePrivateKey reads the merchant API key (apiclient_key.pem): PEM PKCS#8 or PKCS#1. Errors
// describe the structure only, never the key.
func parsePrivateKey(data []byte) (*rsa.PrivateKey, error) {
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
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("key is %T, want an RSA key", k)
		}
		key = rk
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("RSA PRIVATE KEY block is not PKCS#1")
		}
		key = k
	default:
		return nil, fmt.Errorf("PEM block is %q, want \"PRIVATE KEY\"", block.Type)
	}
	if bits := key.N.BitLen(); bits < minKeyBits {
		return nil, fmt.Errorf("RSA key has %d bits, at least %d are required", bits, minKeyBits)
	}
	return key, nil
}

// parsePublicKey reads the WeChat Pay public key (pub_key.pem): PEM PKIX or PKCS#1.
func parsePublicKey(data []byte) (*rsa.PublicKey, error) {
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
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("key is %T, want an RSA key", k)
		}
		pub = rk
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, errors.New("RSA PUBLIC KEY block is not PKCS#1")
		}
		pub = k
	default:
		return nil, fmt.Errorf("PEM block is %q, want \"PUBLIC KEY\"", block.Type)
	}
	if bits := pub.N.BitLen(); bits < minKeyBits {
		return nil, fmt.Errorf("RSA key has %d bits, at least %d are required", bits, minKeyBits)
	}
	return pub, nil
}

// parseCertificates reads one or more platform certificates (PEM); during a rotation WeChat Pay
// has two valid ones. Each is keyed by its serial number in upper-case hex, the value of
// Wechatpay-Serial.
func parseCertificates(data []byte) (map[string]platformKey, error) {
	out := map[string]platformKey{}
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block is %q, want \"CERTIFICATE\"", block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate does not parse: %v", err)
		}
		pub, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("certificate %X has a %T key, want RSA", cert.SerialNumber, cert.PublicKey)
		}
		if bits := pub.N.BitLen(); bits < minKeyBits {
			return nil, fmt.Errorf("certificate %X has a %d-bit key, at least %d are required", cert.SerialNumber, bits, minKeyBits)
		}
		out[normalSerial(cert.SerialNumber.Text(16))] = platformKey{pub: pub, notBefore: cert.NotBefore, notAfter: cert.NotAfter}
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block found")
	}
	return out, nil
}

// normalSerial is a certificate serial in the form used as a map key: upper case, without
// leading zeros (big.Int drops them, WeChat Pay may send them).
func normalSerial(s string) string {
	s = strings.TrimLeft(strings.ToUpper(s), "0")
	if s == "" {
		return "0"
	}
	return s
}
