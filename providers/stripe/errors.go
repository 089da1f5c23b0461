package stripe

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	stripego "github.com/stripe/stripe-go/v82"

	"github.com/kubepay/kubepay/providers"
)

// classify turns a stripe-go error into a classified providers error.
//
//   - 401/403: terminal, wrapping providers.ErrCredentials (the key is wrong or lacks a permission).
//   - 404 with Stripe's code resource_missing: terminal, wrapping providers.ErrNotFound. Any
//     other 404 (Stripe's "unrecognized request URL" of a wrong spec.endpoint path, a proxy's
//     page) says nothing about the object and is retryable: taking it for "no session" would
//     let an expiring order end without the expire that makes its link unpayable.
//   - idempotency_error (same Idempotency-Key, different parameters: the out_trade_no was used for
//     another order): terminal.
//   - 409 idempotency_key_in_use: retryable. Stripe says another request with the key is still
//     running and to try later; the retry gets that request's saved answer.
//   - other 409, and other 4xx (card_error, invalid_request_error): terminal, with Stripe's code.
//   - 429 and 5xx: retryable.
//   - anything that is not a Stripe API error (refused, reset, timeout, an answer that is not
//     Stripe's JSON): retryable, since the request may or may not have happened and every call
//     is idempotent.
func (c *Client) classify(op, what string, err error) error {
	var se *stripego.Error
	if !errors.As(err, &se) {
		return providers.Retryable(op, "network", fmt.Errorf("%s at Stripe %s: %s", what, c.endpoint, truncate(err.Error(), 300)))
	}
	status := se.HTTPStatusCode
	code := string(se.Code)
	if code == "" {
		code = string(se.Type)
	}
	if code == "" {
		code = strconv.Itoa(status)
	}
	desc := c.describe(what, se)
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return providers.Terminal(op, code, fmt.Errorf("%w: PaymentProvider %s/%s: %w", providers.ErrCredentials, c.namespace, c.name, desc))
	case status == http.StatusNotFound && se.Code == stripego.ErrorCodeResourceMissing:
		return providers.Terminal(op, code, fmt.Errorf("%w: %w", providers.ErrNotFound, desc))
	case status == http.StatusNotFound:
		return providers.Retryable(op, code, desc)
	case se.Type == stripego.ErrorTypeIdempotency:
		return providers.Terminal(op, "idempotency_error", desc)
	case status == http.StatusConflict && se.Code == stripego.ErrorCodeIdempotencyKeyInUse:
		return providers.Retryable(op, code, desc)
	case status == http.StatusTooManyRequests || status >= http.StatusInternalServerError:
		return providers.Retryable(op, code, desc)
	case status >= http.StatusBadRequest:
		return providers.Terminal(op, code, desc)
	}
	return providers.Retryable(op, code, desc)
}

// describe is a Stripe API error in one line: what failed, Stripe's status, type, code, parameter,
// message and request id (for Stripe support), never the request's data.
func (c *Client) describe(what string, se *stripego.Error) error {
	msg := fmt.Sprintf("%s at Stripe %s: HTTP %d %s", what, c.endpoint, se.HTTPStatusCode, se.Type)
	if se.Code != "" {
		msg += " " + string(se.Code)
	}
	if se.Param != "" {
		msg += " (parameter " + truncate(se.Param, 80) + ")"
	}
	if se.Msg != "" {
		msg += ": " + truncate(se.Msg, 200)
	}
	if se.RequestID != "" {
		msg += "; request " + truncate(se.RequestID, 64)
	}
	return errors.New(msg)
}

// isInvalidRequest reports a 400 invalid_request_error: Stripe refused the parameters.
func isInvalidRequest(err error) bool {
	var se *stripego.Error
	return errors.As(err, &se) && se.HTTPStatusCode == http.StatusBadRequest && se.Type == stripego.ErrorTypeInvalidRequest
}

// truncate shortens text from outside (Stripe answers, request headers) before it goes into an error.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
