package stripe

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kubepay/kubepay/providers"
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

const (
	// maxHeaderLen and maxSignatures bound the work an unauthenticated sender can cause; Stripe
	// sends one v1 per active secret (two while one is rolled).
	maxHeaderLen  = 4096
	maxSignatures = 8
	// maxTimestampDigits keeps t within int64.
	maxTimestampDigits = 18
)

// signature is a parsed Stripe-Signature header.
type signature struct {
	// ts is t as sent: the signed bytes start with it.
	ts string
	t  int64
	v1 [][]byte
}

func signatureError(format string, a ...any) error {
	return fmt.Errorf("%w: Stripe webhook: %s", providers.ErrSignature, fmt.Sprintf(format, a...))
}

// parseSignature parses the header. Elements that are not key=value, a repeated or non-canonical
// t (leading zeros, signs: Stripe never sends them, and a canonical t signs the same bytes as
// Stripe's libraries compute), or no v1 at all are refused; v1 values that are not 32 bytes of
// hex can never match and are skipped.
func parseSignature(h string) (signature, error) {
	var s signature
	if h == "" {
		return s, signatureError("missing %s header", SignatureHeader)
	}
	if len(h) > maxHeaderLen {
		return s, signatureError("%s header is longer than %d bytes", SignatureHeader, maxHeaderLen)
	}
	haveT, v1Seen := false, 0
	for part := range strings.SplitSeq(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k == "" {
			return s, signatureError("%s header element %q is not key=value", SignatureHeader, truncate(part, 32))
		}
		switch k {
		case "t":
			if haveT {
				return s, signatureError("%s header has more than one t", SignatureHeader)
			}
			haveT = true
			t, err := strconv.ParseInt(v, 10, 64)
			if err != nil || len(v) > maxTimestampDigits || t < 0 || strconv.FormatInt(t, 10) != v {
				return s, signatureError("%s header t %q is not a unix time in seconds", SignatureHeader, truncate(v, 32))
			}
			s.ts, s.t = v, t
		case "v1":
			if v1Seen++; v1Seen > maxSignatures {
				return s, signatureError("%s header has more than %d v1 signatures", SignatureHeader, maxSignatures)
			}
			if sig, err := hex.DecodeString(v); err == nil && len(sig) == sha256.Size {
				s.v1 = append(s.v1, sig)
			}
		}
	}
	if !haveT {
		return s, signatureError("%s header has no t", SignatureHeader)
	}
	if len(s.v1) == 0 {
		return s, signatureError("%s header has no v1 signature (32 bytes of hex)", SignatureHeader)
	}
	return s, nil
}

// verify checks the request's signature over the raw body: header syntax, the timestamp window,
// then HMAC-SHA256 with webhookSecret and, during a rotation, webhookSecretNext.
func (c *Client) verify(r *http.Request, body []byte) error {
	var h string
	if r != nil {
		h = r.Header.Get(SignatureHeader)
	}
	s, err := parseSignature(h)
	if err != nil {
		return err
	}
	now := c.now().Unix()
	window := int64(Tolerance / time.Second)
	if skew := now - s.t; skew > window || skew < -window {
		return signatureError("signed at %d, %ds away from now (%d), beyond the %v tolerance", s.t, skew, now, Tolerance)
	}
	for _, secret := range c.webhookSecrets {
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(s.ts))
		mac.Write([]byte{'.'})
		mac.Write(body)
		expected := mac.Sum(nil)
		for _, sig := range s.v1 {
			if hmac.Equal(expected, sig) {
				return nil
			}
		}
	}
	return signatureError("no v1 signature matches the webhook secrets of PaymentProvider %s/%s", c.namespace, c.name)
}
