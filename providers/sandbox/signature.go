package sandbox

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"time"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/internal/rsakeys"
	"github.com/kubepay/kubepay/providers/internal/sigheader"
)

// SignatureHeader carries a notification's signature: "t=<unix seconds>,v1=<base64>".
const SignatureHeader = "Sandbox-Signature"

// Tolerance is how far a notification's signing time may be from now, in either direction.
// Beyond it a captured notification could be replayed; a receiver whose clock is ahead could
// otherwise accept notifications "from the future" for longer than the window.
const Tolerance = 300 * time.Second

// signatureRules are the sandbox's acceptance rules for the header: every element is key=value
// with a value, t is decimal digits, and every v1 must be standard base64 (the gateway never
// sends anything else). Unknown keys are ignored, so the gateway may add schemes.
var signatureRules = sigheader.Rules{
	Name: SignatureHeader,
	// MaxLen and MaxV1 bound the work an unauthenticated sender can cause.
	MaxLen: 4096,
	MaxV1:  4,
	V1: func(v string) ([]byte, bool) {
		sig, err := base64.StdEncoding.Strict().DecodeString(v)
		return sig, err == nil
	},
	V1Form: "standard base64",
}

func signatureError(format string, a ...any) error {
	return fmt.Errorf("%w: sandbox notification: %s", providers.ErrSignature, fmt.Sprintf(format, a...))
}

// verify checks the request's signature over the raw body: header syntax, the timestamp window,
// then RSA PKCS#1 v1.5 SHA-256 over "<t>.<body>" with the gateway's public key.
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
	if skew := now - s.T; skew > int64(Tolerance/time.Second) || skew < -int64(Tolerance/time.Second) {
		return signatureError("signed at %d, %ds away from now (%d), beyond the %v tolerance", s.T, skew, now, Tolerance)
	}
	hash := sha256.New()
	hash.Write([]byte(s.TS))
	hash.Write([]byte{'.'})
	hash.Write(body)
	digest := hash.Sum(nil)
	for _, sig := range s.V1 {
		if rsakeys.VerifyDigest(c.publicKey, digest, sig) == nil {
			return nil
		}
	}
	return signatureError("no v1 signature verifies with the gateway public key of PaymentProvider %s/%s", c.namespace, c.name)
}
