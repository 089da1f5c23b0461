package gateway

import (
	"fmt"
	"net/http"
)

// API error codes.
const (
	codeInvalidRequest = "invalid_request"
	codeUnauthorized   = "unauthorized"
	// The not-found codes name what is missing, so a client can tell the gateway's own
	// "no such payment" from a 404 of a proxy or a wrong path, which says nothing about it.
	codePaymentNotFound     = "payment_not_found"
	codeRefundNotFound      = "refund_not_found"
	codeEventNotFound       = "event_not_found"
	codePaymentNotPaid      = "payment_not_paid"
	codeRefundExceeds       = "refund_exceeds_payment"
	codeRefundNotPending    = "refund_not_pending"
	codeIdempotencyConflict = "idempotency_conflict"
	codeAlreadyPaid         = "already_paid"
	codeNotOpen             = "payment_not_open"
	codeExpired             = "expired"
	codeTooLarge            = "request_too_large"
	codeInternal            = "internal_error"
	codeUnavailable         = "unavailable"
)

// apiError is an API failure, answered as {"error":{"code":...,"message":...}}.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func paymentNotFound(id string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: codePaymentNotFound, Message: fmt.Sprintf("payment %q not found", id)}
}

// create creates the payment of req, or returns the existing one when the same request was made
// before (replay true). It holds mu from lookup to insert, so concurrent identical creates yield
// exactly one payment. baseURL is used for payment_url when Options.PublicBaseURL is empty.
func (g *Gateway) create(req canonicalRequest, baseURL string) (p Payment, replay bool, err error) {
	fp := req.fingerprint()
	g.mu.Lock()
	if idem, ok := g.idempotency[req.OutTradeNo]; ok {
		if idem.Fingerprint != fp {
			g.counters.CreateConflictsTotal++
			g.mu.Unlock()
			return Payment{}, false, &apiError{Status: http.StatusConflict, Code: codeIdempotencyConflict,
				Message: fmt.Sprintf("Idempotency-Key %q was already used with a different request (payment %s)", req.OutTradeNo, idem.PaymentID)}
		}
		g.counters.CreatesTotal++
		g.counters.CreateReplaysTotal++
		p = g.payments[idem.PaymentID].snapshot()
		g.mu.Unlock()
		return p, true, nil
	}
	now := g.now()
	if !req.ExpiresAt.IsZero() && !req.ExpiresAt.After(now) {
		g.mu.Unlock()
		return Payment{}, false, &apiError{Status: http.StatusBadRequest, Code: codeInvalidRequest,
			Message: fmt.Sprintf("expires_at %s is not in the future", req.ExpiresAt.Format("2006-01-02T15:04:05Z07:00"))}
	}
	if g.opts.PublicBaseURL != "" {
		baseURL = g.opts.PublicBaseURL
	}
	id := newID("pay_")
	rec := &record{
		Payment: Payment{
			ID: id, OutTradeNo: req.OutTradeNo, Status: StatusOpen, Amount: req.Amount,
			Currency: req.Currency, Subject: req.Subject, Channel: req.Channel, Metadata: req.Metadata,
			PaymentURL: baseURL + "/checkout/" + id, CreatedAt: now, ExpiresAt: req.ExpiresAt,
		},
		NotifyURL: req.NotifyURL,
		ReturnURL: req.ReturnURL,
	}
	g.payments[id] = rec
	g.paymentOrder = append(g.paymentOrder, id)
	g.idempotency[req.OutTradeNo] = idempotencyRecord{PaymentID: id, Fingerprint: fp}
	g.counters.CreatesTotal++
	p = rec.snapshot()
	if err := g.commitLocked(); err != nil {
		return Payment{}, false, err
	}
	g.log.Info("payment created", "payment", id, "outTradeNo", req.OutTradeNo, "amount", req.Amount, "currency", req.Currency)
	return p, false, nil
}

// get returns the payment with the given id.
func (g *Gateway) get(id string) (Payment, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	rec, ok := g.payments[id]
	if !ok {
		return Payment{}, paymentNotFound(id)
	}
	return rec.snapshot(), nil
}

// lookup returns the payment created with the given out_trade_no.
func (g *Gateway) lookup(outTradeNo string) (Payment, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	idem, ok := g.idempotency[outTradeNo]
	if !ok {
		return Payment{}, &apiError{Status: http.StatusNotFound, Code: codePaymentNotFound,
			Message: fmt.Sprintf("no payment with out_trade_no %q", outTradeNo)}
	}
	return g.payments[idem.PaymentID].snapshot(), nil
}

