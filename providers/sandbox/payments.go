package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/kubepay/kubepay/providers"
)

// maxResponseBytes bounds what is read of a gateway answer.
const maxResponseBytes = 1 << 20

// Metadata keys the client adds so a payment can be traced back to its PaymentOrder.
const (
	MetadataNamespace = "kubepay.io/namespace"
	MetadataName      = "kubepay.io/name"
)

// createRequest and payment mirror the gateway's wire format; the client does not import the
// gateway package so that the manager binary does not carry a payment gateway.
type createRequest struct {
	OutTradeNo string            `json:"out_trade_no"`
	Amount     int64             `json:"amount"`
	Currency   string            `json:"currency"`
	Subject    string            `json:"subject"`
	Channel    string            `json:"channel,omitempty"`
	NotifyURL  string            `json:"notify_url"`
	ReturnURL  string            `json:"return_url,omitempty"`
	ExpiresAt  string            `json:"expires_at,omitempty"`
	Metadata   map[string]string `json:"metadata,omitempty"`
}

type payment struct {
	ID         string    `json:"id"`
	OutTradeNo string    `json:"out_trade_no"`
	Status     string    `json:"status"`
	Amount     int64     `json:"amount"`
	Currency   string    `json:"currency"`
	PaymentURL string    `json:"payment_url"`
	PaidAt     time.Time `json:"paid_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Create implements providers.Provider. The Idempotency-Key is the out_trade_no, so a repeat
// after a crash returns the payment made the first time.
func (c *Client) Create(ctx context.Context, order providers.Order) (providers.Payment, error) {
	const op = "create"
	req := createRequest{
		OutTradeNo: order.OutTradeNo, Amount: order.AmountMinor, Currency: order.Currency,
		Subject: order.Subject, Channel: order.Channel, NotifyURL: order.NotifyURL,
		ReturnURL: order.ReturnURL, Metadata: orderMetadata(order),
	}
	if !order.ExpiresAt.IsZero() {
		req.ExpiresAt = order.ExpiresAt.UTC().Format(time.RFC3339)
	}
	what := fmt.Sprintf("create payment %q", order.OutTradeNo)
	status, body, err := c.do(ctx, op, what, http.MethodPost, c.endpoint.JoinPath("v1", "payments"), req, order.OutTradeNo)
	if err != nil {
		return providers.Payment{}, err
	}
	switch status {
	case http.StatusOK, http.StatusCreated:
		return c.decodePayment(op, what, body)
	case http.StatusConflict:
		// The out_trade_no was used for a different order: asking again cannot help.
		return providers.Payment{}, providers.Terminal(op, "idempotency_conflict", c.answerError(what, status, body))
	}
	return providers.Payment{}, c.classify(op, what, status, body)
}

// Query implements providers.Provider: by provider payment id when known, else by out_trade_no.
func (c *Client) Query(ctx context.Context, outTradeNo, providerPaymentID string) (providers.Payment, error) {
	const op = "query"
	u, what, err := c.paymentURL(op, outTradeNo, providerPaymentID)
	if err != nil {
		return providers.Payment{}, err
	}
	status, body, err := c.do(ctx, op, what, http.MethodGet, u, nil, "")
	if err != nil {
		return providers.Payment{}, err
	}
	switch status {
	case http.StatusOK:
		p, err := c.decodePayment(op, what, body)
		if err == nil && outTradeNo != "" && p.OutTradeNo != outTradeNo {
			return providers.Payment{}, providers.Terminal(op, "mismatch", fmt.Errorf("%s at sandbox gateway %s: payment %s belongs to out_trade_no %q", what, c.endpoint, p.ID, p.OutTradeNo))
		}
		return p, err
	case http.StatusNotFound:
		if err := c.notFound(op, what, status, body, codePaymentNotFound); err != nil {
			return providers.Payment{}, err
		}
	}
	return providers.Payment{}, c.classify(op, what, status, body)
}

// Close implements providers.Provider. Without a provider payment id it looks the payment up by
// out_trade_no first, since the gateway closes by id.
func (c *Client) Close(ctx context.Context, outTradeNo, providerPaymentID string) error {
	const op = "close"
	if providerPaymentID == "" {
		p, err := c.Query(ctx, outTradeNo, "")
		if err != nil {
			var pe *providers.Error
			if errors.As(err, &pe) {
				pe.Op = op
			}
			return err
		}
		providerPaymentID = p.ID
	}
	if !validID(providerPaymentID) {
		return providers.Terminal(op, "invalid_id", fmt.Errorf("close payment %q: provider payment id %q is not a sandbox id", outTradeNo, providerPaymentID))
	}
	what := fmt.Sprintf("close payment %s (out_trade_no %q)", providerPaymentID, outTradeNo)
	status, body, err := c.do(ctx, op, what, http.MethodPost, c.endpoint.JoinPath("v1", "payments", providerPaymentID, "close"), nil, "")
	if err != nil {
		return err
	}
	switch status {
	case http.StatusOK:
		return nil
	case http.StatusNotFound:
		if err := c.notFound(op, what, status, body, codePaymentNotFound); err != nil {
			return err
		}
	case http.StatusConflict:
		if apiErrorCode(body) == "already_paid" {
			return providers.Terminal(op, "already_paid", fmt.Errorf("%w: %s at sandbox gateway %s", providers.ErrAlreadyPaid, what, c.endpoint))
		}
	}
	return c.classify(op, what, status, body)
}

// paymentURL is the resource URL of a payment, by id or by out_trade_no.
func (c *Client) paymentURL(op, outTradeNo, providerPaymentID string) (*url.URL, string, error) {
	switch {
	case providerPaymentID != "":
		if !validID(providerPaymentID) {
			return nil, "", providers.Terminal(op, "invalid_id", fmt.Errorf("%s payment %q: provider payment id %q is not a sandbox id", op, outTradeNo, providerPaymentID))
		}
		return c.endpoint.JoinPath("v1", "payments", providerPaymentID), fmt.Sprintf("%s payment %s", op, providerPaymentID), nil
	case outTradeNo != "":
		u := c.endpoint.JoinPath("v1", "payments")
		u.RawQuery = url.Values{"out_trade_no": {outTradeNo}}.Encode()
		return u, fmt.Sprintf("%s payment %q", op, outTradeNo), nil
	default:
		return nil, "", providers.Terminal(op, "invalid_argument", errors.New(op+" payment: neither out_trade_no nor provider payment id given"))
	}
}

// validID accepts the gateway's id alphabet only, so an id from a status field can never change
// the request path ("..", "/", "?").
func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-') {
			return false
		}
	}
	return true
}

// do sends one API request. Transport failures (refused, reset, timeout, cancelled) are
// retryable: the request may or may not have happened, and every call is idempotent.
func (c *Client) do(ctx context.Context, op, what, method string, u *url.URL, in any, idempotencyKey string) (int, []byte, error) {
	var reqBody io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, nil, providers.Terminal(op, "invalid_request", fmt.Errorf("%s: encode request: %w", what, err))
		}
		reqBody = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), reqBody)
	if err != nil {
		return 0, nil, providers.Terminal(op, "invalid_request", fmt.Errorf("%s: build request: %w", what, err))
	}
	req.Header.Set("Authorization", "Bearer "+c.apiKey)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "kubepay-sandbox-client/1")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, providers.Retryable(op, "network", fmt.Errorf("%s at sandbox gateway %s: %w", what, c.endpoint, err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return 0, nil, providers.Retryable(op, "network", fmt.Errorf("%s at sandbox gateway %s: read answer: %w", what, c.endpoint, err))
	}
	return resp.StatusCode, body, nil
}

// The gateway's own not-found codes. Only these say that a payment or refund does not exist.
const (
	codePaymentNotFound = "payment_not_found"
	codeRefundNotFound  = "refund_not_found"
)

// notFound returns a terminal error wrapping providers.ErrNotFound when a 404 carries the
// gateway's structured error with the code that names what was asked for, and nil otherwise:
// a 404 from anything else on the way (a proxy, an ingress, a wrong base path) says nothing
// about the payment, and classify answers it as retryable.
func (c *Client) notFound(op, what string, status int, body []byte, code string) error {
	if status != http.StatusNotFound || apiErrorCode(body) != code {
		return nil
	}
	return providers.Terminal(op, code, fmt.Errorf("%w: %s at sandbox gateway %s", providers.ErrNotFound, what, c.endpoint))
}

// classify turns an unexpected answer into a classified error: throttling, server errors and
// anything that is not a client error are retryable; so is a 404, since the gateway's own
// not-found answers are handled before (see notFound) and any other 404 is not the gateway's
// word on the object. Other 4xx are terminal, and 401/403 also wrap providers.ErrCredentials
// so the provider can be marked not Ready.
func (c *Client) classify(op, what string, status int, body []byte) error {
	code := apiErrorCode(body)
	if code == "" {
		code = strconv.Itoa(status)
	}
	err := c.answerError(what, status, body)
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return providers.Terminal(op, code, fmt.Errorf("%w: PaymentProvider %s/%s: %w", providers.ErrCredentials, c.namespace, c.name, err))
	case status == http.StatusNotFound, status == http.StatusRequestTimeout, status == http.StatusTooEarly, status == http.StatusTooManyRequests, status >= 500:
		return providers.Retryable(op, code, err)
	case status >= 400:
		return providers.Terminal(op, code, err)
	default:
		return providers.Retryable(op, code, err)
	}
}

// answerError describes a gateway answer with the gateway's own (short, secret-free) message.
func (c *Client) answerError(what string, status int, body []byte) error {
	var ae apiError
	msg := ""
	if json.Unmarshal(body, &ae) == nil && ae.Error.Message != "" {
		msg = ae.Error.Message
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		msg = ": " + msg
	}
	return fmt.Errorf("%s at sandbox gateway %s: HTTP %d%s", what, c.endpoint, status, msg)
}

func apiErrorCode(body []byte) string {
	var ae apiError
	if json.Unmarshal(body, &ae) != nil {
		return ""
	}
	return ae.Error.Code
}

// decodePayment maps a gateway payment object to providers.Payment.
func (c *Client) decodePayment(op, what string, body []byte) (providers.Payment, error) {
	var p payment
	if err := json.Unmarshal(body, &p); err != nil {
		return providers.Payment{}, providers.Retryable(op, "bad_response", fmt.Errorf("%s at sandbox gateway %s: decode payment: %w", what, c.endpoint, err))
	}
	status, ok := statusOf(p.Status)
	if !ok || p.ID == "" {
		return providers.Payment{}, providers.Retryable(op, "bad_response", fmt.Errorf("%s at sandbox gateway %s: payment %q has unknown status %q", what, c.endpoint, p.ID, p.Status))
	}
	out := providers.Payment{
		ID: p.ID, OutTradeNo: p.OutTradeNo, Status: status, AmountMinor: p.Amount,
		Currency: p.Currency, PaymentURL: p.PaymentURL, PaidAt: p.PaidAt, ExpiresAt: p.ExpiresAt,
	}
	if status == providers.StatusSucceeded {
		// The sandbox's money movement is the payment itself: refunds name it by its id.
		out.TransactionID = p.ID
	}
	return out, nil
}

func statusOf(s string) (providers.PaymentStatus, bool) {
	switch s {
	case "open":
		return providers.StatusOpen, true
	case "succeeded":
		return providers.StatusSucceeded, true
	case "failed":
		return providers.StatusFailed, true
	case "closed":
		return providers.StatusClosed, true
	}
	return "", false
}

// orderMetadata is the order's metadata plus the PaymentOrder's namespace and name, unless the
// order sets those keys itself. It is derived only from the order, so replays stay identical.
func orderMetadata(order providers.Order) map[string]string {
	if len(order.Metadata) == 0 && order.Namespace == "" && order.Name == "" {
		return nil
	}
	m := make(map[string]string, len(order.Metadata)+2)
	if order.Namespace != "" {
		m[MetadataNamespace] = order.Namespace
	}
	if order.Name != "" {
		m[MetadataName] = order.Name
	}
	for k, v := range order.Metadata {
		m[k] = v
	}
	return m
}
