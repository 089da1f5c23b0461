package webhook

import (
	"context"
	"crypto/tls"
	"fmt"
	"path/filepath"

	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
)

// watchCertificate loads CertDir's tls.crt and tls.key and keeps them current for as long as ctx
// lives, returning the TLS configuration that serves whatever was loaded last.
//
// Certificates are renewed while the server runs (cert-manager renews at two thirds of the
// lifetime and the kubelet swaps the mounted Secret's files). Read once, the old certificate would
// be served until it expired, and from then on every provider's delivery would fail its handshake
// until someone restarted the pod. controller-runtime's certwatcher re-reads on file events
// (including the kubelet's symlink swap, which it sees as a removal and re-watches) and polls every
// 10 s as a fallback. A pair that does not load (the certificate already rewritten, the key not
// yet) is logged and the previous pair kept, so a renewal never interrupts serving.
//
// The first load must succeed: without a certificate there is nothing to serve.
func (s *Server) watchCertificate(ctx context.Context) (*tls.Config, error) {
	crt, key := filepath.Join(s.CertDir, "tls.crt"), filepath.Join(s.CertDir, "tls.key")
	w, err := certwatcher.New(crt, key)
	if err != nil {
		return nil, fmt.Errorf("callback server: loading TLS key pair %s, %s: %w", crt, key, err)
	}
	go func() {
		// Start returns when ctx ends, or early when the files cannot be watched at all; the
		// loaded certificate is still served then, and the error says renewals will not be seen.
		if err := w.Start(ctx); err != nil {
			s.Log.Error(err, "callback server: watching the TLS certificate failed; a renewed certificate will not be served until restart", "certDir", s.CertDir)
		}
	}()
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: w.GetCertificate,
		// HTTP/1.1 only, as on the metrics server: notifications are single small requests, and
		// HTTP/2 would add the rapid-reset surface (CVE-2023-44487) for nothing.
		NextProtos: []string{"http/1.1"},
	}, nil
}
