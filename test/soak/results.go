package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
)

// Results are the figures of one run; every value is a number (refunds_refused_by_reason is
// numbers by reason), so runs can be compared by tools.
type Results struct {
	Orders  int `json:"orders"`
	Paid    int `json:"paid"`
	Expired int `json:"expired"`
	// DoubleApplied: orders with more than one history entry to Paid.
	DoubleApplied int `json:"double_applied"`
	// Lost: paid at the gateway but not Paid, or stuck in a non-terminal phase.
	Lost              int `json:"lost"`
	DuplicatePayments int `json:"duplicate_payments"`
	// Deliveries counts every delivery attempt the gateway recorded (copies and drops included).
	Deliveries int     `json:"deliveries"`
	Restarts   int     `json:"restarts"`
	ElapsedS   float64 `json:"elapsed_s"`

	Stuck           int `json:"stuck"`
	WrongState      int `json:"wrong_state"`
	MissingPayments int `json:"missing_payments"`
	GatewayPayments int `json:"gateway_payments"`
	PaidMismatch    int `json:"paid_mismatch"`
	CreateReplays   int `json:"create_replays"`
	CreateConflicts int `json:"create_conflicts"`
	PaidAtGateway   int `json:"paid_at_gateway"`
	ClosedAtGateway int `json:"closed_at_gateway"`

	NotificationEvents int `json:"notification_events"`
	AckedDeliveries    int `json:"acked_deliveries"`
	DeliveriesPending  int `json:"deliveries_pending"`
	DeliveriesGivenUp  int `json:"deliveries_given_up"`
	LostNotifications  int `json:"lost_notifications"`
	DroppedAttempts    int `json:"dropped_attempts"`

	// Who moved orders to Paid / Expired, from status.history sources.
	NotificationsApplied  int `json:"notifications_applied"`
	QueryApplied          int `json:"query_applied"`
	ControllerApplied     int `json:"controller_applied"`
	ExpiredByController   int `json:"expired_by_controller"`
	ExpiredByNotification int `json:"expired_by_notification"`

	// Worst waits, in seconds, from status.history.
	MaxToAwaitingS     float64 `json:"max_create_to_awaiting_s"`
	MaxPayToPaidS      float64 `json:"max_pay_to_paid_s"`
	MaxExpiryLatenessS float64 `json:"max_expiry_lateness_s"`

	// Refunds the soak asked for (PaymentRefunds it created), how they ended, and why the refused
	// ones were refused (the reason of their last transition).
	// RefundsPlanned counts the refunds of the orders that reached the phase their refunds wait
	// for; RefundPlansNotRun the orders with refunds planned that never did (their customer's
	// payment came too late).
	RefundsPlanned         int            `json:"refunds_planned"`
	RefundPlansNotRun      int            `json:"refund_plans_not_run"`
	RefundsRequested       int            `json:"refunds_requested"`
	RefundsSucceeded       int            `json:"refunds_succeeded"`
	RefundsRefused         int            `json:"refunds_refused"`
	RefundsRefusedByReason map[string]int `json:"refunds_refused_by_reason"`
	// RefundsUnexpected: orders whose refunds did not end as planned (count, reasons, total).
	RefundsUnexpected int `json:"refunds_unexpected"`
	RefundsStuck      int `json:"refunds_stuck"`
	// RefundMismatch: refunds whose result kubepay and the gateway disagree on.
	RefundMismatch int `json:"refund_mismatch"`
	// RefundLedgerMismatch: orders whose refundedAmount, reservations or phase disagree with
	// their Succeeded refunds or the gateway's refunded total.
	RefundLedgerMismatch int `json:"refund_ledger_mismatch"`
	// OverRefunds: orders whose payment the gateway refunded beyond its amount, or whose
	// refundedAmount exceeds their amount.
	OverRefunds int `json:"over_refunds"`
	// RefundsExecutedTwice: out_refund_nos the gateway executed more than once.
	RefundsExecutedTwice    int     `json:"refunds_executed_twice"`
	PartiallyRefundedOrders int     `json:"partially_refunded_orders"`
	RefundedOrders          int     `json:"refunded_orders"`
	GatewayRefunds          int     `json:"gateway_refunds"`
	GatewayRefundReplays    int     `json:"gateway_refund_replays"`
	GatewayRefundRefusals   int     `json:"gateway_refund_refusals"`
	GatewayRefundConflicts  int     `json:"gateway_refund_conflicts"`
	MaxRefundS              float64 `json:"max_refund_s"`

	// Late payments: orders paid at the gateway after they expired, the late payments the
	// orders record, kubepay's own refunds of them that succeeded, and the late payments not
	// (fully, or not verifiably) refunded at the end.
	LatePaidAtGateway       int `json:"late_paid_at_gateway"`
	LatePayments            int `json:"late_payments"`
	LatePaymentRefunds      int `json:"late_payment_refunds"`
	LatePaymentsUnrefunded  int `json:"late_payments_unrefunded"`
	LateRefundsCreatedTwice int `json:"late_refunds_created_twice"`
	CustomerPaidLate        int `json:"customer_paid_late"`

	CustomerPaid    int `json:"customer_paid"`
	CustomerRefused int `json:"customer_refused"`
	CustomerGaveUp  int `json:"customer_gave_up"`
	ProxyRequests   int `json:"proxy_requests"`
	Proxy502        int `json:"proxy_502"`
	UnexpectedExits int `json:"unexpected_exits"`
	FailedChecks    int `json:"failed_checks"`

	// Failures are printed, not written: results.json stays numeric.
	Failures []string `json:"-"`
}

