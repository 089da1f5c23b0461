package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/kubepay/kubepay/providers/sandbox/gateway"
)

// The refunds of the paid order (25.00 CNY): a partial one, one more than is left, the rest.
const (
	partialRefund = paidOrder + "-refund-1"
	excessRefund  = paidOrder + "-refund-2"
	restRefund    = paidOrder + "-refund-3"
	// refundWait bounds a refund's way to its result: the gateway settles it after
	// gatewayRefundDelay and notifies at once, so seconds are plenty even on a busy machine.
	refundWait = 30 * time.Second
)

// demoRefund is a refund the story made and the phase it ended in, for the final table.
type demoRefund struct{ name, phase string }

// refundStory is steps 6 to 8: part of the paid order is refunded, a refund of more than is left
// is refused by kubepay before the gateway hears of it, and the rest is refunded.
func (d *demo) refundStory(ctx context.Context) error {
	paymentID := d.kc.jsonpath("paymentorder", paidOrder, ".status.providerPaymentID")

	step("6. Part of the paid order is refunded: a PaymentRefund of 10.00 of its 25.00 CNY")
	orn, err := d.refund(ctx, partialRefund, "10.00", "One pastry was sold out", "RF_ORDER_1001_1")
	if err != nil {
		return err
	}
	if err := d.checkOrderRefunded(ctx, "PartiallyRefunded", "10.00", "1000"); err != nil {
		return err
	}
	if err := d.checkGatewayRefunds(paymentID, 1, 1000, orn); err != nil {
		return err
	}
	info("%s is PartiallyRefunded, refundedAmount 10.00; the gateway refunded 1000 of payment %s once (%s)", paidOrder, paymentID, orn)

	if err := d.refusedRefund(ctx, paymentID); err != nil {
		return err
	}

	step("8. The 15.00 left is refunded: the order is Refunded")
	orn, err = d.refund(ctx, restRefund, "15.00", "Order cancelled by the customer", "RF_ORDER_1001_3")
	if err != nil {
		return err
	}
	if err := d.checkOrderRefunded(ctx, "Refunded", "25.00", "2500"); err != nil {
		return err
	}
	if err := d.checkGatewayRefunds(paymentID, 2, 2500, orn); err != nil {
		return err
	}
	info("%s is Refunded, refundedAmount 25.00: all of payment %s went back, each refund made once", paidOrder, paymentID)
	return d.showRefunds()
}

// refusedRefund is step 7: a refund beyond what is left fails with ExceedsRefundable, the
// gateway is never asked, and the order's ledger keeps nothing reserved for it.
func (d *demo) refusedRefund(ctx context.Context, paymentID string) error {
	before, err := d.gatewayStats()
	if err != nil {
		return err
	}
	step("7. A refund of 20.00 would give back more than the 15.00 left: refused before the gateway hears of it")
	if err := d.applyRefund(excessRefund, "20.00", "Customer asked twice", "RF_ORDER_1001_2"); err != nil {
		return err
	}
	if err := d.waitField(ctx, "paymentrefund", excessRefund, ".status.phase", "Failed", refundWait); err != nil {
		return err
	}
	d.refunds = append(d.refunds, demoRefund{excessRefund, "Failed"})
	reason := d.kc.jsonpath("paymentrefund", excessRefund, ".status.history[-1:].reason")
	msg := d.kc.jsonpath("paymentrefund", excessRefund, `.status.conditions[?(@.type=="Ready")].message`)
	if reason != "ExceedsRefundable" {
		return fmt.Errorf("paymentrefund %s failed with reason %q (%s), want ExceedsRefundable", excessRefund, reason, msg)
	}
	after, err := d.gatewayStats()
	if err != nil {
		return err
	}
	if after.RefundRequestsTotal != before.RefundRequestsTotal || after.RefundsByPayment[paymentID].Count != 1 {
		return fmt.Errorf("the refused paymentrefund %s reached the gateway: refund requests %d -> %d, refunds of payment %s %d",
			excessRefund, before.RefundRequestsTotal, after.RefundRequestsTotal, paymentID, after.RefundsByPayment[paymentID].Count)
	}
	if got := d.kc.jsonpath("paymentorder", paidOrder, ".status.refunds[*].name"); got != partialRefund {
		return fmt.Errorf("paymentorder %s lists refunds %q in status.refunds after the refusal, want only %s", paidOrder, got, partialRefund)
	}
	if ph := d.kc.jsonpath("paymentorder", paidOrder, ".status.phase"); ph != "PartiallyRefunded" {
		return fmt.Errorf("the refused refund moved paymentorder %s to %q", paidOrder, ph)
	}
	info("%s Failed, reason ExceedsRefundable: %s", excessRefund, msg)
	info("the gateway got no request; %s still reserves only %s", paidOrder, partialRefund)
	return nil
}

