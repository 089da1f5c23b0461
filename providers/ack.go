package providers

import (
	"errors"
	"io"
	"net/http"
)

// FailureStatus is the HTTP status of the answer to a notification that was not processed:
// 400 when it will never verify or parse (ErrSignature, ErrMalformed), 500 otherwise. Either
// makes the provider retry; the split tells a forged or broken notification from our failure.
func FailureStatus(err error) int {
	if errors.Is(err, ErrSignature) || errors.Is(err, ErrMalformed) {
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// Acknowledge answers a notification the way most providers expect: 200 with success when err
// is nil, FailureStatus(err) with failure otherwise. The bodies are fixed, so the error's text
// never reaches the provider.
func Acknowledge(w http.ResponseWriter, err error, contentType, success, failure string) {
	if err != nil {
		WriteAnswer(w, FailureStatus(err), contentType, failure)
		return
	}
	WriteAnswer(w, http.StatusOK, contentType, success)
}

// WriteAnswer writes a notification answer: status and body (none when empty), with
// contentType when it is not empty. no-store and nosniff keep proxies and browsers from
// caching or reinterpreting an answer about a payment.
func WriteAnswer(w http.ResponseWriter, status int, contentType, body string) {
	h := w.Header()
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if body != "" {
		_, _ = io.WriteString(w, body)
	}
}
