// Package sigheader parses the "t=<unix seconds>,v1=<signature>[,v1=...]" notification
// signature header that Stripe and the sandbox gateway share. The providers sign differently
// (HMAC in hex, RSA in base64) and accept slightly different headers, so each passes its own
// Rules; the walk over the elements and its bounds are one piece of code.
package sigheader

import (
	"fmt"
	"strconv"
	"strings"
)

// Rules are one provider's acceptance rules for the header.
type Rules struct {
	// Name is the header's name, for errors.
	Name string
	// MaxLen and MaxV1 bound the work an unauthenticated sender can cause: the header's length
	// and the number of v1 elements, usable or not.
	MaxLen, MaxV1 int
	// EmptyValues accepts elements such as "v0=" (their t or v1 is still refused or skipped);
	// without it an empty value makes the header malformed.
	EmptyValues bool
	// CanonicalT refuses a t with leading zeros, which signs different bytes than the canonical
	// form the sender's libraries compute.
	CanonicalT bool
	// V1 decodes one v1 value. ok false either refuses the header or, with SkipBadV1, skips the
	// value (it can never match).
	V1        func(v string) (sig []byte, ok bool)
	SkipBadV1 bool
	// V1Form describes a usable v1 value in errors: "standard base64", "32 bytes of hex".
	V1Form string
}

// Header is a parsed signature header.
type Header struct {
	// TS is t exactly as sent: the signed bytes start with it.
	TS string
	T  int64
	// V1 are the candidate signatures; more than one lets the sender roll its key.
	V1 [][]byte
}

// maxTimestampDigits keeps t within int64.
const maxTimestampDigits = 18

// Parse parses h under r. Elements with keys other than t and v1 are ignored, so a sender may
// add schemes; anything else malformed is refused. Errors are plain: the caller wraps them in
// its own providers.ErrSignature error.
func (r Rules) Parse(h string) (Header, error) {
	var s Header
	if h == "" {
		return s, fmt.Errorf("missing %s header", r.Name)
	}
	if len(h) > r.MaxLen {
		return s, fmt.Errorf("%s header is longer than %d bytes", r.Name, r.MaxLen)
	}
	haveT, v1Seen := false, 0
	for part := range strings.SplitSeq(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k == "" || (v == "" && !r.EmptyValues) {
			return s, fmt.Errorf("%s header element %q is not key=value", r.Name, truncate(part))
		}
		switch k {
		case "t":
			if haveT {
				return s, fmt.Errorf("%s header has more than one t", r.Name)
			}
			haveT = true
			t, ok := r.timestamp(v)
			if !ok {
				return s, fmt.Errorf("%s header t %q is not a unix time in seconds", r.Name, truncate(v))
			}
			s.TS, s.T = v, t
		case "v1":
			if v1Seen++; v1Seen > r.MaxV1 {
				return s, fmt.Errorf("%s header has more than %d v1 signatures", r.Name, r.MaxV1)
			}
			sig, ok := r.V1(v)
			switch {
			case ok:
				s.V1 = append(s.V1, sig)
			case !r.SkipBadV1:
				return s, fmt.Errorf("%s header v1 is not %s", r.Name, r.V1Form)
			}
		}
	}
	if !haveT {
		return s, fmt.Errorf("%s header has no t", r.Name)
	}
	if len(s.V1) == 0 {
		if r.SkipBadV1 {
			// Skipped values leave no trace otherwise; say what would have been usable.
			return s, fmt.Errorf("%s header has no v1 signature (%s)", r.Name, r.V1Form)
		}
		return s, fmt.Errorf("%s header has no v1 signature", r.Name)
	}
	return s, nil
}

// timestamp reads t: decimal digits only (no sign, no space), at most maxTimestampDigits, and
// without leading zeros under CanonicalT.
func (r Rules) timestamp(v string) (int64, bool) {
	if len(v) > maxTimestampDigits || strings.Trim(v, "0123456789") != "" {
		return 0, false
	}
	t, err := strconv.ParseInt(v, 10, 64)
	if err != nil || (r.CanonicalT && strconv.FormatInt(t, 10) != v) {
		return 0, false
	}
	return t, true
}

// truncate shortens attacker-controlled text before it goes into an error.
func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
