package alipay

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/kubepay/kubepay/providers/internal/rsakeys"
)

// Alipay signs and verifies "RSA2": SHA256withRSA (PKCS#1 v1.5) over the parameters sorted by
// key, "k=v" joined by "&", values as they are (not URL-encoded), empty values left out. The
// two rules differ only in the keys they leave out.
type signRule int

const (
	// ruleRequest leaves out sign only: merchant requests (sign_type is signed) and the
	// "rsaCheckV2" messages such as open-platform service notifications.
	ruleRequest signRule = iota
	// ruleNotify leaves out sign and sign_type: asynchronous payment notifications
	// (trade_status_sync), Alipay's "rsaCheckV1".
	ruleNotify
)

// signContent is the exact byte string signed under rule.
func signContent(params map[string]string, rule signRule) []byte {
	keys := make([]string, 0, len(params))
	for k, v := range params {
		if v == "" || k == "sign" || (rule == ruleNotify && k == "sign_type") {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(params[k])
	}
	return []byte(b.String())
}

// singleValued turns decoded form values into a map, refusing repeated keys: with two values
// for one key the signed content would be ambiguous.
func singleValued(values url.Values) (map[string]string, error) {
	params := make(map[string]string, len(values))
	for k, vs := range values {
		if len(vs) != 1 {
			return nil, fmt.Errorf("parameter %q appears %d times", truncate(k), len(vs))
		}
		params[k] = vs[0]
	}
	return params, nil
}

// verifyParams checks params' sign with pub under rule; sign_type, when present, must be RSA2
// (the SHA-1 "RSA" type is not accepted).
func verifyParams(pub *rsa.PublicKey, params map[string]string, rule signRule) error {
	sign := params["sign"]
	if sign == "" {
		return errors.New("no sign parameter")
	}
	if st, ok := params["sign_type"]; ok && st != "RSA2" {
		return fmt.Errorf("sign_type %q is not RSA2", truncate(st))
	}
	return rsakeys.Verify(pub, signContent(params, rule), sign)
}

// truncate shortens attacker-controlled text before it goes into an error.
func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
