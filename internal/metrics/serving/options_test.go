package serving_test

import (
	"crypto/tls"
	"slices"
	"testing"

	"github.com/kubepay/kubepay/internal/metrics/serving"
)

// TestOptions checks how the flags map onto controller-runtime's metrics server options, without a
// server: the filter comes exactly with secure serving, and HTTP/2 only when asked for.
func TestOptions(t *testing.T) {
	cases := []struct {
		name       string
		flags      serving.Flags
		wantFilter bool
		wantProtos []string // NextProtos after TLSOpts; nil when the options leave them alone
		reason     string
	}{
		{"secure", serving.Flags{BindAddress: ":8443", Secure: true, CertDir: "/certs"}, true, []string{"http/1.1"},
			"--metrics-secure must bring the authn/authz filter: TLS alone would serve anyone who reaches the port"},
		{"plain", serving.Flags{BindAddress: ":8080"}, false, []string{"http/1.1"},
			"plain HTTP (local runs, the demo) has no TokenReview to call, so no filter"},
		{"secure with HTTP/2", serving.Flags{BindAddress: ":8443", Secure: true, EnableHTTP2: true}, true, nil,
			"--enable-http2 leaves controller-runtime's protocols as they are"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := serving.Options(tc.flags)
			if o.BindAddress != tc.flags.BindAddress || o.SecureServing != tc.flags.Secure || o.CertDir != tc.flags.CertDir {
				t.Errorf("%s: options %+v do not carry the flags %+v", tc.reason, o, tc.flags)
			}
			if got := o.FilterProvider != nil; got != tc.wantFilter {
				t.Errorf("%s: filter set = %v, want %v", tc.reason, got, tc.wantFilter)
			}
			cfg := &tls.Config{}
			for _, opt := range o.TLSOpts {
				opt(cfg)
			}
			if !slices.Equal(cfg.NextProtos, tc.wantProtos) {
				t.Errorf("%s: NextProtos %v, want %v", tc.reason, cfg.NextProtos, tc.wantProtos)
			}
		})
	}
}
