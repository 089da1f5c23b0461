package stripe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"unicode/utf8"

	stripego "github.com/stripe/stripe-go/v82"

	"github.com/kubepay/kubepay/internal/money"
	"github.com/kubepay/kubepay/providers"
)

// Metadata keys kubepay puts on every refund it creates. Refund webhook events carry them back:
// out_refund_no names the PaymentRefund, and a refund without it was not made by kubepay.
const (
	MetadataOutRefundNo = "kubepay.io/out_refund_no"
	// MetadataRefundReason holds the PaymentRefund's reason as written, since Stripe's own
	// reason field takes only its enum.
	MetadataRefundReason = "kubepay.io/refund_reason"
)

// Limits Stripe puts on what kubepay sends with a refund.
const (
	// maxIdempotencyKey is Stripe's limit on an Idempotency-Key.
	maxIdempotencyKey = 255
	// maxMetadataValue is Stripe's limit on a metadata value.
	maxMetadataValue = 500
	// maxListedRefunds bounds QueryRefund's walk over a PaymentIntent's refunds.
	maxListedRefunds = 1000
)

// stripeReasons are the reasons Stripe's refund API accepts; any other text goes in metadata
// only, since Stripe refuses an unknown reason.
var stripeReasons = map[string]stripego.RefundReason{
	"duplicate":             stripego.RefundReasonDuplicate,
	"fraudulent":            stripego.RefundReasonFraudulent,
	"requested_by_customer": stripego.RefundReasonRequestedByCustomer,
}

// Refund implements providers.Provider: POST /v1/refunds on the payment's PaymentIntent, with
// Idempotency-Key = out_refund_no, so a repeat after a crash gets the refund Stripe made the
// first time. Stripe replays a key only for identical parameters, so the parameters depend on
// the request alone. The answer is usually pending; the result comes by refund.updated /
// refund.failed / charge.refunded, or by QueryRefund.
func (c *Client) Refund(ctx context.Context, req providers.RefundRequest) (providers.Refund, error) {
	const op = "refund"
	amount, err := checkRefundable(req)
	if err != nil {
		return providers.Refund{}, providers.Terminal(op, "invalid_argument", fmt.Errorf("refund %q of out_trade_no %q: %w", req.OutRefundNo, req.OutTradeNo, err))
	}
	pi, err := c.paymentIntentOf(ctx, op, req)
	if err != nil {
		return providers.Refund{}, err
	}
	what := fmt.Sprintf("refund %q of PaymentIntent %s (out_trade_no %q)", req.OutRefundNo, pi, req.OutTradeNo)
	r, err := c.api.V1Refunds.Create(ctx, c.refundParams(req, pi, amount))
	if err != nil {
		if exceedsPayment(err) {
			return providers.Refund{}, providers.Terminal(op, stripeCode(err), fmt.Errorf("%w: %w", providers.ErrRefundExceedsPayment, c.classify(op, what, err)))
		}
		return providers.Refund{}, c.classify(op, what, err)
	}
	c.refundIDs.remember(req.OutRefundNo, r.ID)
	return c.refund(op, what, r, req)
}

// QueryRefund implements providers.Provider. RefundRequest carries no Stripe refund id, so the
// refund is retrieved by the id this process got from Refund when it has one, and otherwise
// found among the PaymentIntent's refunds by the out_refund_no in its metadata. Stripe's list
// is its own answer about every refund of the PaymentIntent: none with the number is
// providers.ErrNotFound.
func (c *Client) QueryRefund(ctx context.Context, req providers.RefundRequest) (providers.Refund, error) {
	const op = "query_refund"
	if req.OutRefundNo == "" {
		return providers.Refund{}, providers.Terminal(op, "invalid_argument", fmt.Errorf("query refund of out_trade_no %q: no out_refund_no given", req.OutTradeNo))
	}
	if id, ok := c.refundIDs.recall(req.OutRefundNo); ok {
		what := fmt.Sprintf("query refund %s (out_refund_no %q, out_trade_no %q)", id, req.OutRefundNo, req.OutTradeNo)
		r, err := c.api.V1Refunds.Retrieve(ctx, id, nil)
		if err != nil {
			return providers.Refund{}, c.classify(op, what, err)
		}
		return c.refund(op, what, r, req)
	}
	pi, err := c.paymentIntentOf(ctx, op, req)
	if err != nil {
		return providers.Refund{}, err
	}
	what := fmt.Sprintf("query refund %q of PaymentIntent %s (out_trade_no %q)", req.OutRefundNo, pi, req.OutTradeNo)
	params := &stripego.RefundListParams{PaymentIntent: stripego.String(pi)}
	params.Limit = stripego.Int64(100)
	n := 0
	for r, err := range c.api.V1Refunds.List(ctx, params) {
		if err != nil {
			return providers.Refund{}, c.classify(op, what, err)
		}
		if r.Metadata[MetadataOutRefundNo] == req.OutRefundNo {
			c.refundIDs.remember(req.OutRefundNo, r.ID)
			return c.refund(op, what, r, req)
		}
		if n++; n >= maxListedRefunds {
			return providers.Refund{}, providers.Retryable(op, "too_many_refunds", fmt.Errorf("%s at Stripe %s: not among the first %d refunds of the PaymentIntent", what, c.endpoint, maxListedRefunds))
		}
	}
	return providers.Refund{}, providers.Terminal(op, "not_found", fmt.Errorf("%w: %s at Stripe %s: the PaymentIntent has no refund with this out_refund_no", providers.ErrNotFound, what, c.endpoint))
}

