package wechatpay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/kubepay/kubepay/providers"
)

// maxResponseBytes bounds what is read of an answer.
const maxResponseBytes = 1 << 20

// reply is one verified (or, for failures, possibly unsigned) API answer.
type reply struct {
	status int
	body   []byte
	// signed reports that the answer carried Wechatpay-* headers that verified. WeChat Pay
	// does not sign answers to requests it could not authenticate; such answers are only ever
	// reported as errors, never trusted as facts ("no such order", "already paid").
	signed    bool
	requestID string
}

// do sends one signed API request and verifies the answer's signature: always for 2xx, and
// for failures whenever they carry one.
func (c *Client) do(ctx context.Context, op, what, method string, u *url.URL, in any) (reply, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return reply{}, providers.Terminal(op, "invalid_request", fmt.Errorf("%s: encode request: %w", what, err))
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return reply{}, providers.Terminal(op, "invalid_request", fmt.Errorf("%s: build request: %w", what, err))
	}
	auth, err := c.authorization(method, req.URL.RequestURI(), body)
	if err != nil {
		return reply{}, providers.Terminal(op, "sign", fmt.Errorf("%s: signing with the merchantPrivateKey of PaymentProvider %s/%s: %w", what, c.namespace, c.name, err))
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "application/json")
	// API v3 refuses requests without a User-Agent.
	req.Header.Set("User-Agent", "kubepay-wechatpay/1")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.publicKeyID != "" {
		req.Header.Set(HeaderSerial, c.publicKeyID)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// The request may or may not have reached WeChat Pay; every call here is idempotent.
		return reply{}, providers.Retryable(op, "network", fmt.Errorf("%s at WeChat Pay %s: %w", what, c.endpoint.Host, err))
	}
	defer resp.Body.Close()
	r := reply{status: resp.StatusCode, requestID: resp.Header.Get("Request-ID")}
	if r.body, err = io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes)); err != nil {
		return reply{}, providers.Retryable(op, "network", fmt.Errorf("%s at WeChat Pay %s: read answer: %w", what, c.endpoint.Host, err))
	}
	ok2xx := r.status >= 200 && r.status < 300
	if ok2xx || resp.Header.Get(HeaderSignature) != "" {
		if err := c.verifySigned(resp.Header, r.body); err != nil {
			return reply{}, providers.Retryable(op, "bad_response", fmt.Errorf("%s at WeChat Pay %s: answer (HTTP %d%s) fails verification for PaymentProvider %s/%s: %w", what, c.endpoint.Host, r.status, r.requestIDNote(), c.namespace, c.name, err))
		}
		r.signed = true
	}
	return r, nil
}

func (r reply) requestIDNote() string {
	if r.requestID == "" {
		return ""
	}
	return ", Request-ID " + truncate(r.requestID)
}
