package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/kubepay/kubepay/providers"
)

// refundRequest and refund mirror the gateway's wire format (see package gateway).
type refundRequest struct {
	OutRefundNo string `json:"out_refund_no"`
	Amount      int64  `json:"amount"`
	Reason      string `json:"reason,omitempty"`
	NotifyURL   string `json:"notify_url,omitempty"`
}

type refund struct {
	ID            string    `json:"id"`
	PaymentID     string    `json:"payment_id"`
	OutTradeNo    string    `json:"out_trade_no"`
	OutRefundNo   string    `json:"out_refund_no"`
	Amount        int64     `json:"amount"`
	Currency      string    `json:"currency"`
	Status        string    `json:"status"`
	SucceededAt   time.Time `json:"succeeded_at"`
	FailureReason string    `json:"failure_reason"`
}

// Gateway refund error codes the client acts on.
const (
	codeIdempotencyConflict = "idempotency_conflict"
	codePaymentNotPaid      = "payment_not_paid"
	codeRefundExceeds       = "refund_exceeds_payment"
)

// Refund implements providers.Provider: POST /v1/payments/{id}/refunds with Idempotency-Key =
// out_refund_no, so a repeat after a crash returns the refund made the first time, never a
// second one. The answer is usually RefundProcessing: the gateway settles refunds later and
// notifies refund.succeeded or refund.failed.
func (c *Client) Refund(ctx context.Context, req providers.RefundRequest) (providers.Refund, error) {
	const op = "refund"
	if err := checkRefundRequest(op, req); err != nil {
		return providers.Refund{}, err
	}
	paymentID, err := c.refundPaymentID(ctx, op, req)
	if err != nil {
		return providers.Refund{}, err
	}
	what := fmt.Sprintf("refund %q of payment %s (out_trade_no %q)", req.OutRefundNo, paymentID, req.OutTradeNo)
	in := refundRequest{OutRefundNo: req.OutRefundNo, Amount: req.AmountMinor, Reason: req.Reason, NotifyURL: req.NotifyURL}
	status, body, err := c.do(ctx, op, what, http.MethodPost, c.endpoint.JoinPath("v1", "payments", paymentID, "refunds"), in, req.OutRefundNo)
	if err != nil {
		return providers.Refund{}, err
	}
	switch status {
	case http.StatusOK, http.StatusCreated:
		return c.decodeRefund(op, what, body, req, paymentID)
	case http.StatusNotFound:
		if err := c.notFound(op, what, status, body, codePaymentNotFound); err != nil {
			return providers.Refund{}, err
		}
	case http.StatusConflict:
		switch code := apiErrorCode(body); code {
		case codeRefundExceeds:
			return providers.Refund{}, providers.Terminal(op, code, fmt.Errorf("%w: %w", providers.ErrRefundExceedsPayment, c.answerError(what, status, body)))
		case codeIdempotencyConflict, codePaymentNotPaid:
			// The out_refund_no was used for another refund, or the payment holds no money:
			// asking again cannot help.
			return providers.Refund{}, providers.Terminal(op, code, c.answerError(what, status, body))
		}
	}
	return providers.Refund{}, c.classify(op, what, status, body)
}

// QueryRefund implements providers.Provider: GET /v1/refunds?out_refund_no=. RefundRequest
// carries no provider refund id, and the out_refund_no names one refund at the gateway anyway.
func (c *Client) QueryRefund(ctx context.Context, req providers.RefundRequest) (providers.Refund, error) {
	const op = "query_refund"
	if req.OutRefundNo == "" {
		return providers.Refund{}, providers.Terminal(op, "invalid_argument", fmt.Errorf("query refund of out_trade_no %q: no out_refund_no given", req.OutTradeNo))
	}
	what := fmt.Sprintf("query refund %q (out_trade_no %q)", req.OutRefundNo, req.OutTradeNo)
	u := c.endpoint.JoinPath("v1", "refunds")
	u.RawQuery = url.Values{"out_refund_no": {req.OutRefundNo}}.Encode()
	status, body, err := c.do(ctx, op, what, http.MethodGet, u, nil, "")
	if err != nil {
		return providers.Refund{}, err
	}
	switch status {
	case http.StatusOK:
		return c.decodeRefund(op, what, body, req, firstNonEmpty(req.ProviderPaymentID, req.TransactionID))
	case http.StatusNotFound:
		if err := c.notFound(op, what, status, body, codeRefundNotFound); err != nil {
			return providers.Refund{}, err
		}
	}
	return providers.Refund{}, c.classify(op, what, status, body)
}

