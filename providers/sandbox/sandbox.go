// Package sandbox is the provider client for kubepay's sandbox gateway (package gateway): the
// embedded default provider the demo, the tests and the benchmarks run against.
//
// PaymentProvider spec.endpoint is the gateway's base URL. The credentials Secret has two keys:
//   - apiKey: the merchant API key, sent as "Authorization: Bearer <apiKey>";
//   - publicKey: the gateway's notification verification key, PEM "PUBLIC KEY" (PKIX) or
//     "RSA PUBLIC KEY" (PKCS#1), as served at GET /v1/public-key.
package sandbox

import (
	"crypto/rsa"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/internal/rsakeys"
)

// Type is the PaymentProvider spec.type served by this package.
const Type = "sandbox"

// Secret keys of the credentials Secret.
const (
	SecretAPIKey    = "apiKey"
	SecretPublicKey = "publicKey"
)

func init() {
	providers.Register(Type, New)
}

// Client is a sandbox merchant account; it implements providers.Provider.
type Client struct {
	namespace, name string
	endpoint        *url.URL
	apiKey          string
	// publicKey is parsed once here, so verifying a notification parses no key.
	publicKey *rsa.PublicKey
	http      *http.Client
	now       func() time.Time
}

var _ providers.Provider = (*Client)(nil)

// New builds a sandbox client from a PaymentProvider's spec and Secret. Missing or unparsable
// credentials are errors wrapping providers.ErrCredentials that name the key, never its value.
func New(cfg providers.Config) (providers.Provider, error) {
	if cfg.Endpoint == "" {
		return nil, fmt.Errorf("PaymentProvider %s/%s: sandbox provider needs spec.endpoint, the gateway base URL", cfg.Namespace, cfg.Name)
	}
	endpoint, err := url.Parse(strings.TrimRight(cfg.Endpoint, "/"))
	if err != nil || (endpoint.Scheme != "http" && endpoint.Scheme != "https") || endpoint.Host == "" {
		return nil, fmt.Errorf("PaymentProvider %s/%s: spec.endpoint %q is not an absolute http(s) URL", cfg.Namespace, cfg.Name, cfg.Endpoint)
	}
	rawKey, err := cfg.SecretValue(SecretAPIKey)
	if err != nil {
		return nil, err
	}
	// Secrets made with "echo" or editors often end in a newline; inner whitespace is an error.
	apiKey := strings.TrimSpace(string(rawKey))
	if apiKey == "" || strings.ContainsAny(apiKey, " \t\r\n") {
		return nil, fmt.Errorf("%w: PaymentProvider %s/%s: credentials Secret key %q is blank or contains whitespace", providers.ErrCredentials, cfg.Namespace, cfg.Name, SecretAPIKey)
	}
	rawPub, err := cfg.SecretValue(SecretPublicKey)
	if err != nil {
		return nil, err
	}
	pub, err := rsakeys.ParsePublicPEM(rawPub)
	if err != nil {
		return nil, cfg.InvalidSecret(SecretPublicKey, err)
	}
	return &Client{
		namespace: cfg.Namespace,
		name:      cfg.Name,
		endpoint:  endpoint,
		apiKey:    apiKey,
		publicKey: pub,
		http:      cfg.Client(),
		now:       cfg.Clock(),
	}, nil
}

// Type implements providers.Provider.
func (c *Client) Type() string { return Type }
