// Package serving builds the options of the manager's metrics server from its flags. It is apart
// from package metrics because the authentication filter brings in k8s.io/apiserver, which the
// controllers and the callback server (importers of package metrics) have no use for.
package serving

import (
	"crypto/tls"

	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// Flags are the metrics server's command-line settings.
type Flags struct {
	// BindAddress is host:port, or "0" for no metrics server.
	BindAddress string
	// Secure serves HTTPS and lets a request through only when its bearer token authenticates
	// (TokenReview) and is allowed "get" on the non-resource URL /metrics (SubjectAccessReview).
	Secure bool
	// CertDir holds tls.crt and tls.key, reloaded when they change; with none there, the server
	// makes a self-signed certificate at start.
	CertDir string
	// EnableHTTP2 allows HTTP/2, off by default: HTTP/2 rapid reset (CVE-2023-44487) and stream
	// exhaustion let one client tie up the server.
	EnableHTTP2 bool
}

// Options turns f into controller-runtime metrics server options. Secure serving always comes with
// the authentication and authorization filter: TLS without it would let anyone who reaches the port
// read the metrics, so the two are one switch.
func Options(f Flags) metricsserver.Options {
	o := metricsserver.Options{BindAddress: f.BindAddress, SecureServing: f.Secure, CertDir: f.CertDir}
	if !f.EnableHTTP2 {
		o.TLSOpts = append(o.TLSOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	if f.Secure {
		o.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return o
}
