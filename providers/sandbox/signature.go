package sandbox

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kubepay/kubepay/providers"
)

// SignatureHeader carries a notification's signature: "t=<unix seconds>,v1=<base64>".
const SignatureHeader = "Sandbox-Signature"

// Tolerance is how far a notification's signing time may be from now, in either direction.
// Beyond it a captured notification could be replayed; a receiver whose clock is ahead could
// otherwise accept notifications "from the future" for longer than the window.
const Tolerance = 300 * time.Second

const (
	// maxHeaderLen and maxSignatures bound the work an unauthenticated sender can cause.
	maxHeaderLen  = 4096
	maxSignatures = 4
	// maxTimestampDigits keeps t within int64.
	maxTimestampDigits = 18
)

// signature is a parsed Sandbox-Signature header.
type signature struct {
	// ts is t exactly as sent: it is part of the signed bytes.
	ts string
	t  int64
	// v1 are the candidate signatures; more than one lets the gateway roll its key.
	v1 [][]byte
}

func signatureError(format string, a ...any) error {
	return fmt.Errorf("%w: sandbox notification: %s", providers.ErrSignature, fmt.Sprintf(format, a...))
}

// parseSignature parses "t=<digits>,v1=<base64>[,v1=...]". Unknown keys are ignored, so the
// gateway may add schemes; anything else malformed is rejected.
func parseSignature(h string) (signature, error) {
	var s signature
	if h == "" {
		return s, signatureError("missing %s header", SignatureHeader)
	}
	if len(h) > maxHeaderLen {
		return s, signatureError("%s header is longer than %d bytes", SignatureHeader, maxHeaderLen)
	}
	haveT := false
	for part := range strings.SplitSeq(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k == "" || v == "" {
			return s, signatureError("%s header element %q is not key=value", SignatureHeader, truncate(part))
		}
		switch k {
		case "t":
			if haveT {
				return s, signatureError("%s header has more than one t", SignatureHeader)
			}
			haveT = true
			if len(v) > maxTimestampDigits || strings.Trim(v, "0123456789") != "" {
				return s, signatureError("%s header t %q is not a unix time in seconds", SignatureHeader, truncate(v))
			}
			t, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return s, signatureError("%s header t %q is not a unix time in seconds", SignatureHeader, truncate(v))
			}
			s.ts, s.t = v, t
		case "v1":
			if len(s.v1) == maxSignatures {
				return s, signatureError("%s header has more than %d v1 signatures", SignatureHeader, maxSignatures)
			}
			sig, err := base64.StdEncoding.Strict().DecodeString(v)
			if err != nil {
				return s, signatureError("%s header v1 is not standard base64", SignatureHeader)
			}
			s.v1 = append(s.v1, sig)
		}
	}
	if !haveT {
		return s, signatureError("%s header has no t", SignatureHeader)
	}
	if len(s.v1) == 0 {
		return s, signatureError("%s header has no v1 signature", SignatureHeader)
	}
	return s, nil
}

// verify checks the request's signature over the raw body: header syntax, the timestamp window,
// then RSA PKCS#1 v1.5 SHA-256 over "<t>.<body>" with the gateway's public key.
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
	if skew := now - s.t; skew > int64(Tolerance/time.Second) || skew < -int64(Tolerance/time.Second) {
		return signatureError("signed at %d, %ds away from now (%d), beyond the %v tolerance", s.t, skew, now, Tolerance)
	}
	hash := sha256.New()
	hash.Write([]byte(s.ts))
	hash.Write([]byte{'.'})
	hash.Write(body)
	digest := hash.Sum(nil)
	for _, sig := range s.v1 {
		if rsa.VerifyPKCS1v15(c.publicKey, crypto.SHA256, digest, sig) == nil {
			return nil
		}
	}
	return signatureError("no v1 signature verifies with the gateway public key of PaymentProvider %s/%s", c.namespace, c.name)
}

// truncate shortens attacker-controlled text before it goes into an error.
func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
