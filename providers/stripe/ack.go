package stripe

import (
	"errors"
	"io"
	"net/http"

	"github.com/kubepay/kubepay/providers"
)

// Ack implements providers.Provider. Stripe counts any 2xx as delivered; anything else makes it
// retry (for up to three days): 400 for events that will never verify or parse, 500 otherwise.
// The error text is never sent.
func (c *Client) Ack(w http.ResponseWriter, err error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if err == nil {
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"received":true}`)
		return
	}
	status := http.StatusInternalServerError
	if errors.Is(err, providers.ErrSignature) || errors.Is(err, providers.ErrMalformed) {
		status = http.StatusBadRequest
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"received":false}`)
}