// showRefunds lists the refunds and the order with kubectl's short names, and checks the tables.
func (d *demo) showRefunds() error {
	info("$ kubectl get pref -n %s", demoNamespace)
	pref, err := d.kc.run("", "get", "pref", "-n", demoNamespace)
	if err != nil {
		return err
	}
	fmt.Print(indent(pref))
	for _, r := range d.refunds {
		if err := checkRow(pref, "pref", r.name, r.phase, paidOrder); err != nil {
			return err
		}
	}
	info("$ kubectl get pord -n %s %s", demoNamespace, paidOrder)
	pord, err := d.kc.run("", "get", "pord", "-n", demoNamespace, paidOrder)
	if err != nil {
		return err
	}
	fmt.Print(indent(pord))
	return checkRow(pord, "pord", paidOrder, "Refunded", "25.00")
}

// refund applies a PaymentRefund of the paid order, waits until it Succeeded and tells how it
// got there; it returns the refund's out_refund_no.
func (d *demo) refund(ctx context.Context, name, amount, reason, refundID string) (string, error) {
	if err := d.applyRefund(name, amount, reason, refundID); err != nil {
		return "", err
	}
	if err := d.waitField(ctx, "paymentrefund", name, ".status.phase", "Succeeded", refundWait); err != nil {
		msg := d.kc.jsonpath("paymentrefund", name, `.status.conditions[?(@.type=="Ready")].message`)
		return "", fmt.Errorf("%w (Ready: %s)", err, msg)
	}
	d.refunds = append(d.refunds, demoRefund{name, "Succeeded"})
	orn := d.kc.jsonpath("paymentrefund", name, ".status.outRefundNo")
	path := strings.ReplaceAll(d.kc.jsonpath("paymentrefund", name, ".status.history[*].to"), " ", " → ")
	by := d.kc.jsonpath("paymentrefund", name, ".status.history[-1:].source")
	if n := d.kc.jsonpath("paymentrefund", name, ".status.history[-1:].notificationID"); n != "" {
		by += " " + n
	}
	if d.kc.jsonpath("paymentrefund", name, ".status.refundedAt") == "" || orn == "" {
		return "", fmt.Errorf("paymentrefund %s Succeeded without refundedAt or outRefundNo", name)
	}
	info("%s: %s (by %s), out_refund_no %s, gateway refund %s", name, path, by, orn,
		d.kc.jsonpath("paymentrefund", name, ".status.providerRefundID"))
	return orn, nil
}

// applyRefund applies a PaymentRefund of the paid order with kubectl and prints it.
func (d *demo) applyRefund(name, amount, reason, refundID string) error {
	manifest := fmt.Sprintf(`apiVersion: kubepay.io/v1alpha1
kind: PaymentRefund
metadata:
  name: %s
spec:
  orderRef:
    name: %s
  amount: %q
  reason: %s
  refundID: %s   # the out_refund_no: the provider's idempotency key
`, name, paidOrder, amount, reason, refundID)
	info("$ kubectl apply -n %s -f -", demoNamespace)
	fmt.Print(indent(indent(manifest)))
	out, err := d.kc.run(manifest, "apply", "-n", demoNamespace, "-f", "-")
	if err != nil {
		return fmt.Errorf("applying paymentrefund %s: %w", name, err)
	}
	fmt.Print(indent(out))
	return nil
}

