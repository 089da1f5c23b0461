package stripe

import (
	"net/http"

	"github.com/kubepay/kubepay/providers"
)

// Ack implements providers.Provider. Stripe counts any 2xx as delivered; anything else makes it
// retry (for up to three days): 400 for events that will never verify or parse, 500 otherwise.
// The error text is never sent.
func (c *Client) Ack(w http.ResponseWriter, err error) {
	providers.Acknowledge(w, err, "application/json", `{"received":true}`, `{"received":false}`)
}
