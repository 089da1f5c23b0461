package gateway

import "time"

// Stats is what GET /v1/stats answers: enough for tests to assert "exactly one payment per
// out_trade_no", "acknowledged on attempt 3" or "nothing left undelivered".
type Stats struct {
	PaymentsTotal        int            `json:"payments_total"`
	PaymentsByOutTradeNo map[string]int `json:"payments_by_out_trade_no"`
	// CreatesTotal counts accepted create requests, replays included; CreatesTotal minus
	// CreateReplaysTotal is the number of payments created.
	CreatesTotal         int64 `json:"creates_total"`
	CreateReplaysTotal   int64 `json:"create_replays_total"`
	CreateConflictsTotal int64 `json:"create_conflicts_total"`
	// RefundsTotal is the number of refunds made; RefundsByPayment details them per payment id.
	RefundsTotal     int                       `json:"refunds_total"`
	RefundsByPayment map[string]PaymentRefunds `json:"refunds_by_payment"`
	// RefundRequestsTotal counts accepted refund requests, replays included; the replays, the
	// conflicting reuses of an out_refund_no and the refusals for exceeding the payment are
	// counted apart.
	RefundRequestsTotal  int64      `json:"refund_requests_total"`
	RefundReplaysTotal   int64      `json:"refund_replays_total"`
	RefundConflictsTotal int64      `json:"refund_conflicts_total"`
	RefundRefusalsTotal  int64      `json:"refund_refusals_total"`
	Deliveries           []Delivery `json:"deliveries"`
	DeliveriesPending    int        `json:"deliveries_pending"`
	DeliveriesAcked      int        `json:"deliveries_acked"`
	DeliveriesGivenUp    int        `json:"deliveries_given_up"`
}

// PaymentRefunds is what was refunded of one payment.
type PaymentRefunds struct {
	OutTradeNo string `json:"out_trade_no"`
	// Count is the number of refunds, whatever their status.
	Count int `json:"count"`
	// RefundedTotal is the sum of the succeeded refunds; PendingTotal of those still pending.
	RefundedTotal int64 `json:"refunded_total"`
	PendingTotal  int64 `json:"pending_total"`
	// Executions counts, per out_refund_no, the refunds actually made with it. It is counted from
	// the refunds themselves, not from the idempotency records, so that a second execution of
	// one out_refund_no (a broken idempotency check) shows up as a count above 1.
	Executions map[string]int `json:"executions"`
}

// Delivery is one notification event and every attempt to deliver it.
type Delivery struct {
	EventID    string `json:"event_id"`
	Type       string `json:"type"`
	PaymentID  string `json:"payment_id"`
	OutTradeNo string `json:"out_trade_no"`
	// RefundID and OutRefundNo are set for refund events.
	RefundID    string    `json:"refund_id,omitempty"`
	OutRefundNo string    `json:"out_refund_no,omitempty"`
	Attempts    []Attempt `json:"attempts"`
	Acked       bool      `json:"acked"`
	GaveUp      bool      `json:"gave_up"`
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

// RefundsFor returns the refunds of the payment with the given out_trade_no.
func (s Stats) RefundsFor(outTradeNo string) PaymentRefunds {
	for _, pr := range s.RefundsByPayment {
		if pr.OutTradeNo == outTradeNo {
			return pr
		}
	}
	return PaymentRefunds{OutTradeNo: outTradeNo, Executions: map[string]int{}}
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
		RefundsTotal:         len(g.refunds),
		RefundsByPayment:     map[string]PaymentRefunds{},
		RefundRequestsTotal:  g.counters.RefundsCreatedTotal + g.counters.RefundReplaysTotal,
		RefundReplaysTotal:   g.counters.RefundReplaysTotal,
		RefundConflictsTotal: g.counters.RefundConflictsTotal,
		RefundRefusalsTotal:  g.counters.RefundRefusalsTotal,
		Deliveries:           make([]Delivery, 0, len(g.deliveries)),
	}
	for _, id := range g.refundOrder {
		rf := g.refunds[id]
		pr, ok := s.RefundsByPayment[rf.PaymentID]
		if !ok {
			pr = PaymentRefunds{OutTradeNo: rf.OutTradeNo, Executions: map[string]int{}}
		}
		pr.Count++
		pr.Executions[rf.OutRefundNo]++
		switch rf.Status {
		case RefundSucceeded:
			pr.RefundedTotal += rf.Amount
		case RefundPending:
			pr.PendingTotal += rf.Amount
		}
		s.RefundsByPayment[rf.PaymentID] = pr
	}
	// Counted from the payments themselves, not from the idempotency records, so that a broken
	// idempotency check would show up as a count above 1.
	for _, rec := range g.payments {
		s.PaymentsByOutTradeNo[rec.OutTradeNo]++
	}
	for _, d := range g.deliveries {
		s.Deliveries = append(s.Deliveries, Delivery{
			EventID: d.EventID, Type: d.Type, PaymentID: d.PaymentID, OutTradeNo: d.OutTradeNo,
			RefundID: d.RefundID, OutRefundNo: d.OutRefundNo,
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