// checkOrderRefunded waits for the paid order's phase and checks what it says was refunded.
func (d *demo) checkOrderRefunded(ctx context.Context, phase, amount, minor string) error {
	if err := d.waitPhase(ctx, paidOrder, phase, refundWait); err != nil {
		return err
	}
	got := d.kc.jsonpath("paymentorder", paidOrder, ".status.refundedAmount")
	gotMinor := d.kc.jsonpath("paymentorder", paidOrder, ".status.refundedAmountMinor")
	if got != amount || gotMinor != minor {
		return fmt.Errorf("paymentorder %s is %s with refundedAmount %q (%s minor), want %s (%s)", paidOrder, phase, got, gotMinor, amount, minor)
	}
	return nil
}

// checkGatewayRefunds checks the gateway's own record of a payment's refunds: how many, how much
// refunded, nothing pending, and the refund just made executed exactly once.
func (d *demo) checkGatewayRefunds(paymentID string, count int, total int64, outRefundNo string) error {
	st, err := d.gatewayStats()
	if err != nil {
		return err
	}
	pr := st.RefundsByPayment[paymentID]
	if pr.Count != count || pr.RefundedTotal != total || pr.PendingTotal != 0 || pr.Executions[outRefundNo] != 1 {
		return fmt.Errorf("the gateway has %d refunds of payment %s, %d refunded and %d pending, out_refund_no %s executed %d times; want %d refunds, %d refunded, 0 pending, executed once",
			pr.Count, paymentID, pr.RefundedTotal, pr.PendingTotal, outRefundNo, pr.Executions[outRefundNo], count, total)
	}
	return nil
}

// latePaymentStory is step 10: the expired order's payment is paid after all, through the
// gateway's late-pay test aid (the race real providers have: money that arrives after the
// close). The order stays Expired, records the money, and kubepay refunds it by itself, once.
func (d *demo) latePaymentStory(ctx context.Context) error {
	step("10. Money arrives late for the expired order: recorded, and refunded by kubepay itself")
	id := d.kc.jsonpath("paymentorder", expiredOrder, ".status.providerPaymentID")
	p, code, err := d.payLate(id)
	if err != nil {
		return err
	}
	if code != http.StatusOK || p.Status != gateway.StatusSucceeded || !p.Late {
		return fmt.Errorf("paying payment %s of %s late: HTTP %d, payment %q late %v; want 200, succeeded, late", id, expiredOrder, code, p.Status, p.Late)
	}
	info("POST /v1/payments/%s/pay {\"outcome\":\"succeeded\",\"late\":true} -> HTTP %d: the closed payment succeeded after all", id, code)

	if err := d.waitField(ctx, "paymentorder", expiredOrder, ".status.latePayments[0].id", id, refundWait); err != nil {
		return err
	}
	if ph := d.kc.jsonpath("paymentorder", expiredOrder, ".status.phase"); ph != "Expired" {
		return fmt.Errorf("the late payment moved paymentorder %s to %q, want it to stay Expired", expiredOrder, ph)
	}
	amount := d.kc.jsonpath("paymentorder", expiredOrder, ".status.latePayments[0].amount")
	if amount != "1500" {
		return fmt.Errorf("paymentorder %s records late payment %s of %q, want 1500", expiredOrder, id, amount)
	}
	info("%s stays Expired and records late payment %s of %s JPY (by %s %s)", expiredOrder, id, amount,
		d.kc.jsonpath("paymentorder", expiredOrder, ".status.latePayments[0].source"),
		d.kc.jsonpath("paymentorder", expiredOrder, ".status.latePayments[0].notificationID"))

	name, err := d.lateRefund(ctx, id)
	if err != nil {
		return err
	}
	if err := d.waitField(ctx, "paymentrefund", name, ".status.phase", "Succeeded", refundWait); err != nil {
		return err
	}
	d.refunds = append(d.refunds, demoRefund{name, "Succeeded"})
	if err := d.waitField(ctx, "paymentorder", expiredOrder, ".status.latePayments[0].refunded", "true", refundWait); err != nil {
		return err
	}
	if c := d.kc.jsonpath("paymentorder", expiredOrder, `.status.conditions[?(@.type=="LatePayment")].status`); c != "False" {
		return fmt.Errorf("paymentorder %s has condition LatePayment %q after its late payment was refunded, want False", expiredOrder, c)
	}
	if ph := d.kc.jsonpath("paymentorder", expiredOrder, ".status.phase"); ph != "Expired" {
		return fmt.Errorf("refunding the late payment moved paymentorder %s to %q, want it to stay Expired", expiredOrder, ph)
	}
	orn := d.kc.jsonpath("paymentrefund", name, ".status.outRefundNo")
	if err := d.checkGatewayRefunds(id, 1, 1500, orn); err != nil {
		return err
	}
	// Created once: the order's later reconciles find the refund by its name, never make another.
	names, err := d.refundsOf(expiredOrder)
	if err != nil {
		return err
	}
	if len(names) != 1 {
		return fmt.Errorf("paymentorder %s has refunds %v, want exactly %s", expiredOrder, names, name)
	}
	info("%s Succeeded; the late payment is marked refunded, LatePayment is False, %s is still Expired", name, expiredOrder)
	info("the gateway refunded all 1500 of payment %s, once (%s)", id, orn)
	return nil
}

