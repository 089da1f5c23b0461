package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/kubepay/kubepay/providers/sandbox/gateway"
)

const (
	paidOrder    = "coffee-order-1001"
	expiredOrder = "tea-order-1002"
)

var payForm = regexp.MustCompile(`<form method="post" action="([^"]+)"><button name="([^"]+)" value="succeeded">Pay</button>`)

// story plays and checks each step; the first step that does not happen as printed fails it.
// The refunds come between the forged notification and the second order's expiry so that they
// use the 20 seconds that order waits to expire instead of adding to the demo's time.
func (d *demo) story(ctx context.Context) error {
	for _, part := range []func(context.Context) error{d.paidStory, d.forgedStory, d.refundStory, d.expiryStory, d.latePaymentStory} {
		if err := part(ctx); err != nil {
			return err
		}
	}
	return d.listOrders()
}

// paidStory is steps 1 to 4: the first order is paid through the checkout page, and the
// duplicate of its notification changes nothing.
func (d *demo) paidStory(ctx context.Context) error {
	step("1. The order gets its checkout URL")
	if err := d.waitPhase(ctx, paidOrder, "AwaitingPayment", 90*time.Second); err != nil {
		return err
	}
	payURL := d.kc.jsonpath("paymentorder", paidOrder, ".status.paymentURL")
	otn := d.kc.jsonpath("paymentorder", paidOrder, ".status.outTradeNo")
	info("%s is AwaitingPayment, out_trade_no %s", paidOrder, otn)
	info("checkout URL (open it in a browser): %s", payURL)

	step("2. The customer pays with the checkout page's own Pay button")
	page, err := get(payURL)
	if err != nil {
		return fmt.Errorf("opening the checkout page: %w", err)
	}
	m := payForm.FindStringSubmatch(page)
	if m == nil {
		return fmt.Errorf("the checkout page at %s has no Pay form", payURL)
	}
	resp, err := http.PostForm(d.gatewayURL+m[1], url.Values{m[2]: {"succeeded"}})
	if err != nil {
		return fmt.Errorf("pressing Pay: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pressing Pay: HTTP %d", resp.StatusCode)
	}
	info("POST %s %s=succeeded -> HTTP %d", m[1], m[2], resp.StatusCode)

	step("3. The gateway's signed notification arrives and the order becomes Paid")
	if err := d.waitPhase(ctx, paidOrder, "Paid", 60*time.Second); err != nil {
		return err
	}
	source := d.kc.jsonpath("paymentorder", paidOrder, ".status.history[-1:].source")
	evt := d.kc.jsonpath("paymentorder", paidOrder, ".status.lastNotification.id")
	if source != "notification" || evt == "" {
		return fmt.Errorf("%s was paid by %q (notification %q), want by the notification", paidOrder, source, evt)
	}
	info("%s is Paid at %s, by notification %s", paidOrder, d.kc.jsonpath("paymentorder", paidOrder, ".status.paidAt"), evt)
	historyBefore := d.kc.jsonpath("paymentorder", paidOrder, ".status.history")
	rvBefore := d.kc.jsonpath("paymentorder", paidOrder, ".metadata.resourceVersion")

	step("4. The same notification is delivered again: answered success, nothing changes")
	if err := d.resend(evt); err != nil {
		return err
	}
	answer, err := d.waitRedelivery(ctx, evt)
	if err != nil {
		return err
	}
	info("redelivery of %s answered %s", evt, answer)
	if h := d.kc.jsonpath("paymentorder", paidOrder, ".status.history"); h != historyBefore {
		return fmt.Errorf("the duplicate changed the order's history")
	}
	if rv := d.kc.jsonpath("paymentorder", paidOrder, ".metadata.resourceVersion"); rv != rvBefore {
		return fmt.Errorf("the duplicate wrote the order (resourceVersion %s -> %s)", rvBefore, rv)
	}
	info("%s unchanged: one Paid transition, resourceVersion %s", paidOrder, rvBefore)
	return nil
}

// forgedStory is step 5: a forged notification cannot pay the second order.
func (d *demo) forgedStory(ctx context.Context) error {
	step("5. A forged notification (signed with someone else's key) is refused")
	if err := d.waitPhase(ctx, expiredOrder, "AwaitingPayment", 60*time.Second); err != nil {
		return err
	}
	code, body, err := d.forge()
	if err != nil {
		return err
	}
	if code/100 == 2 || strings.TrimSpace(body) == "success" {
		return fmt.Errorf("the forged notification was answered %d %q", code, body)
	}
	if p := d.kc.jsonpath("paymentorder", expiredOrder, ".status.phase"); p != "AwaitingPayment" {
		return fmt.Errorf("the forged notification moved %s to %s", expiredOrder, p)
	}
	info("answered HTTP %d %q; %s is still AwaitingPayment", code, strings.TrimSpace(body), expiredOrder)
	return nil
}

// expiryStory is step 9: the second order expires unpaid and its payment is closed.
func (d *demo) expiryStory(ctx context.Context) error {
	step("9. The second order expires unpaid and is closed at the gateway")
	expires := d.kc.jsonpath("paymentorder", expiredOrder, ".status.expiresAt")
	info("%s expires at %s", expiredOrder, expires)
	if err := d.waitPhase(ctx, expiredOrder, "Expired", 2*time.Minute); err != nil {
		return err
	}
	id := d.kc.jsonpath("paymentorder", expiredOrder, ".status.providerPaymentID")
	status, err := d.gatewayPaymentStatus(id)
	if err != nil {
		return err
	}
	if status != "closed" {
		return fmt.Errorf("the gateway shows payment %s as %q, want closed", id, status)
	}
	info("%s is Expired; the gateway shows payment %s %s", expiredOrder, id, status)
	return nil
}

