// Package stripe is the provider for Stripe Checkout: a PaymentOrder becomes a Checkout Session
// (mode payment, one line item) whose hosted page is the order's paymentURL, and Stripe's signed
// webhook events move the order.
//
// PaymentProvider spec.type is "stripe"; spec.endpoint optionally overrides the API base URL
// (default https://api.stripe.com, e.g. stripe-mock in tests). The credentials Secret has:
//   - apiKey: the secret key (sk_live_..., sk_test_...) or a restricted key (rk_...) allowed to
//     write Checkout Sessions;
//   - webhookSecret: the signing secret of the webhook endpoint (whsec_...);
//   - webhookSecretNext (optional): a second signing secret accepted as well while the endpoint's
//     secret is rolled, so no event is refused during the rotation.
//
// The webhook endpoint to register in the Stripe dashboard is
// <callbackBaseURL>/notify/<namespace>/<provider>, with the events checkout.session.completed,
// checkout.session.async_payment_succeeded, checkout.session.async_payment_failed,
// checkout.session.expired, refund.created, refund.updated and refund.failed (charge.refunded
// is understood too, but names a refund only on API versions that list charge.refunds). Stripe
// sends an account's events to every endpoint, so events about sessions and refunds this
// PaymentProvider did not create are acknowledged and ignored (see notification.go and
// notification_refund.go). The endpoint's secret and the API key must be of the same mode:
// events of the other mode are refused.
//
// Refunds are made on the session's PaymentIntent (the order's transaction id) with
// Idempotency-Key = out_refund_no and kubepay's metadata (refund.go).
//
// Each PaymentProvider gets its own stripe-go client and backend; the package-level stripe.Key is
// never set, so two accounts in one manager cannot mix.
package stripe

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v82"

	"github.com/kubepay/kubepay/providers"
)

// Type is the PaymentProvider spec.type served by this package.
const Type = "stripe"

// Secret keys of the credentials Secret.
const (
	SecretAPIKey            = "apiKey"
	SecretWebhookSecret     = "webhookSecret"
	SecretWebhookSecretNext = "webhookSecretNext"
)

func init() {
	providers.Register(Type, New)
}

// Client is one Stripe account as configured by a PaymentProvider; it implements
// providers.Provider.
type Client struct {
	namespace, name string
	// endpoint is the API base URL, for error messages.
	endpoint string
	api      *stripego.Client
	// webhookSecrets are tried in order: webhookSecret, then webhookSecretNext.
	webhookSecrets [][]byte
	now            func() time.Time
	// creates remembers this process's create requests, so a lost create answer can be
	// recovered with a byte-identical replay (see recall.go).
	creates *createMemory
	// refundIDs remembers the Stripe refund id of each out_refund_no this process saw.
	refundIDs *refundMemory
	// live is the mode of the API key: events and sessions of the other mode are refused.
	live keyMode
}

var _ providers.Provider = (*Client)(nil)

// New builds a Stripe client from a PaymentProvider's spec and Secret. Missing or unusable
// credentials are errors wrapping providers.ErrCredentials that name the key, never its value.
func New(cfg providers.Config) (providers.Provider, error) {
	endpoint, err := apiEndpoint(cfg)
	if err != nil {
		return nil, err
	}
	apiKey, err := secretKey(cfg)
	if err != nil {
		return nil, err
	}
	secrets, err := webhookSecrets(cfg)
	if err != nil {
		return nil, err
	}
	return &Client{
		namespace:      cfg.Namespace,
		name:           cfg.Name,
		endpoint:       endpoint,
		api:            newAPIClient(apiKey, endpoint, cfg.Client()),
		webhookSecrets: secrets,
		now:            cfg.Clock(),
		creates:        newCreateMemory(),
		refundIDs:      newRefundMemory(),
		live:           modeOf(apiKey),
	}, nil
}

// Type implements providers.Provider.
func (c *Client) Type() string { return Type }

// apiEndpoint is spec.endpoint, or Stripe's API when it is empty.
func apiEndpoint(cfg providers.Config) (string, error) {
	if cfg.Endpoint == "" {
		return stripego.APIURL, nil
	}
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("PaymentProvider %s/%s: spec.endpoint %q is not an absolute http(s) base URL", cfg.Namespace, cfg.Name, cfg.Endpoint)
	}
	return strings.TrimRight(cfg.Endpoint, "/"), nil
}

// secretKey reads apiKey. A publishable key (pk_) is the usual mistake: it cannot create
// sessions, so it is refused here rather than by the first payment.
func secretKey(cfg providers.Config) (string, error) {
	raw, err := cfg.SecretValue(SecretAPIKey)
	if err != nil {
		return "", err
	}
	// Secrets made with "echo" or editors often end in a newline; inner whitespace is an error.
	key := strings.TrimSpace(string(raw))
	switch {
	case key == "" || strings.ContainsAny(key, " \t\r\n"):
		return "", credentialsError(cfg, "credentials Secret key %q is blank or contains whitespace", SecretAPIKey)
	case strings.HasPrefix(key, "pk_"):
		return "", credentialsError(cfg, "credentials Secret key %q holds a publishable key (pk_...); kubepay needs the secret key (sk_...) or a restricted key (rk_...)", SecretAPIKey)
	case !strings.HasPrefix(key, "sk_") && !strings.HasPrefix(key, "rk_"):
		return "", credentialsError(cfg, "credentials Secret key %q is not a Stripe secret key (sk_...) or restricted key (rk_...)", SecretAPIKey)
	}
	return key, nil
}

// webhookSecrets reads webhookSecret and the optional webhookSecretNext. Any non-blank value is
// accepted: secrets are opaque HMAC keys, and Stripe's own test secrets have no whsec_ prefix.
func webhookSecrets(cfg providers.Config) ([][]byte, error) {
	raw, err := cfg.SecretValue(SecretWebhookSecret)
	if err != nil {
		return nil, err
	}
	current := strings.TrimSpace(string(raw))
	if current == "" {
		return nil, credentialsError(cfg, "credentials Secret key %q is blank", SecretWebhookSecret)
	}
	secrets := [][]byte{[]byte(current)}
	if next := strings.TrimSpace(string(cfg.Secret[SecretWebhookSecretNext])); next != "" && next != current {
		secrets = append(secrets, []byte(next))
	}
	return secrets, nil
}

// keyMode is whether an API key is a live or a test key, from its prefix.
type keyMode int

const (
	// modeUnknown: a key without Stripe's sk_live_/sk_test_ (rk_...) form, as some stripe-mock
	// setups use; nothing can be checked against it.
	modeUnknown keyMode = iota
	modeTest
	modeLive
)

func modeOf(apiKey string) keyMode {
	switch {
	case strings.HasPrefix(apiKey, "sk_live_"), strings.HasPrefix(apiKey, "rk_live_"):
		return modeLive
	case strings.HasPrefix(apiKey, "sk_test_"), strings.HasPrefix(apiKey, "rk_test_"):
		return modeTest
	}
	return modeUnknown
}

func (m keyMode) String() string {
	switch m {
	case modeLive:
		return "live"
	case modeTest:
		return "test"
	}
	return "unknown"
}

// matches reports whether an object's livemode is the key's mode (always, for an unknown mode).
func (m keyMode) matches(livemode bool) bool {
	return m == modeUnknown || (m == modeLive) == livemode
}

func credentialsError(cfg providers.Config, format string, a ...any) error {
	return fmt.Errorf("%w: PaymentProvider %s/%s: %s", providers.ErrCredentials, cfg.Namespace, cfg.Name, fmt.Sprintf(format, a...))
}