// lateRefund waits for the one PaymentRefund kubepay creates for the late payment and checks
// what it is: labelled with the order, named after it, refunding that late payment in full, and
// the one the order's record points at.
func (d *demo) lateRefund(ctx context.Context, latePaymentID string) (string, error) {
	deadline := time.Now().Add(refundWait)
	var names []string
	for len(names) == 0 {
		var err error
		if names, err = d.refundsOf(expiredOrder); err != nil {
			return "", err
		}
		if len(names) > 0 {
			break
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("kubepay created no PaymentRefund labelled kubepay.io/order=%s within %v of the late payment", expiredOrder, refundWait)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	if len(names) != 1 {
		return "", fmt.Errorf("kubepay created %d PaymentRefunds for the late payment of %s (%v), want 1", len(names), expiredOrder, names)
	}
	name := names[0]
	spec := d.kc.jsonpath("paymentrefund", name, ".spec.latePaymentID") + " " + d.kc.jsonpath("paymentrefund", name, ".spec.amount")
	if !strings.HasPrefix(name, expiredOrder+"-late-") || spec != latePaymentID+" 1500" {
		return "", fmt.Errorf("paymentrefund %s refunds late payment and amount %q, want a name %s-late-<hash> refunding %s 1500", name, spec, expiredOrder, latePaymentID)
	}
	if err := d.waitField(ctx, "paymentorder", expiredOrder, ".status.latePayments[0].refund", name, refundWait); err != nil {
		return "", err
	}
	info("kubepay created paymentrefund %s (label kubepay.io/order=%s, spec.latePaymentID %s, amount 1500)", name, expiredOrder, latePaymentID)
	return name, nil
}

// refundsOf lists the PaymentRefunds labelled with the order, as kubepay labels the ones it makes.
func (d *demo) refundsOf(order string) ([]string, error) {
	out, err := d.kc.run("", "get", "paymentrefunds", "-n", demoNamespace, "-l", "kubepay.io/order="+order, "-o", "jsonpath={.items[*].metadata.name}")
	if err != nil {
		return nil, err
	}
	return strings.Fields(out), nil
}

// payLate asks the gateway, as the customer's bank, to pay a closed payment after all.
func (d *demo) payLate(paymentID string) (gateway.Payment, int, error) {
	var p gateway.Payment
	resp, err := http.Post(d.gatewayURL+"/v1/payments/"+paymentID+"/pay", "application/json",
		strings.NewReader(`{"outcome":"succeeded","late":true}`))
	if err != nil {
		return p, 0, fmt.Errorf("paying payment %s late: %w", paymentID, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return p, resp.StatusCode, fmt.Errorf("paying payment %s late: HTTP %d %s", paymentID, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return p, resp.StatusCode, fmt.Errorf("reading the answer to paying payment %s late: %w", paymentID, err)
	}
	return p, resp.StatusCode, nil
}

// gatewayStats reads the gateway's counters and refund records.
func (d *demo) gatewayStats() (gateway.Stats, error) {
	var st gateway.Stats
	raw, err := get(d.gatewayURL + "/v1/stats")
	if err != nil {
		return st, fmt.Errorf("reading the gateway's stats: %w", err)
	}
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return st, fmt.Errorf("decoding the gateway's stats: %w", err)
	}
	return st, nil
}
