package wechatpay_test

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers/internal/fakekeys"
)

// platformCertSerial is the serial of the test platform certificate, as Wechatpay-Serial sends it.
const platformCertSerial = "3A1B2C3D4E5F60718293A4B5C6D7E8F901234567"

// selfSignedPEM is a platform certificate for the gateway's platform key, valid around fixedNow.
func selfSignedPEM(t testing.TB) []byte {
	t.Helper()
	serial, _ := new(big.Int).SetString(platformCertSerial, 16)
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "Tenpay.com Root CA test"},
		NotBefore: fixedNow.Add(-24 * time.Hour), NotAfter: fixedNow.Add(365 * 24 * time.Hour),
	}
	key := fakekeys.Key("platform")
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
