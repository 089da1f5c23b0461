// Package alipay is the provider client for Alipay's OpenAPI (alipay.trade.*), implemented from
// Alipay's public protocol documentation with Go's crypto library: RSA2 request signing, signed
// payment URLs for the page and WAP checkouts, response and notification verification with the
// Alipay public key.
//
// PaymentProvider spec: appID (app_id, required), merchantID (seller_id, checked against
// notifications by the callback server), endpoint (the gateway URL; default
// https://openapi.alipay.com/gateway.do, sandbox https://openapi-sandbox.dl.alipaydev.com/gateway.do).
// The credentials Secret has two keys:
//   - appPrivateKey: the application's RSA private key, PEM (PKCS#1 or PKCS#8) or the bare base64
//     DER that Alipay's key tool prints;
//   - alipayPublicKey: the Alipay public key of the application, PEM or bare base64.
//
// Only public-key mode is supported, not certificate mode (app_cert_sn/alipay_root_cert_sn).
//
// Refunds use alipay.trade.refund (synchronous, keyed on out_request_no = the refund's number)
// and alipay.trade.fastpay.refund.query; Alipay reports them again in the trade's notifications
// (refund_fee, gmt_refund, out_biz_no), which become refund facts. Alipay has no refund id: a
// refund's ID is its out_request_no. Facts (no such trade, refused, refunded) are only ever read
// from answers whose sign verified.
package alipay

import (
	"crypto/rsa"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/internal/rsakeys"
)

// Type is the PaymentProvider spec.type served by this package.
const Type = "alipay"

// Secret keys of the credentials Secret.
const (
	SecretAppPrivateKey   = "appPrivateKey"
	SecretAlipayPublicKey = "alipayPublicKey"
)

// DefaultEndpoint is Alipay's production OpenAPI gateway.
const DefaultEndpoint = "https://openapi.alipay.com/gateway.do"

// chinaTime is the zone of every Alipay timestamp (timestamp, time_expire, gmt_payment). A fixed
// offset, not the tz database: China has no daylight saving time and the manager image may
// carry no zoneinfo.
var chinaTime = time.FixedZone("UTC+8", 8*60*60)

// timeLayout is Alipay's "yyyy-MM-dd HH:mm:ss".
const timeLayout = "2006-01-02 15:04:05"

func init() {
	providers.Register(Type, New)
}

// Client is one Alipay application; it implements providers.Provider.
type Client struct {
	namespace, name string
	endpoint        *url.URL
	appID, sellerID string
	// appKey and alipayKey are parsed once here, so no request or notification parses a key.
	appKey    *rsa.PrivateKey
	alipayKey *rsa.PublicKey
	http      *http.Client
	now       func() time.Time
}

var _ providers.Provider = (*Client)(nil)

// New builds an Alipay client from a PaymentProvider's spec and Secret. Missing or unparsable keys
// are errors wrapping providers.ErrCredentials that name the key, never its value.
func New(cfg providers.Config) (providers.Provider, error) {
	raw := cfg.Endpoint
	if raw == "" {
		raw = DefaultEndpoint
	}
	endpoint, err := url.Parse(raw)
	if err != nil || (endpoint.Scheme != "http" && endpoint.Scheme != "https") || endpoint.Host == "" || endpoint.RawQuery != "" {
		return nil, fmt.Errorf("PaymentProvider %s/%s: spec.endpoint %q is not an absolute http(s) gateway URL without a query", cfg.Namespace, cfg.Name, cfg.Endpoint)
	}
	if cfg.AppID == "" {
		return nil, fmt.Errorf("PaymentProvider %s/%s: alipay provider needs spec.appID, the Alipay app_id", cfg.Namespace, cfg.Name)
	}
	rawKey, err := cfg.SecretValue(SecretAppPrivateKey)
	if err != nil {
		return nil, err
	}
	appKey, err := rsakeys.ParsePrivate(rawKey)
	if err != nil {
		return nil, cfg.InvalidSecret(SecretAppPrivateKey, err)
	}
	rawPub, err := cfg.SecretValue(SecretAlipayPublicKey)
	if err != nil {
		return nil, err
	}
	alipayKey, err := rsakeys.ParsePublic(rawPub)
	if err != nil {
		return nil, cfg.InvalidSecret(SecretAlipayPublicKey, err)
	}
	return &Client{
		namespace: cfg.Namespace, name: cfg.Name,
		endpoint: endpoint, appID: cfg.AppID, sellerID: cfg.MerchantID,
		appKey: appKey, alipayKey: alipayKey,
		http: cfg.Client(), now: cfg.Clock(),
	}, nil
}

// Type implements providers.Provider.
func (c *Client) Type() string { return Type }

// commonParams are the signed parameters every OpenAPI request carries.
func (c *Client) commonParams(method string) map[string]string {
	return map[string]string{
		"app_id":    c.appID,
		"method":    method,
		"format":    "JSON",
		"charset":   "utf-8",
		"sign_type": "RSA2",
		"timestamp": c.now().In(chinaTime).Format(timeLayout),
		"version":   "1.0",
	}
}

// signed adds the RSA2 sign to params and returns them as url.Values.
func (c *Client) signed(params map[string]string) (url.Values, error) {
	sign, err := rsakeys.Sign(c.appKey, signContent(params, ruleRequest))
	if err != nil {
		return nil, fmt.Errorf("signing with the appPrivateKey of PaymentProvider %s/%s: %w", c.namespace, c.name, err)
	}
	v := make(url.Values, len(params)+1)
	for k, val := range params {
		if val != "" {
			v.Set(k, val)
		}
	}
	v.Set("sign", sign)
	return v, nil
}
