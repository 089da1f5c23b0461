package wechatpay

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kubepay/kubepay/providers/internal/rsakeys"
)

// platformKey is a key WeChat Pay signs answers and notifications with. Keys taken from a
// platform certificate carry its validity period; a WeChat Pay public key has none.
type platformKey struct {
	pub                 *rsa.PublicKey
	notBefore, notAfter time.Time
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
			return nil, fmt.Errorf("certificate does not parse: %w", err)
		}
		pub, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("certificate %X has a %T key, want RSA", cert.SerialNumber, cert.PublicKey)
		}
		if bits := pub.N.BitLen(); bits < rsakeys.MinBits {
			return nil, fmt.Errorf("certificate %X has a %d-bit key, at least %d are required", cert.SerialNumber, bits, rsakeys.MinBits)
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