func writeResults(path string, r *Results) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(raw, '\n'), 0o644)
}

// printTable prints every figure with what it must be for the soak to pass.
func printTable(r *Results) {
	type tableRow struct {
		k, want string
		v       float64
	}
	rows := []tableRow{
		{"orders", "", float64(r.Orders)},
		{"paid (Paid once; maybe refunded since)", "== paid_at_gateway", float64(r.Paid)},
		{"paid_at_gateway", "", float64(r.PaidAtGateway)},
		{"expired (closed, or paid late)", "== closed + late_paid", float64(r.Expired)},
		{"closed_at_gateway", "", float64(r.ClosedAtGateway)},
		{"double_applied", "0", float64(r.DoubleApplied)},
		{"lost", "0", float64(r.Lost)},
		{"stuck (not terminal)", "0", float64(r.Stuck)},
		{"wrong_state", "0", float64(r.WrongState)},
		{"gateway_payments", "== orders", float64(r.GatewayPayments)},
		{"duplicate_payments", "0", float64(r.DuplicatePayments)},
		{"missing_payments", "0", float64(r.MissingPayments)},
		{"paid_mismatch (amount, id, paidAt)", "0", float64(r.PaidMismatch)},
		{"create_replays (idempotent)", "", float64(r.CreateReplays)},
		{"create_conflicts", "0", float64(r.CreateConflicts)},
		{"notification_events", "", float64(r.NotificationEvents)},
		{"deliveries (attempts)", "", float64(r.Deliveries)},
		{"dropped_attempts", "", float64(r.DroppedAttempts)},
		{"acked_deliveries", "== events", float64(r.AckedDeliveries)},
		{"deliveries_pending", "0", float64(r.DeliveriesPending)},
		{"deliveries_given_up", "0", float64(r.DeliveriesGivenUp)},
		{"Paid by notification", "", float64(r.NotificationsApplied)},
		{"Paid by query", "", float64(r.QueryApplied)},
		{"Paid by controller (create replay)", "", float64(r.ControllerApplied)},
		{"Expired by controller", "", float64(r.ExpiredByController)},
		{"Expired by notification", "", float64(r.ExpiredByNotification)},
		{"max_create_to_awaiting_s", "", r.MaxToAwaitingS},
		{"max_pay_to_paid_s", "", r.MaxPayToPaidS},
		{"max_expiry_lateness_s", "", r.MaxExpiryLatenessS},
		{"refunds_planned", "", float64(r.RefundsPlanned)},
		{"refund_plans_not_run (order not paid)", "", float64(r.RefundPlansNotRun)},
		{"refunds_requested", "== refunds_planned", float64(r.RefundsRequested)},
		{"refunds_succeeded", "", float64(r.RefundsSucceeded)},
		{"refunds_refused", "", float64(r.RefundsRefused)},
	}
	for _, reason := range slices.Sorted(maps.Keys(r.RefundsRefusedByReason)) {
		rows = append(rows, tableRow{"  refused " + reason, "", float64(r.RefundsRefusedByReason[reason])})
	}
	rows = append(rows, []tableRow{
		{"refunds_unexpected (not as planned)", "0", float64(r.RefundsUnexpected)},
		{"refunds_stuck (not terminal)", "0", float64(r.RefundsStuck)},
		{"refund_mismatch (kubepay vs gateway)", "0", float64(r.RefundMismatch)},
		{"refund_ledger_mismatch", "0", float64(r.RefundLedgerMismatch)},
		{"over_refunds", "0", float64(r.OverRefunds)},
		{"refunds_executed_twice", "0", float64(r.RefundsExecutedTwice)},
		{"partially_refunded / refunded orders", "", float64(r.PartiallyRefundedOrders)},
		{"gateway_refunds", "== succeeded + late", float64(r.GatewayRefunds)},
		{"gateway_refund_replays (idempotent)", "", float64(r.GatewayRefundReplays)},
		{"gateway_refund_refusals", "0", float64(r.GatewayRefundRefusals)},
		{"gateway_refund_conflicts", "0", float64(r.GatewayRefundConflicts)},
		{"max_refund_s", "", r.MaxRefundS},
		{"late_paid_at_gateway", "== customer_paid_late", float64(r.LatePaidAtGateway)},
		{"late_payments (recorded)", "== late_paid_at_gateway", float64(r.LatePayments)},
		{"late_payment_refunds (by kubepay)", "== late_payments", float64(r.LatePaymentRefunds)},
		{"late_payments_unrefunded", "0", float64(r.LatePaymentsUnrefunded)},
		{"late_refunds_created_twice", "0", float64(r.LateRefundsCreatedTwice)},
		{"customer paid / refused / gave up", "", float64(r.CustomerPaid)},
		{"proxy requests", "", float64(r.ProxyRequests)},
		{"proxy 502 (replica down)", "", float64(r.Proxy502)},
		{"restarts (2 managers + gateway)", "3", float64(r.Restarts)},
		{"unexpected_exits", "0", float64(r.UnexpectedExits)},
		{"elapsed_s", "< 600", r.ElapsedS},
	}...)
	fmt.Printf("\n%-38s %10s   %s\n", "result", "value", "must be")
	for _, row := range rows {
		v := fmt.Sprintf("%.0f", row.v)
		if row.v != float64(int64(row.v)) {
			v = fmt.Sprintf("%.1f", row.v)
		}
		switch row.k {
		case "customer paid / refused / gave up":
			v = fmt.Sprintf("%d/%d/%d", r.CustomerPaid, r.CustomerRefused, r.CustomerGaveUp)
		case "partially_refunded / refunded orders":
			v = fmt.Sprintf("%d/%d", r.PartiallyRefundedOrders, r.RefundedOrders)
		}
		fmt.Printf("%-38s %10s   %s\n", row.k, v, row.want)
	}
	if len(r.Failures) > 0 {
		fmt.Println("\nfailed checks:")
		for _, f := range r.Failures {
			fmt.Println("  ✗ " + f)
		}
	}
}
