package alipay

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
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

// signRSA2 signs content with the merchant key and returns standard base64.
func signRSA2(key *rsa.PrivateKey, content []byte) (string, error) {
	digest := sha256.Sum256(content)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// verifyRSA2 checks a standard-base64 RSA2 signature over content. A sign whose "+" was decoded to
// a space by a careless form encoder is not base64 any more and fails here, as it must.
func verifyRSA2(pub *rsa.PublicKey, content []byte, sign string) error {
	sig, err := base64.StdEncoding.Strict().DecodeString(sign)
	if err != nil {
		return errors.New("sign is not standard base64")
	}
	digest := sha256.Sum256(content)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
		return errors.New("sign does not verify")
	}
	return nil
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
	return verifyRSA2(pub, signContent(params, rule), sign)
}

// truncate shortens attacker-controlled text before it goes into an error.
func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