// checkRefundRequest refuses, before any call, a request the gateway could only refuse.
func checkRefundRequest(op string, req providers.RefundRequest) error {
	switch {
	case req.OutRefundNo == "":
		return providers.Terminal(op, "invalid_argument", fmt.Errorf("refund of out_trade_no %q: no out_refund_no given", req.OutTradeNo))
	case req.AmountMinor <= 0:
		return providers.Terminal(op, "invalid_argument", fmt.Errorf("refund %q of out_trade_no %q: amount %d is not positive", req.OutRefundNo, req.OutTradeNo, req.AmountMinor))
	}
	return nil
}

// refundPaymentID is the gateway id of the payment to refund: the provider payment id, else
// the transaction id (the same id at the sandbox), else the payment found by out_trade_no. The
// payment is read first, so that a refund is never sent for a payment of another order, an
// unpaid one, or in another currency than the request's (its amount would mean other money):
// once the gateway has made a refund, finding out is too late.
func (c *Client) refundPaymentID(ctx context.Context, op string, req providers.RefundRequest) (string, error) {
	id := firstNonEmpty(req.ProviderPaymentID, req.TransactionID)
	if id != "" && !validID(id) {
		return "", providers.Terminal(op, "invalid_id", fmt.Errorf("refund %q of out_trade_no %q: payment id %q is not a sandbox id", req.OutRefundNo, req.OutTradeNo, id))
	}
	p, err := c.Query(ctx, req.OutTradeNo, id)
	if err != nil {
		// Keep the classification (retryable, code, what it wraps) and name the refund.
		var pe *providers.Error
		if errors.As(err, &pe) {
			return "", &providers.Error{Op: op, Code: pe.Code, Retryable: pe.Retryable, Err: fmt.Errorf("refund %q: %w", req.OutRefundNo, pe.Err)}
		}
		return "", err
	}
	what := fmt.Sprintf("refund %q of payment %s (out_trade_no %q)", req.OutRefundNo, p.ID, p.OutTradeNo)
	switch {
	case p.Status != providers.StatusSucceeded:
		return "", providers.Terminal(op, codePaymentNotPaid, fmt.Errorf("%s at sandbox gateway %s: the payment is %s, only a paid payment can be refunded", what, c.endpoint, p.Status))
	case req.Currency != "" && req.Currency != p.Currency:
		return "", providers.Terminal(op, "currency_mismatch", fmt.Errorf("%s at sandbox gateway %s: the refund is in %s but the payment in %s", what, c.endpoint, req.Currency, p.Currency))
	}
	return p.ID, nil
}

// decodeRefund maps a gateway refund to providers.Refund, checking it is the refund asked for:
// an answer about another refund or payment is never reported as this one's state.
func (c *Client) decodeRefund(op, what string, body []byte, req providers.RefundRequest, paymentID string) (providers.Refund, error) {
	var r refund
	if err := json.Unmarshal(body, &r); err != nil {
		return providers.Refund{}, providers.Retryable(op, "bad_response", fmt.Errorf("%s at sandbox gateway %s: decode refund: %w", what, c.endpoint, err))
	}
	status, ok := refundStatusOf(r.Status)
	if !ok || r.ID == "" {
		return providers.Refund{}, providers.Retryable(op, "bad_response", fmt.Errorf("%s at sandbox gateway %s: refund %q has unknown status %q", what, c.endpoint, r.ID, r.Status))
	}
	switch {
	case r.OutRefundNo != req.OutRefundNo:
		return providers.Refund{}, providers.Terminal(op, "mismatch", fmt.Errorf("%s at sandbox gateway %s: the answer is refund %s with out_refund_no %q", what, c.endpoint, r.ID, r.OutRefundNo))
	case paymentID != "" && r.PaymentID != paymentID, req.OutTradeNo != "" && r.OutTradeNo != req.OutTradeNo:
		return providers.Refund{}, providers.Terminal(op, "mismatch", fmt.Errorf("%s at sandbox gateway %s: refund %s is of payment %s (out_trade_no %q)", what, c.endpoint, r.ID, r.PaymentID, r.OutTradeNo))
	}
	out := providers.Refund{
		ID: r.ID, OutRefundNo: r.OutRefundNo, OutTradeNo: r.OutTradeNo, Status: status,
		AmountMinor: r.Amount, Currency: r.Currency,
	}
	switch status {
	case providers.RefundSucceeded:
		out.RefundedAt = r.SucceededAt
	case providers.RefundFailed:
		out.FailureReason = r.FailureReason
	}
	return out, nil
}

func refundStatusOf(s string) (providers.RefundStatus, bool) {
	switch s {
	case "pending":
		return providers.RefundProcessing, true
	case "succeeded":
		return providers.RefundSucceeded, true
	case "failed":
		return providers.RefundFailed, true
	}
	return "", false
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