// listOrders is step 11: the orders and refunds as kubectl shows them, and the events of both
// orders. The tables are checked too: they are what an operator reads.
func (d *demo) listOrders() error {
	step("11. kubectl get paymentorders; kubectl get paymentrefunds")
	orders, err := d.kc.run("", "get", "paymentorders", "-n", demoNamespace, "-o", "wide")
	if err != nil {
		return err
	}
	fmt.Print(indent(orders))
	if err := checkRow(orders, "paymentorders", paidOrder, "Refunded", "25.00"); err != nil {
		return err
	}
	if err := checkRow(orders, "paymentorders", expiredOrder, "Expired", "1500"); err != nil {
		return err
	}
	refunds, err := d.kc.run("", "get", "paymentrefunds", "-n", demoNamespace, "-o", "wide")
	if err != nil {
		return err
	}
	fmt.Print(indent(refunds))
	for _, r := range d.refunds {
		if err := checkRow(refunds, "paymentrefunds", r.name, r.phase); err != nil {
			return err
		}
	}
	for _, o := range []string{paidOrder, expiredOrder} {
		if ev, err := d.kc.run("", "get", "events", "-n", demoNamespace, "--field-selector", "involvedObject.name="+o, "--sort-by", ".metadata.creationTimestamp"); err == nil {
			info("events of %s:", o)
			fmt.Print(indent(ev))
		}
	}
	return nil
}

// checkRow checks that a kubectl table has a row for name whose columns include every want.
func checkRow(table, what, name string, want ...string) error {
	for _, line := range strings.Split(table, "\n") {
		cols := strings.Fields(line)
		if len(cols) == 0 || cols[0] != name {
			continue
		}
		for _, w := range want {
			if !slices.Contains(cols, w) {
				return fmt.Errorf("kubectl get %s shows %s as %q, want a column %q", what, name, strings.Join(cols, " "), w)
			}
		}
		return nil
	}
	return fmt.Errorf("kubectl get %s has no row for %s", what, name)
}

func (d *demo) waitPhase(ctx context.Context, name, phase string, timeout time.Duration) error {
	err := d.waitField(ctx, "paymentorder", name, ".status.phase", phase, timeout)
	if err != nil {
		reason := d.kc.jsonpath("paymentorder", name, `.status.conditions[?(@.type=="Ready")].message`)
		return fmt.Errorf("%w (Ready: %s)", err, reason)
	}
	return nil
}

// waitField polls one field of an object until it reads want, failing early if a process the
// demo started has exited (nothing would move the object any more).
func (d *demo) waitField(ctx context.Context, kind, name, path, want string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		if last = d.kc.jsonpath(kind, name, path); last == want {
			return nil
		}
		for _, p := range d.procs {
			if p.Exited() {
				return fmt.Errorf("%s exited; see %s", p.Name, p.Log)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s %s has %s %q after %v, want %q", kind, name, path, last, timeout, want)
}

// resend asks the gateway to deliver an event again, as a provider dashboard's "resend" does.
func (d *demo) resend(eventID string) error {
	req, _ := http.NewRequest(http.MethodPost, d.gatewayURL+"/v1/events/"+eventID+"/resend", nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("asking the gateway to resend %s: %w", eventID, err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("asking the gateway to resend %s: HTTP %d", eventID, resp.StatusCode)
	}
	return nil
}

// waitRedelivery waits for the second acknowledged attempt of the event and returns its answer.
func (d *demo) waitRedelivery(ctx context.Context, eventID string) (string, error) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var s gateway.Stats
		if raw, err := get(d.gatewayURL + "/v1/stats"); err == nil && json.Unmarshal([]byte(raw), &s) == nil {
			for _, dl := range s.Deliveries {
				acked := 0
				var last gateway.Attempt
				for _, a := range dl.Attempts {
					if a.Acked {
						acked++
						last = a
					}
				}
				if dl.EventID == eventID && acked >= 2 {
					return fmt.Sprintf("HTTP %d %q", last.StatusCode, last.Body), nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return "", fmt.Errorf("the gateway did not redeliver %s within 30s", eventID)
}

// forge posts a correctly shaped, freshly signed notification, but signed with a key the
// gateway never had, claiming the second order was paid.
func (d *demo) forge() (int, string, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return 0, "", err
	}
	body, _ := json.Marshal(map[string]any{
		"id": "evt_forged", "type": "payment.succeeded", "created": time.Now().Unix(),
		"data": map[string]any{
			"id":           d.kc.jsonpath("paymentorder", expiredOrder, ".status.providerPaymentID"),
			"out_trade_no": d.kc.jsonpath("paymentorder", expiredOrder, ".status.outTradeNo"),
			"status":       "succeeded", "amount": 1500, "currency": "JPY",
		},
	})
	req, _ := http.NewRequest(http.MethodPost, d.callbackURL+"/notify/"+demoNamespace+"/sandbox", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sandbox-Signature", gateway.SignPayload(key, time.Now(), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("posting the forged notification: %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(answer), nil
}

func (d *demo) gatewayPaymentStatus(id string) (string, error) {
	req, _ := http.NewRequest(http.MethodGet, d.gatewayURL+"/v1/payments/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var p struct {
		Status string `json:"status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		return "", fmt.Errorf("reading payment %s from the gateway: %w", id, err)
	}
	return p.Status, nil
}

func get(u string) (string, error) {
	resp, err := http.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	return string(b), err
}
