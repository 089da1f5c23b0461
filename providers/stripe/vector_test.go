package stripe_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/stripe"
)

// vectorTime is the genuine vector's signing time (t= in its header).
const vectorTime = 1533204620

// genuineVector is the webhook from stripe-dotnet's tests (see testdata/vectors/stripe/SOURCE.md):
// body, Stripe-Signature header value and the endpoint secret, byte-exact.
func genuineVector(t *testing.T) (body []byte, header, secret string) {
	t.Helper()
	body = stripeVectors.Read(t, "body.json")
	line := strings.TrimSpace(string(stripeVectors.Read(t, "headers.txt")))
	header, ok := strings.CutPrefix(line, stripe.SignatureHeader+": ")
	if !ok {
		t.Fatalf("headers.txt is %q, want a %s line", line, stripe.SignatureHeader)
	}
	return body, header, string(stripeVectors.Read(t, "secret.txt"))
}

func vectorClient(t *testing.T, secret string, now time.Time) *stripe.Client {
	t.Helper()
	p, err := stripe.New(providers.Config{
		Namespace: testNS, Name: testProvider,
		Secret: map[string][]byte{stripe.SecretAPIKey: []byte(testAPIKey), stripe.SecretWebhookSecret: []byte(secret)},
		Now:    func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return p.(*stripe.Client)
}

// TestGenuineVector checks the Stripe-signed vector with the expectations of the SDK test it
// comes from.
func TestGenuineVector(t *testing.T) {
	body, header, secret := genuineVector(t)
	v0 := header[strings.Index(header, ",v0="):]
	v1Only := strings.TrimSuffix(header, v0)
	tests := []struct {
		name   string
		body   []byte
		header string
		now    int64
		ok     bool
	}{
		{"accepted 100 s after signing, with the old api_version and a secret without whsec_", body, header, vectorTime + 100, true},
		{"refused 400 s after signing: outside the 300 s tolerance", body, header, vectorTime + 400, false},
		{"refused with a changed body", append(append([]byte{}, body...), "this_changes_the_json"...), header, vectorTime + 100, false},
		{"refused 400 s before signing: a clock behind does not widen the window", body, header, vectorTime - 400, false},
		{"the v0 entry is ignored: the v1 alone still verifies", body, v1Only, vectorTime + 100, true},
		{"the v0 entry is ignored: it is no signature on its own", body, "t=1533204620" + v0, vectorTime + 100, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := vectorClient(t, secret, time.Unix(tt.now, 0))
			n, err := c.ParseNotification(t.Context(), notifyRequest(tt.body, tt.header), tt.body)
			if !tt.ok {
				if !errors.Is(err, providers.ErrSignature) {
					t.Fatalf("ParseNotification = %+v, %v; want ErrSignature", n, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// customer.created is not a payment event: acknowledged and ignored.
			if n.ID != "evt_123" || n.Type != "customer.created" || n.Status != "" || !n.OccurredAt.Equal(time.Unix(vectorTime, 0)) {
				t.Errorf("notification %+v", n)
			}
		})
	}
}