// checkRefundable refuses, before any call, a request Stripe could only refuse, and returns
// the amount in Stripe's units.
func checkRefundable(req providers.RefundRequest) (int64, error) {
	switch {
	case req.OutRefundNo == "" || len(req.OutRefundNo) > maxIdempotencyKey || strings.TrimSpace(req.OutRefundNo) != req.OutRefundNo:
		return 0, fmt.Errorf("out_refund_no is empty, padded or longer than %d characters", maxIdempotencyKey)
	case req.AmountMinor <= 0 || !money.ValidCurrency(req.Currency):
		return 0, fmt.Errorf("amount %d %q is not a positive amount in an ISO 4217 currency", req.AmountMinor, req.Currency)
	}
	return toStripeAmount(req.AmountMinor, req.Currency)
}

// refundParams builds the refund request. It is a pure function of its arguments, so that a
// repeat sends exactly the parameters of the first attempt.
func (c *Client) refundParams(req providers.RefundRequest, pi string, amount int64) *stripego.RefundCreateParams {
	meta := map[string]string{
		MetadataOutRefundNo: req.OutRefundNo,
		MetadataNamespace:   c.namespace,
		MetadataProvider:    c.name,
	}
	if req.OutTradeNo != "" {
		meta[MetadataOutTradeNo] = req.OutTradeNo
	}
	if req.Reason != "" {
		meta[MetadataRefundReason] = truncateRunes(req.Reason, maxMetadataValue)
	}
	p := &stripego.RefundCreateParams{
		PaymentIntent: stripego.String(pi),
		Amount:        stripego.Int64(amount),
		Metadata:      meta,
	}
	if reason, ok := stripeReasons[strings.TrimSpace(req.Reason)]; ok {
		p.Reason = stripego.String(string(reason))
	}
	p.SetIdempotencyKey(req.OutRefundNo)
	return p
}

// paymentIntentOf is the PaymentIntent to refund: the transaction id recorded when the order
// was paid, else the session's payment_intent.
func (c *Client) paymentIntentOf(ctx context.Context, op string, req providers.RefundRequest) (string, error) {
	if req.TransactionID != "" {
		if !validObjectID("pi_", req.TransactionID) {
			return "", providers.Terminal(op, "invalid_id", fmt.Errorf("%s %q of out_trade_no %q: %q is not a PaymentIntent id", op, req.OutRefundNo, req.OutTradeNo, truncate(req.TransactionID, 64)))
		}
		return req.TransactionID, nil
	}
	s, what, err := c.session(ctx, op, req.OutTradeNo, req.ProviderPaymentID)
	if err != nil {
		return "", err
	}
	pi := ""
	if s.PaymentIntent != nil {
		pi = s.PaymentIntent.ID
	}
	if !validObjectID("pi_", pi) {
		// Stripe makes the PaymentIntent when the customer pays: without one nothing was paid.
		return "", providers.Terminal(op, "payment_not_paid", fmt.Errorf("%s at Stripe %s: session %s has no PaymentIntent, so nothing was paid that could be refunded", what, c.endpoint, s.ID))
	}
	return pi, nil
}

