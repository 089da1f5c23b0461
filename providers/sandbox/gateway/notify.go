package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Notification event types.
const (
	EventPaymentSucceeded = "payment.succeeded"
	EventPaymentFailed    = "payment.failed"
	EventPaymentClosed    = "payment.closed"
	EventRefundSucceeded  = "refund.succeeded"
	EventRefundFailed     = "refund.failed"
)

// Event is the JSON body POSTed to a payment's notify_url.
type Event struct {
	// ID is the same across every retry of the event.
	ID      string  `json:"id"`
	Type    string  `json:"type"`
	Created int64   `json:"created"`
	Data    Payment `json:"data"`
}

// RefundEvent is the JSON body POSTed to a refund's notify_url (the refund request's, else the
// payment's): the same envelope as Event, with the refund as data.
type RefundEvent struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Created int64  `json:"created"`
	Data    Refund `json:"data"`
}

// ackBody is the only acknowledgement: a 2xx answer whose trimmed body is exactly this.
const ackBody = "success"

// recordedBodyBytes is how much of each answer the stats keep.
const recordedBodyBytes = 64

// delivery is one event on its way to a notify_url, with every attempt made so far.
type delivery struct {
	EventID    string `json:"event_id"`
	Type       string `json:"type"`
	PaymentID  string `json:"payment_id"`
	OutTradeNo string `json:"out_trade_no"`
	// RefundID and OutRefundNo are set for refund events.
	RefundID    string `json:"refund_id,omitempty"`
	OutRefundNo string `json:"out_refund_no,omitempty"`
	NotifyURL   string `json:"notify_url"`
	// Body is fixed at event time: retries resend the same bytes, re-signed.
	Body []byte `json:"body"`
	// DropChaos says whether Options.DropFirst applies to this delivery (see DropRatio).
	DropChaos    bool      `json:"drop_chaos,omitempty"`
	AttemptsMade int       `json:"attempts_made"`
	Attempts     []Attempt `json:"attempts"`
	Acked        bool      `json:"acked"`
	GaveUp       bool      `json:"gave_up"`
	// NextAttemptAt is wall-clock so that it survives a restart.
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
}

func (d *delivery) pending() bool { return !d.Acked && !d.GaveUp }

// newDeliveryLocked records the event for rec's current state; the caller enqueues it once the
// state is committed, so a notification is never sent for a change that was not persisted.
func (g *Gateway) newDeliveryLocked(eventType string, rec *record) *delivery {
	ev := Event{ID: newID("evt_"), Type: eventType, Created: g.now().Unix(), Data: rec.snapshot()}
	return g.addDeliveryLocked(ev.ID, ev, &delivery{Type: eventType, PaymentID: rec.ID, OutTradeNo: rec.OutTradeNo, NotifyURL: rec.NotifyURL})
}

// newRefundDeliveryLocked is newDeliveryLocked for a refund's result. It goes through the same
// schedule, signing and chaos as payment events.
func (g *Gateway) newRefundDeliveryLocked(eventType string, rf *refundRecord) *delivery {
	ev := RefundEvent{ID: newID("evt_"), Type: eventType, Created: g.now().Unix(), Data: rf.Refund}
	return g.addDeliveryLocked(ev.ID, ev, &delivery{
		Type: eventType, PaymentID: rf.PaymentID, OutTradeNo: rf.OutTradeNo,
		RefundID: rf.ID, OutRefundNo: rf.OutRefundNo, NotifyURL: rf.NotifyURL,
	})
}

// addDeliveryLocked encodes ev as d's body and records d.
func (g *Gateway) addDeliveryLocked(eventID string, ev any, d *delivery) *delivery {
	body, err := json.Marshal(ev)
	if err != nil {
		panic(fmt.Sprintf("sandbox gateway: encode event %s for payment %s: %v", eventID, d.PaymentID, err))
	}
	d.EventID, d.Body = eventID, body
	d.DropChaos, d.NextAttemptAt = g.chaos.chooseDrop(), time.Now()
	g.deliveries = append(g.deliveries, d)
	g.deliveryByID[d.EventID] = d
	return d
}

// enqueue schedules the first attempt of a new delivery.
func (g *Gateway) enqueue(eventID string) {
	g.sched.add(eventID, time.Now().Add(g.chaos.delay()))
}

