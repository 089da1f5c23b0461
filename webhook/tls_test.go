package webhook_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	k8sevents "k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/kubepay/kubepay/internal/resolver"
	"github.com/kubepay/kubepay/internal/scheme"
	"github.com/kubepay/kubepay/internal/testenv"
	"github.com/kubepay/kubepay/webhook"
)

// testCert is a self-signed serving certificate for 127.0.0.1, PEM encoded.
type testCert struct {
	name            string // its subject CommonName, which the test reads back from the handshake
	cert            *x509.Certificate
	certPEM, keyPEM []byte
}

func newTestCert(t *testing.T, name string) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("creating certificate %s: %v", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return testCert{name: name, cert: cert,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})}
}

// certDir is a --notify-cert-dir the test can renew the way it happens in a cluster.
type certDir interface {
	init(t *testing.T, dir string, c testCert)
	renew(t *testing.T, dir string, c testCert)
}

// inPlace writes tls.crt and tls.key over the old files, one after the other, as a tool writing
// a host directory does (a reader may see the new certificate with the old key for a moment).
type inPlace struct{}

func (inPlace) init(t *testing.T, dir string, c testCert) { inPlace{}.renew(t, dir, c) }
func (inPlace) renew(t *testing.T, dir string, c testCert) {
	t.Helper()
	for name, data := range map[string][]byte{"tls.crt": c.certPEM, "tls.key": c.keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// secretVolume lays the files out as the kubelet mounts a Secret (cert-manager's Certificate):
// tls.crt -> ..data/tls.crt, ..data -> ..<version>/. An update writes a new version directory
// and swaps the ..data symlink atomically; the old directory is removed.
type secretVolume struct{}

func (secretVolume) init(t *testing.T, dir string, c testCert) {
	t.Helper()
	secretVolume{}.renew(t, dir, c)
	for _, name := range []string{"tls.crt", "tls.key"} {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func (secretVolume) renew(t *testing.T, dir string, c testCert) {
	t.Helper()
	version := "..v-" + c.name
	if err := os.Mkdir(filepath.Join(dir, version), 0o700); err != nil {
		t.Fatal(err)
	}
	inPlace{}.renew(t, filepath.Join(dir, version), c)
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	if err := os.Symlink(version, filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			t.Fatal(err)
		}
	}
}

// servedLeaf opens a new TLS connection (no session resumption: nothing is cached between
// calls) and returns the CommonName of the certificate the server presented.
func servedLeaf(addr string, roots *x509.CertPool) (string, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
	if err != nil {
		return "", err
	}
	defer func() { _ = conn.Close() }() // only the handshake was wanted
	return conn.ConnectionState().PeerCertificates[0].Subject.CommonName, nil
}

// TestRenewedCertificateServedWithoutRestart: the callback server serves a renewed certificate
// (cert-manager renews well before expiry) from the next TLS connection on, without a restart.
// Read once at start, the old certificate would be served until it expired and every provider's
// delivery failed its handshake.
func TestRenewedCertificateServedWithoutRestart(t *testing.T) {
	tests := []struct {
		name string
		dir  certDir
	}{
		{"files rewritten in place", inPlace{}},
		{"mounted Secret updated by swapping the ..data symlink", secretVolume{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := newTestCert(t, "callback-A"), newTestCert(t, "callback-B")
			roots := x509.NewCertPool()
			roots.AddCert(a.cert)
			roots.AddCert(b.cert)
			dir := t.TempDir()
			tt.dir.init(t, dir, a)

			// No API server needed: only the TLS layer is under test.
			c := fake.NewClientBuilder().WithScheme(scheme.New()).Build()
			base := startCallback(t, &webhook.Server{
				Addr: "127.0.0.1:0", CertDir: dir, Client: c, APIReader: c,
				Resolver: &resolver.Resolver{Reader: c}, Recorder: k8sevents.NewFakeRecorder(10),
				Log: logr.Discard(),
			})
			addr := strings.TrimPrefix(base, "https://")
			if got, err := servedLeaf(addr, roots); err != nil || got != a.name {
				t.Fatalf("first connection to %s: served %q (err %v), want %s", addr, got, err, a.name)
			}

			tt.dir.renew(t, dir, b)
			testenv.Eventually(t, 30*time.Second, func() (bool, string) {
				got, err := servedLeaf(addr, roots)
				return err == nil && got == b.name, fmt.Sprintf("new connections to %s are served %q (err %v), want renewed %s", addr, got, err, b.name)
			})
		})
	}
}