// refund maps a Stripe refund to providers.Refund, checking that it is the refund asked for.
func (c *Client) refund(op, what string, r *stripego.Refund, req providers.RefundRequest) (providers.Refund, error) {
	if r == nil || !validObjectID("re_", r.ID) && !validObjectID("pyr_", r.ID) {
		return providers.Refund{}, providers.Retryable(op, "bad_response", fmt.Errorf("%s at Stripe %s: the answer has no usable refund id", what, c.endpoint))
	}
	if orn := r.Metadata[MetadataOutRefundNo]; orn != "" && orn != req.OutRefundNo {
		return providers.Refund{}, providers.Terminal(op, "mismatch", fmt.Errorf("%s at Stripe %s: refund %s belongs to out_refund_no %q", what, c.endpoint, r.ID, truncate(orn, 64)))
	}
	if otn := r.Metadata[MetadataOutTradeNo]; otn != "" && req.OutTradeNo != "" && otn != req.OutTradeNo {
		return providers.Refund{}, providers.Terminal(op, "mismatch", fmt.Errorf("%s at Stripe %s: refund %s belongs to out_trade_no %q", what, c.endpoint, r.ID, truncate(otn, 64)))
	}
	status, failure, ok := refundStatus(string(r.Status), string(r.FailureReason))
	if !ok {
		return providers.Refund{}, providers.Retryable(op, "bad_response", fmt.Errorf("%s at Stripe %s: refund %s has unknown status %q", what, c.endpoint, r.ID, truncate(string(r.Status), 32)))
	}
	out := providers.Refund{ID: r.ID, OutRefundNo: req.OutRefundNo, OutTradeNo: req.OutTradeNo, Status: status, FailureReason: failure}
	if otn := r.Metadata[MetadataOutTradeNo]; otn != "" {
		out.OutTradeNo = otn
	}
	if r.Currency != "" {
		out.Currency = strings.ToUpper(string(r.Currency))
		minor, err := fromStripeAmount(r.Amount, out.Currency)
		if err != nil {
			return providers.Refund{}, providers.Retryable(op, "bad_response", fmt.Errorf("%s at Stripe %s: refund %s: %w", what, c.endpoint, r.ID, err))
		}
		out.AmountMinor = minor
	}
	return out, nil
}

// refundStatus maps Stripe's refund status. requires_action waits for the customer's bank
// details (some payment methods): still processing. canceled is a refund that will not happen.
func refundStatus(status, failureReason string) (providers.RefundStatus, string, bool) {
	switch status {
	case "pending", "requires_action":
		return providers.RefundProcessing, "", true
	case "succeeded":
		return providers.RefundSucceeded, "", true
	case "failed":
		if failureReason == "" {
			failureReason = "unknown"
		}
		return providers.RefundFailed, "Stripe: " + truncate(failureReason, 64), true
	case "canceled":
		return providers.RefundFailed, "Stripe: canceled", true
	}
	return "", "", false
}

// exceedsPayment reports Stripe's refusal of a refund above what is left of the payment.
func exceedsPayment(err error) bool {
	var se *stripego.Error
	if !errors.As(err, &se) || se.HTTPStatusCode != http.StatusBadRequest {
		return false
	}
	switch se.Code {
	case stripego.ErrorCodeChargeAlreadyRefunded, stripego.ErrorCodeAmountTooLarge:
		return true
	}
	// Stripe's "Refund amount ($20.00) is greater than unrefunded amount on charge ($10.00)"
	// comes without a code, on the amount parameter.
	return se.Code == "" && se.Param == "amount" && strings.Contains(se.Msg, "greater than")
}

// stripeCode is the code classify would give err.
func stripeCode(err error) string {
	var se *stripego.Error
	if !errors.As(err, &se) {
		return ""
	}
	if se.Code != "" {
		return string(se.Code)
	}
	return string(se.Type)
}

// validObjectID accepts Stripe's id alphabet after prefix, so an id read from a status field
// can never change a request path.
func validObjectID(prefix, id string) bool {
	if !strings.HasPrefix(id, prefix) || len(id) <= len(prefix) || len(id) > 255 {
		return false
	}
	for i := len(prefix); i < len(id); i++ {
		b := id[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_') {
			return false
		}
	}
	return true
}

// truncateRunes cuts s to at most n bytes without splitting a UTF-8 character.
func truncateRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// refundMemory remembers the refund id of each out_refund_no this process refunded or found,
// so QueryRefund can retrieve it directly instead of listing the PaymentIntent's refunds.
type refundMemory struct {
	mu sync.Mutex
	m  map[string]string
}

// maxRememberedRefunds bounds the memory; past it, QueryRefund lists instead.
const maxRememberedRefunds = 10000

func newRefundMemory() *refundMemory { return &refundMemory{m: map[string]string{}} }

func (m *refundMemory) remember(outRefundNo, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.m) >= maxRememberedRefunds {
		clear(m.m)
	}
	m.m[outRefundNo] = id
}

func (m *refundMemory) recall(outRefundNo string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.m[outRefundNo]
	return id, ok
}
