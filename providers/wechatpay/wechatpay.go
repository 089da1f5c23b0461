// Package wechatpay is the provider client for WeChat Pay API v3 (direct merchants), implemented
// from WeChat Pay's public protocol documentation with Go's crypto library: SHA256withRSA request
// signing, verification of signed answers and notifications with the platform public key or
// platform certificate, and AES-GCM decryption of notification resources with the APIv3 key.
//
// PaymentProvider spec: appID (appid, required), merchantID (mchid, required), endpoint (API base
// URL, default https://api.mch.weixin.qq.com). The credentials Secret has these keys:
//   - merchantPrivateKey: the merchant API private key (apiclient_key.pem), PEM;
//   - merchantCertSerial: the serial number of the merchant API certificate;
//   - apiV3Key: the 32-byte APIv3 key;
//   - platformPublicKey (PEM) with platformPublicKeyID (PUB_KEY_ID_...), and/or
//     platformCertificate (PEM, one or more certificates; each one's serial is its key id).
//
// Channels: wechat_native (code_url) and wechat_h5 (h5_url; needs the payer's IP in
// Order.PayerClientIP). Refunds use POST /v3/refund/domestic/refunds (keyed on out_refund_no)
// and GET /v3/refund/domestic/refunds/{out_refund_no}; their results also come as REFUND.*
// notifications, which become refund facts. Facts (no such order, refused, refunded) are only
// ever read from answers whose signature verified.
package wechatpay

