package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"time"
	"unicode/utf8"

	"github.com/kubepay/kubepay/internal/money"
)

// Payment statuses. A payment leaves "open" exactly once and never comes back.
const (
	StatusOpen      = "open"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusClosed    = "closed"
)

// Payment is the payment object of the HTTP API and of notification data.
type Payment struct {
	ID         string            `json:"id"`
	OutTradeNo string            `json:"out_trade_no"`
	Status     string            `json:"status"`
	Amount     int64             `json:"amount"`
	Currency   string            `json:"currency"`
	Subject    string            `json:"subject"`
	Channel    string            `json:"channel,omitempty"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	PaymentURL string            `json:"payment_url"`
	CreatedAt  time.Time         `json:"created_at"`
	ExpiresAt  time.Time         `json:"expires_at,omitzero"`
	PaidAt     time.Time         `json:"paid_at,omitzero"`
	ClosedAt   time.Time         `json:"closed_at,omitzero"`
	// Late is set when the payment was paid after it was closed, failed or expired (a test aid,
	// see POST /v1/payments/{id}/pay with "late": true). ClosedAt then stays as it was.
	Late bool `json:"late,omitempty"`
}

// record is a payment as stored: the API object plus what only the gateway sees.
type record struct {
	Payment
	NotifyURL string `json:"notify_url"`
	ReturnURL string `json:"return_url,omitempty"`
}

// idempotencyRecord remembers which create request an out_trade_no (the Idempotency-Key) was
// first used with, to tell an idempotent replay from a conflicting reuse of the key.
type idempotencyRecord struct {
	PaymentID   string `json:"payment_id"`
	Fingerprint string `json:"fingerprint"`
}

// snapshot returns a copy of the API object that shares nothing mutable with the record.
func (r *record) snapshot() Payment {
	p := r.Payment
	if r.Metadata != nil {
		p.Metadata = make(map[string]string, len(r.Metadata))
		for k, v := range r.Metadata {
			p.Metadata[k] = v
		}
	}
	return p
}

// expired reports whether an open payment can no longer be paid at now.
func (r *record) expired(now time.Time) bool {
	return !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt)
}

// CreateRequest is the body of POST /v1/payments.
type CreateRequest struct {
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

// Limits of a create request, close to what real gateways enforce.
const (
	maxOutTradeNo    = 64
	maxSubject       = 256
	maxChannel       = 64
	maxURL           = 2048
	maxMetadataKeys  = 50
	maxMetadataKey   = 40
	maxMetadataValue = 500
)

// canonicalRequest is a validated create request in a normal form: two requests that mean the
// same payment have equal fingerprints even if they spell expires_at or empty metadata differently.
type canonicalRequest struct {
	OutTradeNo string            `json:"out_trade_no"`
	Amount     int64             `json:"amount"`
	Currency   string            `json:"currency"`
	Subject    string            `json:"subject"`
	Channel    string            `json:"channel"`
	NotifyURL  string            `json:"notify_url"`
	ReturnURL  string            `json:"return_url"`
	ExpiresAt  time.Time         `json:"expires_at"`
	Metadata   map[string]string `json:"metadata"`
}

// canonical validates the request and returns its normal form, or an invalid_request error
// naming the first offending field.
func (c CreateRequest) canonical() (canonicalRequest, error) {
	invalid := func(format string, a ...any) (canonicalRequest, error) {
		return canonicalRequest{}, invalidRequest(format, a...)
	}
	if err := checkOutTradeNo(c.OutTradeNo); err != nil {
		return canonicalRequest{}, err
	}
	if c.Amount <= 0 {
		return invalid("amount must be a positive number of minor units, got %d", c.Amount)
	}
	if !money.ValidCurrency(c.Currency) {
		return invalid("currency %q is not a three-letter upper-case ISO 4217 code", c.Currency)
	}
	if n := utf8.RuneCountInString(c.Subject); n == 0 || n > maxSubject || !utf8.ValidString(c.Subject) {
		return invalid("subject must be valid UTF-8 of 1 to %d characters", maxSubject)
	}
	if len(c.Channel) > maxChannel {
		return invalid("channel must have at most %d characters", maxChannel)
	}
	if !httpURL(c.NotifyURL) {
		return invalid("notify_url %q is not an absolute http(s) URL", c.NotifyURL)
	}
	if c.ReturnURL != "" && !httpURL(c.ReturnURL) {
		return invalid("return_url %q is not an absolute http(s) URL", c.ReturnURL)
	}
	var expires time.Time
	if c.ExpiresAt != "" {
		t, err := time.Parse(time.RFC3339, c.ExpiresAt)
		if err != nil {
			return invalid("expires_at %q is not an RFC 3339 time", c.ExpiresAt)
		}
		expires = t.UTC()
	}
	meta, err := canonicalMetadata(c.Metadata)
	if err != nil {
		return canonicalRequest{}, err
	}
	return canonicalRequest{
		OutTradeNo: c.OutTradeNo, Amount: c.Amount, Currency: c.Currency, Subject: c.Subject,
		Channel: c.Channel, NotifyURL: c.NotifyURL, ReturnURL: c.ReturnURL, ExpiresAt: expires, Metadata: meta,
	}, nil
}

// invalidRequest is the 400 invalid_request answer, its message naming the offending field.
func invalidRequest(format string, a ...any) error {
	return &apiError{Status: 400, Code: codeInvalidRequest, Message: fmt.Sprintf(format, a...)}
}

// checkOutTradeNo refuses an out_trade_no that could not travel in a header and a query string
// as it is: printable ASCII without spaces, of bounded length.
func checkOutTradeNo(otn string) error {
	if n := len(otn); n == 0 || n > maxOutTradeNo {
		return invalidRequest("out_trade_no must have 1 to %d characters, got %d", maxOutTradeNo, n)
	}
	for i := 0; i < len(otn); i++ {
		if b := otn[i]; b <= ' ' || b > '~' {
			return invalidRequest("out_trade_no %q must be printable ASCII without spaces", otn)
		}
	}
	return nil
}

// canonicalMetadata bounds the metadata and copies it, so a caller's later change to its map
// cannot alter a stored request; no metadata at all is nil, so it hashes the same as an empty
// map.
func canonicalMetadata(m map[string]string) (map[string]string, error) {
	if len(m) > maxMetadataKeys {
		return nil, invalidRequest("metadata has %d keys, at most %d are allowed", len(m), maxMetadataKeys)
	}
	var meta map[string]string
	for k, v := range m {
		if k == "" || len(k) > maxMetadataKey || len(v) > maxMetadataValue {
			return nil, invalidRequest("metadata key %q: keys need 1 to %d characters and values at most %d", k, maxMetadataKey, maxMetadataValue)
		}
		if meta == nil {
			meta = make(map[string]string, len(m))
		}
		meta[k] = v
	}
	return meta, nil
}

// fingerprint hashes the canonical request. encoding/json writes map keys sorted, so equal
// requests hash equally.
func (c canonicalRequest) fingerprint() string {
	b, err := json.Marshal(c)
	if err != nil {
		// Only strings, integers and a time: marshalling cannot fail.
		panic(fmt.Sprintf("sandbox gateway: fingerprint of create request %q: %v", c.OutTradeNo, err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func httpURL(s string) bool {
	if s == "" || len(s) > maxURL {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
