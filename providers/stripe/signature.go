package stripe

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/internal/sigheader"
)

// SignatureHeader carries a webhook's signatures: "t=<unix seconds>,v1=<hex>[,v1=<hex>][,v0=...]".
const SignatureHeader = "Stripe-Signature"

// Tolerance is how far an event's signing time may be from now, in either direction: Stripe's
// documented replay window. Stripe's libraries check only the past; a timestamp from the future
// is refused too, so a receiver whose clock is behind does not widen the window.
const Tolerance = 300 * time.Second

// The signature is checked here rather than with stripe-go's webhook.ConstructEvent because that
// reads the wall clock (time.Since), and kubepay's clock must be injectable to test the window.
// The check is Stripe's documented one: HMAC-SHA256 keyed with the endpoint secret over
// "<t>.<raw body>", compared in constant time with every v1 signature; v0 and unknown schemes
// are ignored.

// signatureRules are Stripe's acceptance rules for the header. Elements that are not key=value,
// a repeated or non-canonical t (leading zeros, signs: Stripe never sends them, and a canonical
// t signs the same bytes as Stripe's libraries compute), or no usable v1 at all are refused; v1
// values that are not 32 bytes of hex can never match and are skipped.
var signatureRules = sigheader.Rules{
	Name: SignatureHeader,
	// MaxLen and MaxV1 bound the work an unauthenticated sender can cause; Stripe sends one v1
	// per active secret (two while one is rolled).
	MaxLen:      4096,
	MaxV1:       8,
	EmptyValues: true,
	CanonicalT:  true,
	V1: func(v string) ([]byte, bool) {
		sig, err := hex.DecodeString(v)
		return sig, err == nil && len(sig) == sha256.Size
	},
	SkipBadV1: true,
	V1Form:    "32 bytes of hex",
}

func signatureError(format string, a ...any) error {
	return fmt.Errorf("%w: Stripe webhook: %s", providers.ErrSignature, fmt.Sprintf(format, a...))
}

// verify checks the request's signature over the raw body: header syntax, the timestamp window,
// then HMAC-SHA256 with webhookSecret and, during a rotation, webhookSecretNext.
func (c *Client) verify(r *http.Request, body []byte) error {
	var h string
	if r != nil {
		h = r.Header.Get(SignatureHeader)
	}
	s, err := signatureRules.Parse(h)
	if err != nil {
		return signatureError("%v", err)
	}
	now := c.now().Unix()
	window := int64(Tolerance / time.Second)
	if skew := now - s.T; skew > window || skew < -window {
		return signatureError("signed at %d, %ds away from now (%d), beyond the %v tolerance", s.T, skew, now, Tolerance)
	}
	for _, secret := range c.webhookSecrets {
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(s.TS))
		mac.Write([]byte{'.'})
		mac.Write(body)
		expected := mac.Sum(nil)
		for _, sig := range s.V1 {
			if hmac.Equal(expected, sig) {
				return nil
			}
		}
	}
	return signatureError("no v1 signature matches the webhook secrets of PaymentProvider %s/%s", c.namespace, c.name)
}
