package stripe

import (
	"errors"
	"io"
	"net/http"

	stripego "github.com/stripe/stripe-go/v82"
)

// maxResponseBytes bounds what is read of an API answer; a Checkout Session is a few KiB.
const maxResponseBytes = 1 << 20

// newAPIClient builds a stripe-go client of its own for one account and endpoint.
//
// stripe-go's built-in retries are off: the controller already retries with backoff, and a
// retry inside a reconcile would sleep in it. Its logger is off too, since its debug output
// includes whole API answers.
func newAPIClient(apiKey, endpoint string, hc *http.Client) *stripego.Client {
	bounded := *hc
	bounded.Transport = boundedTransport{next: hc.Transport}
	backends := stripego.NewBackendsWithConfig(&stripego.BackendConfig{
		URL:               stripego.String(endpoint),
		HTTPClient:        &bounded,
		MaxNetworkRetries: stripego.Int64(0),
		EnableTelemetry:   stripego.Bool(false),
		LeveledLogger:     &stripego.LeveledLogger{Level: stripego.LevelNull},
	})
	return stripego.NewClient(apiKey, stripego.WithBackends(backends))
}

// boundedTransport caps answer bodies, since stripe-go reads them whole.
type boundedTransport struct{ next http.RoundTripper }

var errResponseTooLarge = errors.New("answer from Stripe is larger than 1 MiB")

func (t boundedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	next := t.next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &boundedBody{ReadCloser: resp.Body, left: maxResponseBytes}
	return resp, nil
}

type boundedBody struct {
	io.ReadCloser
	left int64
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One more byte tells a body of exactly the limit from a longer one.
		var one [1]byte
		n, err := b.ReadCloser.Read(one[:])
		if n > 0 {
			return 0, errResponseTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}
