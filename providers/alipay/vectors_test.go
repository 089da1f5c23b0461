package alipay

import (
	"context"
	"crypto/rsa"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/internal/fakekeys"
	"github.com/kubepay/kubepay/providers/internal/rsakeys"
	"github.com/kubepay/kubepay/providers/internal/testvectors"
)

// vectors are the genuine Alipay-signed vectors in testdata/vectors/alipay;
// their absence fails the tests, since they are the only proof that this implementation
// matches Alipay's.
var vectors = testvectors.Vectors{Provider: "alipay", Display: "Alipay"}

// vectorClient is a production client (built by New) trusting the vector's Alipay public key,
// given as the bare base64 the SDK test uses or as PEM.
func vectorClient(t testing.TB, publicKey []byte, appID string) *Client {
	t.Helper()
	p, err := New(providers.Config{
		Namespace: "shop", Name: "alipay", AppID: appID,
		Secret: map[string][]byte{
			SecretAppPrivateKey:   fakekeys.PrivatePEM(fakekeys.Key("app")),
			SecretAlipayPublicKey: publicKey,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p.(*Client)
}

func formParams(t testing.TB, body []byte) map[string]string {
	t.Helper()
	v, err := url.ParseQuery(string(body))
	if err != nil {
		t.Fatal(err)
	}
	p, err := singleValued(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestGenuineTradeSuccessVector: Alipay's own TRADE_SUCCESS notification verifies through
// ParseNotification, the production path, and maps to a paid notification.
func TestGenuineTradeSuccessVector(t *testing.T) {
	t.Parallel()
	c := vectorClient(t, vectors.Read(t, "public_key.b64.txt"), "2019073166072302")
	body := vectors.Read(t, "body.form.txt")
	n, err := c.ParseNotification(context.Background(), nil, body)
	if err != nil {
		t.Fatalf("genuine notification refused: %v", err)
	}
	want := providers.Notification{
		ID: "2019081500222155624068450559358070", Type: "TRADE_SUCCESS",
		OutTradeNo: "20190815155618536-564-57", ProviderPaymentID: "20190815155618536-564-57",
		Status: providers.StatusSucceeded, AmountMinor: 10, Currency: "CNY",
		AppID: "2019073166072302", MerchantID: "2088531891668739",
		OccurredAt:    time.Date(2019, 8, 15, 7, 56, 24, 0, time.UTC),
		TransactionID: "2019081522001468450512505578",
	}
	if !n.OccurredAt.Equal(want.OccurredAt) {
		t.Errorf("OccurredAt = %v, want %v", n.OccurredAt, want.OccurredAt)
	}
	n.OccurredAt = want.OccurredAt
	if n != want {
		t.Errorf("notification =\n%+v\nwant\n%+v", n, want)
	}
	// The signed content this package builds is byte for byte the one the vector documents.
	if got, want := string(signContent(formParams(t, body), ruleNotify)), string(vectors.Read(t, "sign_content.txt")); got != want {
		t.Errorf("sign content differs from sign_content.txt:\n got %s\nwant %s", got, want)
	}
}

// TestGenuineVectorsVerifyOrFail: each genuine vector, and changes to it, verify or fail as its
// SOURCE.md says.
func TestGenuineVectorsVerifyOrFail(t *testing.T) {
	t.Parallel()
	mainBody := string(vectors.Read(t, "body.form.txt"))
	supplement := string(vectors.Read(t, "supplement_sandbox_raw_form_thirdparty", "body.form.txt"))
	tests := []struct {
		name, why string
		key       []byte
		body      string
		ok        bool
	}{
		{"main vector, PEM key", "the same key as PEM must work as the bare base64 does",
			vectors.Read(t, "public_key.pem"), mainBody, true},
		{"negative_verify_fail", "the SDK's own failing case must fail",
			vectors.Read(t, "public_key.b64.txt"), string(vectors.Read(t, "negative_verify_fail", "body.form.txt")), false},
		{"main vector, amount changed", "a tampered total_amount must break the signature",
			vectors.Read(t, "public_key.b64.txt"), strings.Replace(mainBody, "total_amount=0.10", "total_amount=1000.10", 1), false},
		{"main vector, + in sign lost to form decoding", "a sign whose %2B arrived as a raw + decodes to a space and must fail",
			vectors.Read(t, "public_key.b64.txt"), signPlusRaw(t, mainBody), false},
		{"main vector, parameters reordered", "the signed string is sorted, so the body's order must not matter",
			vectors.Read(t, "public_key.b64.txt"), reversePairs(mainBody), true},
		{"main vector, wrong key", "another Alipay key must not verify it",
			vectors.Read(t, "v2_keep_sign_type", "public_key.pem"), mainBody, false},
		{"supplement raw form with + and %-escapes", "a raw body with + for spaces verifies after form decoding",
			vectors.Read(t, "supplement_sandbox_raw_form_thirdparty", "public_key.pem"), supplement, true},
		{"supplement with total_amount 9.99", "SOURCE.md: changing total_amount must fail",
			vectors.Read(t, "supplement_sandbox_raw_form_thirdparty", "public_key.pem"), strings.Replace(supplement, "total_amount=0.01", "total_amount=9.99", 1), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := vectorClient(t, tc.key, "any")
			_, err := c.ParseNotification(context.Background(), nil, []byte(tc.body))
			if tc.ok && err != nil {
				t.Fatalf("%s: refused: %v", tc.why, err)
			}
			if !tc.ok && !errors.Is(err, providers.ErrSignature) {
				t.Fatalf("%s: got %v, want ErrSignature", tc.why, err)
			}
		})
	}
}

// TestSupplementVectorFields: the raw-form vector decodes "+" to spaces in the subject while its
// sign keeps "+" through %2B.
func TestSupplementVectorFields(t *testing.T) {
	t.Parallel()
	body := vectors.Read(t, "supplement_sandbox_raw_form_thirdparty", "body.form.txt")
	c := vectorClient(t, vectors.Read(t, "supplement_sandbox_raw_form_thirdparty", "public_key.pem"), "9021000168607391")
	n, err := c.ParseNotification(context.Background(), nil, body)
	if err != nil {
		t.Fatal(err)
	}
	if n.AmountMinor != 1 || n.OutTradeNo != "TU-ALI-JVKvLkXp-1789124390" || n.Status != providers.StatusSucceeded {
		t.Errorf("notification = %+v", n)
	}
	if got, want := string(signContent(formParams(t, body), ruleNotify)), string(vectors.Read(t, "supplement_sandbox_raw_form_thirdparty", "sign_content.txt")); got != want {
		t.Errorf("sign content:\n got %s\nwant %s", got, want)
	}
}

// TestKeepSignTypeRule: the rsaCheckV2 rule (only sign left out) verifies the genuine
// servicemarket message, and each rule refuses the other's message.
func TestKeepSignTypeRule(t *testing.T) {
	t.Parallel()
	v2 := formParams(t, vectors.Read(t, "v2_keep_sign_type", "body.form.txt"))
	v2Key, err := rsakeys.ParsePublic(vectors.Read(t, "v2_keep_sign_type", "public_key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	v1 := formParams(t, vectors.Read(t, "body.form.txt"))
	v1Key, err := rsakeys.ParsePublic(vectors.Read(t, "public_key.b64.txt"))
	if err != nil {
		t.Fatal(err)
	}
	changed := map[string]string{}
	for k, v := range v2 {
		changed[k] = v
	}
	changed["service_code"] = "58621634111"
	if got, want := string(signContent(v2, ruleRequest)), string(vectors.Read(t, "v2_keep_sign_type", "sign_content.txt")); got != want {
		t.Errorf("v2 sign content:\n got %s\nwant %s", got, want)
	}
	tests := []struct {
		name, why string
		params    map[string]string
		key       *rsa.PublicKey
		rule      signRule
		ok        bool
	}{
		{"v2 message, keep sign_type", "the documented rule for this message", v2, v2Key, ruleRequest, true},
		{"v2 message, drop sign_type", "the payment rule must not verify a message signed with sign_type", v2, v2Key, ruleNotify, false},
		{"v2 message, service_code changed", "the SDK's negative case must fail", changed, v2Key, ruleRequest, false},
		{"payment message, keep sign_type", "the payment vector was signed without sign_type", v1, v1Key, ruleRequest, false},
		{"payment message, drop sign_type", "the payment rule verifies it", v1, v1Key, ruleNotify, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := verifyParams(tc.key, tc.params, tc.rule)
			if tc.ok != (err == nil) {
				t.Fatalf("%s: verify = %v, want ok=%v", tc.why, err, tc.ok)
			}
		})
	}
}

// signPlusRaw replaces the %2B escapes inside the sign value by raw "+", as a form encoder that
// forgot to escape them would send.
func signPlusRaw(t testing.TB, body string) string {
	t.Helper()
	pairs := strings.Split(body, "&")
	found := false
	for i, p := range pairs {
		if strings.HasPrefix(p, "sign=") && strings.Contains(p, "%2B") {
			pairs[i] = strings.ReplaceAll(p, "%2B", "+")
			found = true
		}
	}
	if !found {
		t.Fatal("vector sign has no %2B to spoil")
	}
	return strings.Join(pairs, "&")
}

func reversePairs(body string) string {
	pairs := strings.Split(body, "&")
	for i, j := 0, len(pairs)-1; i < j; i, j = i+1, j-1 {
		pairs[i], pairs[j] = pairs[j], pairs[i]
	}
	return strings.Join(pairs, "&")
}
