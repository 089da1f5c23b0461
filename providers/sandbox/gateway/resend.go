package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// resend makes one manual attempt of an event, as a provider dashboard's "resend" button does:
// sent once, now, re-signed, without chaos and outside the retry schedule. It is recorded with
// Manual set and Number equal to the scheduled attempts made so far. When it is acknowledged
// the delivery is done (a pending one stops retrying, a given-up one is rescued); when it is
// not, the delivery's schedule is unchanged.
func (g *Gateway) resend(ctx context.Context, eventID string) (Attempt, error) {
	g.mu.Lock()
	d, ok := g.deliveryByID[eventID]
	if !ok {
		g.mu.Unlock()
		return Attempt{}, &apiError{Status: http.StatusNotFound, Code: codeEventNotFound, Message: fmt.Sprintf("event %q not found", eventID)}
	}
	number, url, body := d.AttemptsMade, d.NotifyURL, d.Body
	g.mu.Unlock()

	// Closing the gateway interrupts the resend like any attempt.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(g.ctx, cancel)
	defer stop()

	at := g.now()
	sig, err := signPayload(g.key, at, body)
	if err != nil {
		return Attempt{}, err
	}
	a := g.post(ctx, url, sig, body)
	if ctx.Err() != nil {
		return Attempt{}, &apiError{Status: http.StatusServiceUnavailable, Code: codeUnavailable, Message: fmt.Sprintf("resend of event %s was interrupted", eventID)}
	}
	a.Number, a.Copy, a.At, a.Manual = number, 1, at, true

	g.mu.Lock()
	d.Attempts = append(d.Attempts, a)
	if a.Acked && !d.Acked {
		d.Acked, d.GaveUp = true, false
		d.NextAttemptAt = time.Time{}
	}
	if err := g.commitLocked(); err != nil {
		g.log.Error("resend not persisted", "event", eventID, "err", err)
	}
	g.log.Info("notification resent", "event", eventID, "status", a.StatusCode, "acked", a.Acked)
	return a, nil
}

func (g *Gateway) handleResend(w http.ResponseWriter, r *http.Request) {
	a, err := g.resend(r.Context(), r.PathValue("id"))
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			g.log.Error("resend", "event", r.PathValue("id"), "err", err)
		}
		writeError(w, err)
		return
	}
	// 200 whatever the receiver answered: the resend itself happened; the attempt says how.
	writeJSON(w, http.StatusOK, a)
}
