// Package gatewaytest runs the sandbox gateway in tests of any package: a real HTTP server on a
// loopback port, closed when the test ends.
package gatewaytest

import (
	"crypto/rand"
	"crypto/rsa"
	"net"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers/sandbox/gateway"
)

// APIKey is the API key of gateways started without Options.APIKeys.
const APIKey = "sk_test_gatewaytest"

var (
	keyOnce sync.Once
	key     *rsa.PrivateKey
)

// SigningKey returns the process-wide test signing key, generated once (2048-bit generation is
// slow enough to matter across many tests). Gateways started by StartTest without a SigningKey
// or StateFile sign with it, so tests can also craft notifications a client accepts.
func SigningKey() *rsa.PrivateKey {
	keyOnce.Do(func() {
		var err error
		if key, err = rsa.GenerateKey(rand.Reader, gateway.MinKeyBits); err != nil {
			panic("gatewaytest: generate signing key: " + err.Error())
		}
	})
	return key
}

// StartTest starts a gateway on a loopback httptest server, with PublicBaseURL set to the
// server's URL, and closes both when the test ends (server first, so no request races Close).
// Defaults: APIKeys [APIKey]; SigningKey is SigningKey() unless opts.StateFile is set, in which
// case the key comes from the state file or is generated, exactly as in production.
func StartTest(t testing.TB, opts gateway.Options) (*gateway.Gateway, *httptest.Server) {
	t.Helper()
	if len(opts.APIKeys) == 0 {
		opts.APIKeys = []string{APIKey}
	}
	if opts.SigningKey == nil && opts.StateFile == "" {
		opts.SigningKey = SigningKey()
	}
	// The gateway needs its URL before the server can serve it: listen first.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("gatewaytest: listen on loopback: %v", err)
	}
	srv := httptest.NewUnstartedServer(nil)
	_ = srv.Listener.Close() // replaced by l before anything could connect to it
	srv.Listener = l
	opts.PublicBaseURL = "http://" + l.Addr().String()
	g, err := gateway.New(opts)
	if err != nil {
		_ = l.Close()
		t.Fatalf("gatewaytest: start sandbox gateway: %v", err)
	}
	srv.Config.Handler = g.Handler()
	srv.Start()
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Errorf("gatewaytest: close sandbox gateway: %v", err)
		}
	})
	t.Cleanup(srv.Close)
	return g, srv
}

// Secret returns the data of a sandbox PaymentProvider credentials Secret for g.
func Secret(g *gateway.Gateway, apiKey string) map[string][]byte {
	return map[string][]byte{"apiKey": []byte(apiKey), "publicKey": g.PublicKeyPEM()}
}

// WaitStats polls g's stats until cond holds and returns them; the test fails with the last
// stats seen when timeout passes first. Tests synchronise with the gateway's background
// deliveries this way instead of sleeping.
func WaitStats(t testing.TB, g *gateway.Gateway, timeout time.Duration, cond func(gateway.Stats) bool) gateway.Stats {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := g.Stats()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("gatewaytest: condition not met within %v; last stats: %+v", timeout, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
