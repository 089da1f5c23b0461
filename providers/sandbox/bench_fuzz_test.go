package sandbox_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/kubepay/kubepay/providers/sandbox"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
	"github.com/kubepay/kubepay/providers/sandbox/gatewaytest"
)

func encodeStd(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// BenchmarkParseNotification measures what the callback server pays per notification:
// header parsing, one RSA-2048 verification and JSON decoding.
func BenchmarkParseNotification(b *testing.B) {
	p := verifier(b)
	body := eventBody("payment.succeeded", "succeeded")
	r := httptest.NewRequest(http.MethodPost, "/notify", nil)
	r.Header.Set(sandbox.SignatureHeader, gateway.SignPayload(gatewaytest.SigningKey(), fixedNow, body))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.ParseNotification(ctx, r, body); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParseNotification: any header and body must be handled without panicking, and whatever is
// accepted must carry a signature that verifies with the gateway key over t.body.
func FuzzParseNotification(f *testing.F) {
	key := gatewaytest.SigningKey()
	body := eventBody("payment.succeeded", "succeeded")
	valid := gateway.SignPayload(key, fixedNow, body)
	unknown := eventBody("payment.refunded", "refunded")
	f.Add(valid, body)
	f.Add(gateway.SignPayload(key, fixedNow, unknown), unknown)
	refund := refundEventBody("refund.succeeded", "succeeded")
	f.Add(gateway.SignPayload(key, fixedNow, refund), refund)
	f.Add(gateway.SignPayload(key, fixedNow, []byte("{}")), []byte("{}"))
	f.Add(valid, []byte("{not json"))
	f.Add("t=1,v1=AAAA", body)
	f.Add("", body)
	f.Add("t=,v1=,v1=,v1=", []byte{})
	f.Add(strings.Repeat("v1=", 100), body)
	p := verifier(f)
	pub := &key.PublicKey
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/notify", nil)
		r.Header[sandbox.SignatureHeader] = []string{header}
		if _, err := p.ParseNotification(context.Background(), r, body); err != nil {
			return
		}
		if !someV1Verifies(pub, header, body) {
			t.Fatalf("accepted header %q over body %q without a valid signature", header, body)
		}
	})
}

// someV1Verifies is an independent, deliberately simple check of an accepted header.
func someV1Verifies(pub *rsa.PublicKey, header string, body []byte) bool {
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if s, err := base64.StdEncoding.DecodeString(v); err == nil {
				sigs = append(sigs, s)
			}
		}
	}
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil {
		return false
	}
	digest := sha256.Sum256(append([]byte(ts+"."), body...))
	for _, s := range sigs {
		if rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], s) == nil {
			return true
		}
	}
	return false
}
