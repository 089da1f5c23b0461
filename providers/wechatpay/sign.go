package wechatpay

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kubepay/kubepay/providers/internal/rsakeys"
)

// Headers WeChat Pay signs answers and notifications with.
const (
	HeaderTimestamp     = "Wechatpay-Timestamp"
	HeaderNonce         = "Wechatpay-Nonce"
	HeaderSignature     = "Wechatpay-Signature"
	HeaderSerial        = "Wechatpay-Serial"
	HeaderSignatureType = "Wechatpay-Signature-Type"
)

// authScheme is the Authorization scheme of API v3 requests and the signature type of answers.
const authScheme = "WECHATPAY2-SHA256-RSA2048"

// probePrefix starts the deliberately invalid signatures WeChat Pay sends to check that a
// merchant verifies notifications; they must be refused.
const probePrefix = "WECHATPAY/SIGNTEST/"

// Tolerance is how far a signed timestamp may be from now, either way. Past it a captured
// notification or answer could be replayed.
const Tolerance = 300 * time.Second

const (
	maxTimestampDigits = 18
	maxHeaderLen       = 1024
)

// authorization signs a request: SHA256withRSA with the merchant key over
// "METHOD\nURL\ntimestamp\nnonce\nbody\n", where URL is the path with its query as sent.
func (c *Client) authorization(method, requestURI string, body []byte) (string, error) {
	ts := strconv.FormatInt(c.now().Unix(), 10)
	var nb [16]byte
	if _, err := rand.Read(nb[:]); err != nil {
		return "", err
	}
	nonce := strings.ToUpper(hex.EncodeToString(nb[:]))
	msg := method + "\n" + requestURI + "\n" + ts + "\n" + nonce + "\n" + string(body) + "\n"
	sig, err := rsakeys.Sign(c.merchantKey, []byte(msg))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(`%s mchid="%s",nonce_str="%s",signature="%s",timestamp="%s",serial_no="%s"`,
		authScheme, c.mchID, nonce, sig, ts, c.merchantSerial), nil
}

// verifySigned checks the Wechatpay-* headers over "timestamp\nnonce\nbody\n" with the platform
// key named by Wechatpay-Serial: probe signatures, timestamps outside the tolerance, unknown
// serials, expired certificates and bad signatures are all refused.
func (c *Client) verifySigned(h http.Header, body []byte) error {
	ts, nonce, sig, serial := h.Get(HeaderTimestamp), h.Get(HeaderNonce), h.Get(HeaderSignature), h.Get(HeaderSerial)
	for name, v := range map[string]string{HeaderTimestamp: ts, HeaderNonce: nonce, HeaderSignature: sig, HeaderSerial: serial} {
		if v == "" {
			return fmt.Errorf("missing %s header", name)
		}
		if len(v) > maxHeaderLen {
			return fmt.Errorf("%s header is longer than %d bytes", name, maxHeaderLen)
		}
	}
	if st := h.Get(HeaderSignatureType); st != "" && st != authScheme {
		return fmt.Errorf("%s %q is not %s", HeaderSignatureType, truncate(st), authScheme)
	}
	if strings.HasPrefix(sig, probePrefix) {
		return errors.New("signature is a WeChat Pay probe (WECHATPAY/SIGNTEST/)")
	}
	if len(ts) > maxTimestampDigits || strings.Trim(ts, "0123456789") != "" {
		return fmt.Errorf("%s %q is not a unix time in seconds", HeaderTimestamp, truncate(ts))
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%s %q is not a unix time in seconds", HeaderTimestamp, truncate(ts))
	}
	now := c.now()
	if skew := now.Unix() - t; skew > int64(Tolerance/time.Second) || skew < -int64(Tolerance/time.Second) {
		return fmt.Errorf("signed at %d, %ds away from now (%d), beyond the %v tolerance", t, skew, now.Unix(), Tolerance)
	}
	key, ok := c.platformKey(serial)
	if !ok {
		return fmt.Errorf("%s %q is not a configured platform key or certificate", HeaderSerial, truncate(serial))
	}
	if !key.notAfter.IsZero() && (now.After(key.notAfter) || now.Before(key.notBefore)) {
		return fmt.Errorf("platform certificate %s is not valid at %s (valid %s to %s)", truncate(serial), now.UTC().Format(time.RFC3339), key.notBefore.UTC().Format(time.RFC3339), key.notAfter.UTC().Format(time.RFC3339))
	}
	message := make([]byte, 0, len(ts)+len(nonce)+len(body)+3)
	message = append(append(append(message, ts+"\n"+nonce+"\n"...), body...), '\n')
	switch err := rsakeys.Verify(key.pub, message, sig); {
	case errors.Is(err, rsakeys.ErrEncoding):
		return fmt.Errorf("%s is not standard base64", HeaderSignature)
	case err != nil:
		return fmt.Errorf("signature does not verify with platform key %s", truncate(serial))
	}
	return nil
}

// platformKey finds the key for a Wechatpay-Serial: a public key id exactly, or a certificate
// serial in any case and with or without leading zeros.
func (c *Client) platformKey(serial string) (platformKey, bool) {
	if k, ok := c.platformKeys[serial]; ok {
		return k, true
	}
	k, ok := c.platformKeys[normalSerial(serial)]
	return k, ok
}

// truncate shortens attacker-controlled text before it goes into an error.
func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
