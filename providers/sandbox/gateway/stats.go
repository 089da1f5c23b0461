package gateway

import "time"

// Stats is what GET /v1/stats answers: enough for tests to assert "exactly one payment per
// out_trade_no", "acknowledged on attempt 3" or "nothing left undelivered".
type Stats struct {
	PaymentsTotal        int            `json:"payments_total"`
	PaymentsByOutTradeNo map[string]int `json:"payments_by_out_trade_no"`
	// CreatesTotal counts accepted create requests, replays included; CreatesTotal minus
	// CreateReplaysTotal is the number of payments created.
	CreatesTotal         int64      `json:"creates_total"`
	CreateReplaysTotal   int64      `json:"create_replays_total"`
	CreateConflictsTotal int64      `json:"create_conflicts_total"`
	Deliveries           []Delivery `json:"deliveries"`
	DeliveriesPending    int        `json:"deliveries_pending"`
	DeliveriesAcked      int        `json:"deliveries_acked"`
	DeliveriesGivenUp    int        `json:"deliveries_given_up"`
}

// Delivery is one notification event and every attempt to deliver it.
type Delivery struct {
	EventID    string    `json:"event_id"`
	Type       string    `json:"type"`
	PaymentID  string    `json:"payment_id"`
	OutTradeNo string    `json:"out_trade_no"`
	Attempts   []Attempt `json:"attempts"`
	Acked      bool      `json:"acked"`
	GaveUp     bool      `json:"gave_up"`
	// NextAttemptAt is set while the delivery is pending.
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
}

// Attempt is one POST of a notification, or one copy of it when Options.Duplicates > 1.
type Attempt struct {
	// Number is the attempt's position in the retry schedule, from 1; copies share it.
	Number int `json:"number"`
	// Copy numbers the concurrent duplicates of one attempt, from 1.
	Copy       int       `json:"copy"`
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code"`
	// Body is the first 64 bytes of the receiver's answer.
	Body    string `json:"body"`
	Error   string `json:"error,omitempty"`
	Dropped bool   `json:"dropped"`
	Acked   bool   `json:"acked"`
	// Manual marks an attempt made by POST /v1/events/{id}/resend, outside the schedule.
	Manual bool `json:"manual,omitempty"`
}

// AckedOn returns the number of the first acknowledged scheduled attempt, or 0 (manual resends
// are not counted).
func (d Delivery) AckedOn() int {
	for _, a := range d.Attempts {
		if a.Acked && !a.Manual {
			return a.Number
		}
	}
	return 0
}

// DeliveriesFor returns the deliveries of the payment with the given out_trade_no, oldest first.
func (s Stats) DeliveriesFor(outTradeNo string) []Delivery {
	var out []Delivery
	for _, d := range s.Deliveries {
		if d.OutTradeNo == outTradeNo {
			out = append(out, d)
		}
	}
	return out
}

// Stats returns a consistent copy of the gateway's counters and deliveries.
func (g *Gateway) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := Stats{
		PaymentsTotal:        len(g.payments),
		PaymentsByOutTradeNo: make(map[string]int, len(g.payments)),
		CreatesTotal:         g.counters.CreatesTotal,
		CreateReplaysTotal:   g.counters.CreateReplaysTotal,
		CreateConflictsTotal: g.counters.CreateConflictsTotal,
		Deliveries:           make([]Delivery, 0, len(g.deliveries)),
	}
	// Counted from the payments themselves, not from the idempotency records, so that a broken
	// idempotency check would show up as a count above 1.
	for _, rec := range g.payments {
		s.PaymentsByOutTradeNo[rec.OutTradeNo]++
	}
	for _, d := range g.deliveries {
		s.Deliveries = append(s.Deliveries, Delivery{
			EventID: d.EventID, Type: d.Type, PaymentID: d.PaymentID, OutTradeNo: d.OutTradeNo,
			Attempts: append(make([]Attempt, 0, len(d.Attempts)), d.Attempts...), Acked: d.Acked, GaveUp: d.GaveUp,
			NextAttemptAt: d.NextAttemptAt,
		})
		switch {
		case d.Acked:
			s.DeliveriesAcked++
		case d.GaveUp:
			s.DeliveriesGivenUp++
		default:
			s.DeliveriesPending++
		}
	}
	return s
}
