package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"
)

// Refund statuses. A refund leaves "pending" exactly once and never comes back.
const (
	RefundPending   = "pending"
	RefundSucceeded = "succeeded"
	RefundFailed    = "failed"
)

// DefaultRefundDelay is how long a refund stays pending before the gateway settles it by itself
// when Options.RefundDelay is zero: long enough for a test or a demo to see "pending", short
// enough not to slow either down.
const DefaultRefundDelay = 200 * time.Millisecond

// Refund is the refund object of the HTTP API and of refund notification data.
type Refund struct {
	ID          string `json:"id"`
	PaymentID   string `json:"payment_id"`
	OutTradeNo  string `json:"out_trade_no"`
	OutRefundNo string `json:"out_refund_no"`
	// Amount is in minor units of Currency, the payment's currency.
	Amount        int64     `json:"amount"`
	Currency      string    `json:"currency"`
	Status        string    `json:"status"`
	Reason        string    `json:"reason,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	SucceededAt   time.Time `json:"succeeded_at,omitzero"`
	FailedAt      time.Time `json:"failed_at,omitzero"`
	FailureReason string    `json:"failure_reason,omitempty"`
}

// refundRecord is a refund as stored: the API object plus what only the gateway sees.
type refundRecord struct {
	Refund
	// NotifyURL is where the result goes: the refund request's, else the payment's.
	NotifyURL string `json:"notify_url"`
	// SettleAt is when the gateway settles the pending refund by itself (zero: never, the test
	// settles it with POST /v1/refunds/{id}/complete). Wall-clock, so it survives a restart.
	SettleAt time.Time `json:"settle_at,omitzero"`
}

// refundIdempotency remembers which refund request an out_refund_no was first used with.
type refundIdempotency struct {
	RefundID    string `json:"refund_id"`
	Fingerprint string `json:"fingerprint"`
}

// RefundRequest is the body of POST /v1/payments/{id}/refunds.
type RefundRequest struct {
	OutRefundNo string `json:"out_refund_no"`
	// Amount is in minor units of the payment's currency.
	Amount    int64  `json:"amount"`
	Reason    string `json:"reason,omitempty"`
	NotifyURL string `json:"notify_url,omitempty"`
}

// Limits of a refund request.
const (
	maxOutRefundNo = 64
	maxReason      = 256
)

// canonicalRefund is a validated refund request with the payment it is for: the fingerprint of
// an out_refund_no covers the payment too, so the same number used on another payment conflicts.
type canonicalRefund struct {
	PaymentID   string `json:"payment_id"`
	OutRefundNo string `json:"out_refund_no"`
	Amount      int64  `json:"amount"`
	Reason      string `json:"reason"`
	NotifyURL   string `json:"notify_url"`
}

func (r RefundRequest) canonical(paymentID string) (canonicalRefund, error) {
	invalid := func(format string, a ...any) (canonicalRefund, error) {
		return canonicalRefund{}, &apiError{Status: http.StatusBadRequest, Code: codeInvalidRequest, Message: fmt.Sprintf(format, a...)}
	}
	if n := len(r.OutRefundNo); n == 0 || n > maxOutRefundNo {
		return invalid("out_refund_no must have 1 to %d characters, got %d", maxOutRefundNo, n)
	}
	for i := 0; i < len(r.OutRefundNo); i++ {
		if b := r.OutRefundNo[i]; b <= ' ' || b > '~' {
			return invalid("out_refund_no %q must be printable ASCII without spaces", r.OutRefundNo)
		}
	}
	if r.Amount <= 0 {
		return invalid("amount must be a positive number of minor units, got %d", r.Amount)
	}
	if utf8.RuneCountInString(r.Reason) > maxReason || !utf8.ValidString(r.Reason) {
		return invalid("reason must be valid UTF-8 of at most %d characters", maxReason)
	}
	if r.NotifyURL != "" && !httpURL(r.NotifyURL) {
		return invalid("notify_url %q is not an absolute http(s) URL", r.NotifyURL)
	}
	return canonicalRefund{PaymentID: paymentID, OutRefundNo: r.OutRefundNo, Amount: r.Amount, Reason: r.Reason, NotifyURL: r.NotifyURL}, nil
}

func (c canonicalRefund) fingerprint() string {
	b, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("sandbox gateway: fingerprint of refund request %q: %v", c.OutRefundNo, err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func refundNotFound(what string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: codeRefundNotFound, Message: what + " not found"}
}

// refundDelay is how long a new refund stays pending before the gateway settles it; negative
// means never by itself.
func (o Options) refundDelay() time.Duration {
	if o.RefundDelay == 0 {
		return DefaultRefundDelay
	}
	return o.RefundDelay
}

// createRefund refunds part of a paid payment, or returns the refund made before with the same
// out_refund_no and request (replay true). Everything from the idempotency check to the insert
// happens under mu: concurrent requests, with the same key or not, see each other's refunds,
// so the refunds of a payment can never add up to more than its amount.
func (g *Gateway) createRefund(req canonicalRefund) (r Refund, replay bool, err error) {
	fp := req.fingerprint()
	g.mu.Lock()
	if idem, ok := g.refundIdem[req.OutRefundNo]; ok {
		if idem.Fingerprint != fp {
			g.counters.RefundConflictsTotal++
			g.mu.Unlock()
			return Refund{}, false, &apiError{Status: http.StatusConflict, Code: codeIdempotencyConflict,
				Message: fmt.Sprintf("out_refund_no %q was already used with a different refund request (refund %s)", req.OutRefundNo, idem.RefundID)}
		}
		g.counters.RefundReplaysTotal++
		r = g.refunds[idem.RefundID].Refund
		g.mu.Unlock()
		return r, true, nil
	}
	pay, ok := g.payments[req.PaymentID]
	if !ok {
		g.mu.Unlock()
		return Refund{}, false, paymentNotFound(req.PaymentID)
	}
	if pay.Status != StatusSucceeded {
		status := pay.Status
		g.mu.Unlock()
		return Refund{}, false, &apiError{Status: http.StatusConflict, Code: codePaymentNotPaid,
			Message: fmt.Sprintf("payment %s is %s: only a paid payment can be refunded", req.PaymentID, status)}
	}
	// Pending refunds count as refunded: their money is promised until they fail.
	committed := g.committedRefundsLocked(req.PaymentID)
	if req.Amount > pay.Amount-committed {
		g.counters.RefundRefusalsTotal++
		g.mu.Unlock()
		return Refund{}, false, &apiError{Status: http.StatusConflict, Code: codeRefundExceeds,
			Message: fmt.Sprintf("refund %q of %d would bring payment %s above its amount %d (%d refunded or pending)", req.OutRefundNo, req.Amount, req.PaymentID, pay.Amount, committed)}
	}
	now := g.now()
	rec := &refundRecord{
		Refund: Refund{
			ID: newID("re_"), PaymentID: pay.ID, OutTradeNo: pay.OutTradeNo, OutRefundNo: req.OutRefundNo,
			Amount: req.Amount, Currency: pay.Currency, Status: RefundPending, Reason: req.Reason, CreatedAt: now,
		},
		NotifyURL: req.NotifyURL,
	}
	if rec.NotifyURL == "" {
		rec.NotifyURL = pay.NotifyURL
	}
	if d := g.opts.refundDelay(); d > 0 {
		rec.SettleAt = time.Now().Add(d)
	}
	g.refunds[rec.ID] = rec
	g.refundOrder = append(g.refundOrder, rec.ID)
	g.refundIdem[req.OutRefundNo] = refundIdempotency{RefundID: rec.ID, Fingerprint: fp}
	g.counters.RefundsCreatedTotal++
	r = rec.Refund
	settleAt := rec.SettleAt
	if err := g.commitLocked(); err != nil {
		return Refund{}, false, err
	}
	if !settleAt.IsZero() {
		g.sched.addSettle(r.ID, settleAt)
	}
	g.log.Info("refund created", "refund", r.ID, "payment", r.PaymentID, "outRefundNo", r.OutRefundNo, "amount", r.Amount)
	return r, false, nil
}

// committedRefundsLocked is the money of a payment that is refunded or promised by a pending
// refund.
func (g *Gateway) committedRefundsLocked(paymentID string) int64 {
	var sum int64
	for _, id := range g.refundOrder {
		if rf := g.refunds[id]; rf.PaymentID == paymentID && rf.Status != RefundFailed {
			sum += rf.Amount
		}
	}
	return sum
}

// getRefund returns the refund with the given id.
func (g *Gateway) getRefund(id string) (Refund, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	rec, ok := g.refunds[id]
	if !ok {
		return Refund{}, refundNotFound(fmt.Sprintf("refund %q", id))
	}
	return rec.Refund, nil
}

// lookupRefund returns the refund made with the given out_refund_no.
func (g *Gateway) lookupRefund(outRefundNo string) (Refund, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	idem, ok := g.refundIdem[outRefundNo]
	if !ok {
		return Refund{}, refundNotFound(fmt.Sprintf("refund with out_refund_no %q", outRefundNo))
	}
	return g.refunds[idem.RefundID].Refund, nil
}

// settleRefund ends a pending refund with outcome (succeeded or failed) and notifies the result.
// Settling a refund again with the outcome it has is a no-op (auto is the scheduler's call,
// which never overrides a refund a test settled by hand); with another outcome it is refused.
func (g *Gateway) settleRefund(id, outcome, reason string, auto bool) (Refund, error) {
	if outcome != RefundSucceeded && outcome != RefundFailed {
		return Refund{}, &apiError{Status: http.StatusBadRequest, Code: codeInvalidRequest,
			Message: fmt.Sprintf("outcome %q must be %q or %q", outcome, RefundSucceeded, RefundFailed)}
	}
	if utf8.RuneCountInString(reason) > maxReason || !utf8.ValidString(reason) {
		return Refund{}, &apiError{Status: http.StatusBadRequest, Code: codeInvalidRequest, Message: fmt.Sprintf("reason must be valid UTF-8 of at most %d characters", maxReason)}
	}
	g.mu.Lock()
	rec, ok := g.refunds[id]
	switch {
	case !ok:
		g.mu.Unlock()
		return Refund{}, refundNotFound(fmt.Sprintf("refund %q", id))
	case rec.Status == outcome || (auto && rec.Status != RefundPending):
		r := rec.Refund
		g.mu.Unlock()
		return r, nil
	case rec.Status != RefundPending:
		status := rec.Status
		g.mu.Unlock()
		return Refund{}, &apiError{Status: http.StatusConflict, Code: codeRefundNotPending, Message: fmt.Sprintf("refund %s is already %s", id, status)}
	}
	now := g.now()
	rec.Status = outcome
	rec.SettleAt = time.Time{}
	event := EventRefundSucceeded
	if outcome == RefundSucceeded {
		rec.SucceededAt = now
	} else {
		event = EventRefundFailed
		rec.FailedAt = now
		rec.FailureReason = reason
		if rec.FailureReason == "" {
			rec.FailureReason = "refused by the sandbox bank"
		}
	}
	r := rec.Refund
	d := g.newRefundDeliveryLocked(event, rec)
	err := g.commitLocked()
	// The change is made in memory even if it could not be persisted: notify it either way.
	g.enqueue(d.EventID)
	if err != nil {
		return Refund{}, err
	}
	g.log.Info("refund "+outcome, "refund", id, "payment", r.PaymentID, "outRefundNo", r.OutRefundNo)
	return r, nil
}

// settleDue is the scheduler's automatic settlement of a refund whose delay has passed.
func (g *Gateway) settleDue(id string) {
	if _, err := g.settleRefund(id, RefundSucceeded, "", true); err != nil {
		g.log.Error("settle refund", "refund", id, "err", err)
	}
}

func (g *Gateway) handleCreateRefund(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		writeError(w, &apiError{Status: http.StatusBadRequest, Code: codeInvalidRequest, Message: "the Idempotency-Key header is required and must equal out_refund_no"})
		return
	}
	var req RefundRequest
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if key != req.OutRefundNo {
		writeError(w, &apiError{Status: http.StatusBadRequest, Code: codeInvalidRequest,
			Message: fmt.Sprintf("Idempotency-Key %q does not equal out_refund_no %q", key, req.OutRefundNo)})
		return
	}
	canon, err := req.canonical(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	rf, replay, err := g.createRefund(canon)
	if err != nil {
		writeError(w, err)
		return
	}
	status := http.StatusCreated
	if replay {
		status = http.StatusOK
	}
	writeJSON(w, status, rf)
}

func (g *Gateway) handleGetRefund(w http.ResponseWriter, r *http.Request) {
	rf, err := g.getRefund(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rf)
}

func (g *Gateway) handleLookupRefund(w http.ResponseWriter, r *http.Request) {
	orn := r.URL.Query().Get("out_refund_no")
	if orn == "" {
		writeError(w, &apiError{Status: http.StatusBadRequest, Code: codeInvalidRequest, Message: "the out_refund_no query parameter is required"})
		return
	}
	rf, err := g.lookupRefund(orn)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rf)
}

// handleCompleteRefund is the test aid that settles a refund by hand, as the bank behind a real
// provider would: {"outcome":"succeeded"|"failed","reason":"..."}.
func (g *Gateway) handleCompleteRefund(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Outcome string `json:"outcome"`
		Reason  string `json:"reason,omitempty"`
	}
	if err := decodeJSON(r, &body); err != nil {
		writeError(w, err)
		return
	}
	rf, err := g.settleRefund(r.PathValue("id"), body.Outcome, body.Reason, false)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rf)
}