// attempt makes the next attempt of a delivery: record it as dropped, or sign and send it (as
// many copies as Options.Duplicates), then schedule the retry or finish the delivery.
func (g *Gateway) attempt(ctx context.Context, eventID string) {
	g.mu.Lock()
	d, ok := g.deliveryByID[eventID]
	if !ok || !d.pending() {
		g.mu.Unlock()
		return
	}
	number := d.AttemptsMade + 1
	drop := d.DropChaos && number <= g.opts.DropFirst
	url, body := d.NotifyURL, d.Body
	g.mu.Unlock()

	var results []Attempt
	if drop {
		results = []Attempt{{Number: number, Copy: 1, At: g.now(), Dropped: true}}
	} else {
		results = g.send(ctx, number, url, body)
		if ctx.Err() != nil {
			// Interrupted by Close: not a real attempt. The delivery stays due and is made again
			// when the gateway restarts from its state file.
			return
		}
	}
	g.finishAttempt(eventID, number, results)
}

// send POSTs the event, Options.Duplicates times concurrently, all copies with the same
// signature: a receiver sees true duplicates, as when a gateway retries after a lost answer.
func (g *Gateway) send(ctx context.Context, number int, url string, body []byte) []Attempt {
	at := g.now()
	sig, err := signPayload(g.key, at, body)
	if err != nil {
		return []Attempt{{Number: number, Copy: 1, At: at, Error: err.Error()}}
	}
	results := make([]Attempt, g.opts.Duplicates)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			a := g.post(ctx, url, sig, body)
			a.Number, a.Copy, a.At = number, i+1, at
			results[i] = a
		})
	}
	wg.Wait()
	return results
}

// post makes one HTTP request and judges the answer.
func (g *Gateway) post(ctx context.Context, url, sig string, body []byte) Attempt {
	ctx, cancel := context.WithTimeout(ctx, g.opts.AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Attempt{Error: fmt.Sprintf("build request to notify_url: %v", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "kubepay-sandbox-gateway/1")
	req.Header.Set(SignatureHeader, sig)
	resp, err := g.opts.HTTPClient.Do(req)
	if err != nil {
		return Attempt{Error: err.Error()}
	}
	defer resp.Body.Close()
	// Read a little more than "success" plus whitespace needs, to judge and record the answer,
	// and drain a bounded amount so the connection can be reused.
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	a := Attempt{StatusCode: resp.StatusCode, Body: strings.ToValidUTF8(string(answer[:min(len(answer), recordedBodyBytes)]), "\uFFFD")}
	if err != nil {
		a.Error = fmt.Sprintf("read answer: %v", err)
		return a
	}
	a.Acked = resp.StatusCode >= 200 && resp.StatusCode < 300 && string(bytes.TrimSpace(answer)) == ackBody
	return a
}

// finishAttempt records an attempt's results and either ends the delivery (acked, or the retry
// schedule is exhausted) or schedules the next attempt.
func (g *Gateway) finishAttempt(eventID string, number int, results []Attempt) {
	g.mu.Lock()
	d := g.deliveryByID[eventID]
	d.AttemptsMade = number
	d.Attempts = append(d.Attempts, results...)
	for _, a := range results {
		d.Acked = d.Acked || a.Acked
	}
	var next time.Time
	switch {
	case d.Acked:
		d.NextAttemptAt = time.Time{}
	case number-1 < len(g.opts.RetrySchedule):
		next = time.Now().Add(g.opts.scaled(g.opts.RetrySchedule[number-1]) + g.chaos.delay())
		d.NextAttemptAt = next
	default:
		d.GaveUp = true
		d.NextAttemptAt = time.Time{}
	}
	acked, gaveUp, otn := d.Acked, d.GaveUp, d.OutTradeNo
	if err := g.commitLocked(); err != nil {
		// Keep delivering: losing durability must not also lose the notification.
		g.log.Error("delivery state not persisted", "event", eventID, "err", err)
	}
	last := results[len(results)-1]
	switch {
	case acked:
		g.log.Info("notification acknowledged", "event", eventID, "outTradeNo", otn, "attempt", number)
	case gaveUp:
		g.log.Warn("notification given up", "event", eventID, "outTradeNo", otn, "attempts", number)
	default:
		g.log.Debug("notification not acknowledged", "event", eventID, "outTradeNo", otn, "attempt", number,
			"status", last.StatusCode, "dropped", last.Dropped, "err", last.Error, "retryAt", next)
	}
	if !next.IsZero() {
		g.sched.add(eventID, next)
	}
}