// closePayment closes an open payment and notifies payment.closed. Closing a closed or failed
// payment is a no-op (both are final and unpaid); closing a paid one is refused.
func (g *Gateway) closePayment(id string) (Payment, error) {
	g.mu.Lock()
	rec, ok := g.payments[id]
	if !ok {
		g.mu.Unlock()
		return Payment{}, paymentNotFound(id)
	}
	switch rec.Status {
	case StatusSucceeded:
		g.mu.Unlock()
		return Payment{}, &apiError{Status: http.StatusConflict, Code: codeAlreadyPaid, Message: fmt.Sprintf("payment %s is paid and cannot be closed", id)}
	case StatusClosed, StatusFailed:
		p := rec.snapshot()
		g.mu.Unlock()
		return p, nil
	}
	rec.Status = StatusClosed
	rec.ClosedAt = g.now()
	p := rec.snapshot()
	d := g.newDeliveryLocked(EventPaymentClosed, rec)
	err := g.commitLocked()
	// The change is made in memory even if it could not be persisted: notify it either way.
	g.enqueue(d.EventID)
	if err != nil {
		return Payment{}, err
	}
	g.log.Info("payment closed", "payment", id, "outTradeNo", p.OutTradeNo)
	return p, nil
}

// pay simulates the customer: an open, unexpired payment becomes succeeded or failed and the
// merchant is notified. The gateway never closes expired payments itself; the merchant must.
// It also returns the payment's return_url, for the customer's result page.
//
// late is a test aid reproducing the race real providers have: the customer's money arrives
// after the merchant closed the payment or after it expired (a bank transfer that was already
// under way, a wallet that confirmed late, Alipay's page that stayed open). With late, outcome
// must be "succeeded", and any payment that is not paid yet (open, expired, closed or failed)
// becomes succeeded and is notified as usual; Payment.Late records it.
func (g *Gateway) pay(id, outcome string, late bool) (p Payment, returnURL string, err error) {
	if outcome != StatusSucceeded && outcome != StatusFailed {
		return Payment{}, "", &apiError{Status: http.StatusBadRequest, Code: codeInvalidRequest,
			Message: fmt.Sprintf("outcome %q must be %q or %q", outcome, StatusSucceeded, StatusFailed)}
	}
	if late && outcome != StatusSucceeded {
		return Payment{}, "", &apiError{Status: http.StatusBadRequest, Code: codeInvalidRequest,
			Message: fmt.Sprintf("a late payment is money arriving: outcome must be %q, got %q", StatusSucceeded, outcome)}
	}
	g.mu.Lock()
	rec, ok := g.payments[id]
	if !ok {
		g.mu.Unlock()
		return Payment{}, "", paymentNotFound(id)
	}
	now := g.now()
	switch {
	case rec.Status == StatusSucceeded:
		g.mu.Unlock()
		return Payment{}, "", &apiError{Status: http.StatusConflict, Code: codeAlreadyPaid, Message: fmt.Sprintf("payment %s is already paid", id)}
	case late:
		// Whatever the merchant did meanwhile, the money arrived.
		rec.Late = rec.Status != StatusOpen || rec.expired(now)
	case rec.Status != StatusOpen:
		status := rec.Status
		g.mu.Unlock()
		return Payment{}, "", &apiError{Status: http.StatusConflict, Code: codeNotOpen, Message: fmt.Sprintf("payment %s is %s, not open", id, status)}
	case rec.expired(now):
		g.mu.Unlock()
		return Payment{}, "", &apiError{Status: http.StatusConflict, Code: codeExpired, Message: fmt.Sprintf("payment %s expired at %s", id, rec.ExpiresAt.Format("2006-01-02T15:04:05Z07:00"))}
	}
	rec.Status = outcome
	event := EventPaymentFailed
	if outcome == StatusSucceeded {
		rec.PaidAt = now
		event = EventPaymentSucceeded
	}
	p, returnURL = rec.snapshot(), rec.ReturnURL
	d := g.newDeliveryLocked(event, rec)
	err = g.commitLocked()
	// The change is made in memory even if it could not be persisted: notify it either way.
	g.enqueue(d.EventID)
	if err != nil {
		return Payment{}, "", err
	}
	g.log.Info("payment "+outcome, "payment", id, "outTradeNo", p.OutTradeNo)
	return p, returnURL, nil
}

// commitLocked persists the state mutated under mu, then releases mu. The write happens outside
// the lock so readers are not held up by fsync; persister orders concurrent writes.
func (g *Gateway) commitLocked() error {
	gen, data, err := g.snapshotLocked()
	g.mu.Unlock()
	if err == nil {
		err = g.persist.write(gen, data)
	}
	if err != nil {
		g.log.Error("persist sandbox gateway state", "stateFile", g.opts.StateFile, "err", err)
		return &apiError{Status: http.StatusInternalServerError, Code: codeInternal, Message: "the gateway could not persist its state"}
	}
	return nil
}

// pendingCount is the number of deliveries neither acknowledged nor given up.
func (g *Gateway) pendingCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, d := range g.deliveries {
		if d.pending() {
			n++
		}
	}
	return n
}