import (
	"crypto/cipher"
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
const Type = "wechatpay"

// Secret keys of the credentials Secret.
const (
	SecretMerchantPrivateKey  = "merchantPrivateKey"
	SecretMerchantCertSerial  = "merchantCertSerial"
	SecretAPIv3Key            = "apiV3Key"
	SecretPlatformPublicKey   = "platformPublicKey"
	SecretPlatformPublicKeyID = "platformPublicKeyID"
	SecretPlatformCertificate = "platformCertificate"
)

// DefaultEndpoint is WeChat Pay's API v3 domain.
const DefaultEndpoint = "https://api.mch.weixin.qq.com"

// apiV3KeySize is the length of a real APIv3 key.
const apiV3KeySize = 32

// chinaTime is the offset of WeChat Pay's RFC 3339 times (time_expire); China has no DST.
var chinaTime = time.FixedZone("UTC+8", 8*60*60)

func init() {
	providers.Register(Type, New)
}

// Client is one WeChat Pay merchant account; it implements providers.Provider.
type Client struct {
	namespace, name string
	endpoint        *url.URL
	appID, mchID    string
	// Keys are parsed, and the AES-GCM cipher built, once here: no request or notification
	// parses a key.
	merchantKey    *rsa.PrivateKey
	merchantSerial string
	aead           cipher.AEAD
	platformKeys   map[string]platformKey
	// publicKeyID, when a WeChat Pay public key is configured, is sent as Wechatpay-Serial so
	// that WeChat Pay signs its answers with that key.
	publicKeyID string
	http        *http.Client
	now         func() time.Time
}

var _ providers.Provider = (*Client)(nil)

// New builds a WeChat Pay client from a PaymentProvider's spec and Secret. Missing or unparsable
// credentials are errors wrapping providers.ErrCredentials that name the key, never its value.
func New(cfg providers.Config) (providers.Provider, error) {
	c, err := newClient(cfg, apiV3KeySize)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// newClient is New with the APIv3 key lengths it accepts; only tests of the SDK's 16-byte test
// vector pass another length.
func newClient(cfg providers.Config, apiV3KeySizes ...int) (*Client, error) {
	raw := cfg.Endpoint
	if raw == "" {
		raw = DefaultEndpoint
	}
	endpoint, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || (endpoint.Scheme != "http" && endpoint.Scheme != "https") || endpoint.Host == "" || endpoint.RawQuery != "" {
		return nil, fmt.Errorf("PaymentProvider %s/%s: spec.endpoint %q is not an absolute http(s) URL without a query", cfg.Namespace, cfg.Name, cfg.Endpoint)
	}
	if cfg.AppID == "" || cfg.MerchantID == "" {
		return nil, fmt.Errorf("PaymentProvider %s/%s: wechatpay provider needs spec.appID (appid) and spec.merchantID (mchid)", cfg.Namespace, cfg.Name)
	}
	c := &Client{
		namespace: cfg.Namespace, name: cfg.Name, endpoint: endpoint, appID: cfg.AppID, mchID: cfg.MerchantID,
		platformKeys: map[string]platformKey{}, http: cfg.Client(), now: cfg.Clock(),
	}
	rawKey, err := cfg.SecretValue(SecretMerchantPrivateKey)
	if err != nil {
		return nil, err
	}
	if c.merchantKey, err = rsakeys.ParsePrivatePEM(rawKey); err != nil {
		return nil, cfg.InvalidSecret(SecretMerchantPrivateKey, err)
	}
	serial, err := cfg.SecretValue(SecretMerchantCertSerial)
	if err != nil {
		return nil, err
	}
	// Secrets made with echo end in a newline; inner whitespace or quotes would break the header.
	if c.merchantSerial = strings.TrimSpace(string(serial)); !token(c.merchantSerial) {
		return nil, cfg.InvalidSecret(SecretMerchantCertSerial, fmt.Errorf("not a certificate serial number"))
	}
	v3, err := cfg.SecretValue(SecretAPIv3Key)
	if err != nil {
		return nil, err
	}
	v3 = []byte(strings.TrimSpace(string(v3)))
	if !sizeIn(len(v3), apiV3KeySizes) {
		return nil, cfg.InvalidSecret(SecretAPIv3Key, fmt.Errorf("key has %d bytes, want %d", len(v3), apiV3KeySize))
	}
	if c.aead, err = newAEAD(v3); err != nil {
		return nil, cfg.InvalidSecret(SecretAPIv3Key, err)
	}
	if err := c.loadPlatformKeys(cfg); err != nil {
		return nil, err
	}
	return c, nil
}

// loadPlatformKeys reads the WeChat Pay public key and/or platform certificates; at least one.
func (c *Client) loadPlatformKeys(cfg providers.Config) error {
	if data := cfg.Secret[SecretPlatformPublicKey]; len(data) > 0 {
		pub, err := rsakeys.ParsePublicPEM(data)
		if err != nil {
			return cfg.InvalidSecret(SecretPlatformPublicKey, err)
		}
		id, err := cfg.SecretValue(SecretPlatformPublicKeyID)
		if err != nil {
			return err
		}
		if c.publicKeyID = strings.TrimSpace(string(id)); !token(c.publicKeyID) {
			return cfg.InvalidSecret(SecretPlatformPublicKeyID, fmt.Errorf("not a public key id"))
		}
		c.platformKeys[c.publicKeyID] = platformKey{pub: pub}
	}
	if data := cfg.Secret[SecretPlatformCertificate]; len(data) > 0 {
		certs, err := parseCertificates(data)
		if err != nil {
			return cfg.InvalidSecret(SecretPlatformCertificate, err)
		}
		for serial, k := range certs {
			c.platformKeys[serial] = k
		}
	}
	if len(c.platformKeys) == 0 {
		return fmt.Errorf("%w: PaymentProvider %s/%s: credentials Secret has neither %q (with %q) nor %q", providers.ErrCredentials, cfg.Namespace, cfg.Name, SecretPlatformPublicKey, SecretPlatformPublicKeyID, SecretPlatformCertificate)
	}
	return nil
}

// Type implements providers.Provider.
func (c *Client) Type() string { return Type }

// token reports whether s is a plain header-safe identifier (letters, digits, _ and -).
func token(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-') {
			return false
		}
	}
	return true
}

func sizeIn(n int, sizes []int) bool {
	for _, s := range sizes {
		if n == s {
			return true
		}
	}
	return false
}
