package webhook_test

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/testenv"
	"github.com/kubepay/kubepay/internal/testfixture"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
	"github.com/kubepay/kubepay/providers/sandbox/gatewaytest"
	"github.com/kubepay/kubepay/webhook"
)

// noQuery keeps the controller's query fallback out of the way: these tests prove notifications.
var noQuery = testfixture.Provider{QueryInitial: 10 * time.Minute, QueryMax: 10 * time.Minute}

func withCallback(p testfixture.Provider) testfixture.Provider {
	if mgr == nil {
		return p // -short: no manager; testfixture.New skips the test
	}
	p.CallbackBaseURL = mgr.CallbackURL
	return p
}

var formRE = regexp.MustCompile(`<form method="post" action="([^"]+)"><button name="([^"]+)" value="succeeded">Pay</button>`)

// TestFullFlowPaidThroughCheckout: the customer presses Pay on the hosted checkout page; the
// gateway's signed notification reaches the callback server and the order becomes Paid.
func TestFullFlowPaidThroughCheckout(t *testing.T) {
	f := testfixture.New(t, env, gateway.Options{}, withCallback(noQuery))
	f.Order("coffee", "25.00", "CNY", 30*time.Minute)
	o := f.WaitPhase("coffee", v1.PhaseAwaitingPayment, 30*time.Second)

	resp, err := http.Get(o.Status.PaymentURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := formRE.FindStringSubmatch(string(page))
	if m == nil {
		t.Fatalf("checkout page has no Pay form:\n%s", page)
	}
	payAt := time.Now()
	resp, err = http.PostForm(f.URL+m[1], url.Values{m[2]: {"succeeded"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("pressing Pay: HTTP %d", resp.StatusCode)
	}
	o = f.WaitPhase("coffee", v1.PhasePaid, 10*time.Second)
	t.Logf("notification to Paid: %v after the customer paid", time.Since(payAt))

	last := o.Status.History[len(o.Status.History)-1]
	if last.Source != v1.SourceNotification || last.From != v1.PhaseAwaitingPayment || last.NotificationID == "" {
		t.Errorf("last history entry %+v: want AwaitingPayment -> Paid from a notification", last)
	}
	if o.Status.PaidAt == nil || o.Status.PaidAmount != "25.00" || o.Status.LastNotification == nil || o.Status.LastNotification.ID != last.NotificationID || o.Status.LastNotification.Type != "payment.succeeded" {
		t.Errorf("paid status incomplete: paidAt=%v paidAmount=%q lastNotification=%+v", o.Status.PaidAt, o.Status.PaidAmount, o.Status.LastNotification)
	}
	// The order can be Paid before the gateway has recorded the answer it got: wait for that.
	stats := gatewaytest.WaitStats(t, f.GW, 10*time.Second, func(s gateway.Stats) bool {
		d := s.DeliveriesFor(o.Status.OutTradeNo)
		return len(d) == 1 && d[0].Acked
	})
	if d := stats.DeliveriesFor(o.Status.OutTradeNo); d[0].AckedOn() != 1 {
		t.Errorf("deliveries %+v: want one, acknowledged on the first attempt", d)
	}
	if n := len(events(t, f.NS, "coffee", v1.ReasonPaid)); n != 1 {
		t.Errorf("%d Paid Events, want 1", n)
	}
}

// TestExactlyOnceAcrossReplicas delivers one notification ten times at once, split between two
// callback servers with separate caches: one transition, one history entry, one Event, and every
// delivery answered success.
func TestExactlyOnceAcrossReplicas(t *testing.T) {
	f := testfixture.New(t, env, gateway.Options{}, noQuery)
	f.Order("once", "10.00", "USD", 30*time.Minute)
	o := f.WaitPhase("once", v1.PhaseAwaitingPayment, 30*time.Second)
	body := notification("evt_once", "payment.succeeded", o, 1000, "USD")
	sig := signed(body, time.Now())

	var wg sync.WaitGroup
	answers := make(chan string, 10)
	for i := range 10 {
		base := mgr.CallbackURL
		if i%2 == 1 {
			base = replicaURL
		}
		wg.Go(func() {
			code, answer := post(t, notifyURL(base, f), body, sig)
			answers <- fmt.Sprintf("%d %s", code, answer)
		})
	}
	wg.Wait()
	close(answers)
	for a := range answers {
		if a != "200 success" {
			t.Errorf("delivery answered %q, want 200 success", a)
		}
	}
	o = f.Get("once")
	if o.Status.Phase != v1.PhasePaid || countTo(o, v1.PhasePaid) != 1 {
		t.Fatalf("want Paid with one transition: %s", describe(o))
	}
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		ev := events(t, f.NS, "once", v1.ReasonPaid)
		return len(ev) == 1 && ev[0].Series == nil, fmt.Sprintf("%d Paid Events (want exactly 1, no series)", len(ev))
	})
}

// unsigned marks a table case sent without a Sandbox-Signature header.
const unsigned = "<unsigned>"

// TestBadNotificationsChangeNothing (timestamps sit a minute past the 300 s window, since the
// table is signed before it runs; the exact boundary is tested with an injected clock in
// providers/sandbox): each is answered with the failure answer and the order is
// left exactly as it was.
func TestBadNotificationsChangeNothing(t *testing.T) {
	f := testfixture.New(t, env, gateway.Options{}, noQuery)
	other := testfixture.New(t, env, gateway.Options{}, noQuery)
	f.Order("target", "10.00", "CNY", 30*time.Minute)
	o := f.WaitPhase("target", v1.PhaseAwaitingPayment, 30*time.Second)
	good := notification("evt_bad", "payment.succeeded", o, 1000, "CNY")
	now := time.Now()
	route := notifyURL(mgr.CallbackURL, f)

	wrongKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		url      string
		method   string
		body     []byte
		sig      string // "" signs body now with the gateway's key
		wantCode int
		mismatch bool // recorded as a NotificationRejected condition
	}{
		{"a signature over other bytes is refused", route, "POST", good, signed([]byte("other"), now), 400, false},
		{"a body tampered after signing (amount raised) is refused", route, "POST", []byte(strings.Replace(string(good), `"amount":1000`, `"amount":1`, 1)), signed(good, now), 400, false},
		{"a notification signed with another key is refused", route, "POST", good, gateway.SignPayload(wrongKey, now, good), 400, false},
		{"an unsigned notification is refused", route, "POST", good, unsigned, 400, false},
		{"a replay older than the 300 s window is refused", route, "POST", good, signed(good, now.Add(-360*time.Second)), 400, false},
		{"a timestamp from the future is refused", route, "POST", good, signed(good, now.Add(360*time.Second)), 400, false},
		{"a validly signed notification for an order nobody has is refused, so the provider retries",
			route, "POST", notification("evt_x", "payment.succeeded", &v1.PaymentOrder{Status: v1.PaymentOrderStatus{OutTradeNo: "NOSUCHORDER", ProviderPaymentID: "pay_x"}}, 1000, "CNY"), "", 500, false},
		{"an amount different from the order's is never paid", route, "POST", notification("evt_amt", "payment.succeeded", o, 999, "CNY"), "", 500, true},
		{"a currency different from the order's is never paid", route, "POST", notification("evt_cur", "payment.succeeded", o, 1000, "USD"), "", 500, true},
		{"validly signed but malformed JSON is refused", route, "POST", []byte(`{"id":`), "", 400, false},
		{"a body over 1 MiB is refused before anything else", route, "POST", []byte(strings.Repeat("x", webhook.MaxBodyBytes+1)), "", 413, false},
		{"GET is not a notification", route, "GET", nil, "", 405, false},
		{"a notification sent to another namespace's provider does not reach this order", notifyURL(mgr.CallbackURL, other), "POST", good, signed(good, now), 500, false},
		{"a provider that does not exist has no key to verify with", mgr.CallbackURL + "/notify/" + f.NS + "/nope", "POST", good, signed(good, now), 404, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.Get("target")
			sig := tt.sig
			switch sig {
			case unsigned:
				sig = ""
			case "":
				sig = signed(tt.body, now)
			}
			req, _ := http.NewRequestWithContext(t.Context(), tt.method, tt.url, strings.NewReader(string(tt.body)))
			if sig != "" {
				req.Header.Set("Sandbox-Signature", sig)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode || strings.TrimSpace(string(answer)) == "success" {
				t.Errorf("answered %d %q, want %d and not success", resp.StatusCode, answer, tt.wantCode)
			}
			after := f.Get("target")
			if after.Status.Phase != v1.PhaseAwaitingPayment || after.Status.PaidAt != nil || !equality.Semantic.DeepEqual(after.Status.History, before.Status.History) {
				t.Errorf("order changed: %s", describe(after))
			}
			rejected := meta.FindStatusCondition(after.Status.Conditions, v1.ConditionNotificationRejected)
			if tt.mismatch && (rejected == nil || !strings.Contains(rejected.Message, "evt_")) {
				t.Errorf("mismatch not recorded as a %s condition: %+v", v1.ConditionNotificationRejected, rejected)
			}
		})
	}
	if n := len(events(t, f.NS, "target", v1.ReasonNotificationRejected)); n < 2 {
		t.Errorf("%d NotificationRejected Events, want one per mismatch (2)", n)
	}
}

// TestOutOfOrderAfterPaid: failed or closed notifications arriving after Paid change nothing and
// are acknowledged (redelivering them cannot help).
func TestOutOfOrderAfterPaid(t *testing.T) {
	f := testfixture.New(t, env, gateway.Options{}, noQuery)
	f.Order("ooo", "3.00", "EUR", 30*time.Minute)
	o := f.WaitPhase("ooo", v1.PhaseAwaitingPayment, 30*time.Second)
	route := notifyURL(mgr.CallbackURL, f)
	paid := notification("evt_paid", "payment.succeeded", o, 300, "EUR")
	if code, answer := post(t, route, paid, signed(paid, time.Now())); code != 200 || answer != "success" {
		t.Fatalf("paid notification answered %d %q", code, answer)
	}
	o = f.WaitPhase("ooo", v1.PhasePaid, 10*time.Second)
	for _, typ := range []string{"payment.failed", "payment.closed"} {
		late := notification("evt_late_"+typ, typ, o, 300, "EUR")
		if code, answer := post(t, route, late, signed(late, time.Now())); code != 200 || answer != "success" {
			t.Errorf("%s after Paid answered %d %q, want 200 success", typ, code, answer)
		}
	}
	after := f.Get("ooo")
	if !equality.Semantic.DeepEqual(after.Status, o.Status) {
		t.Errorf("late notifications changed the paid order: %s", describe(after))
	}
}

// TestWriteFaultsRetriedUntilApplied: the API server refuses the status writes of the first
// deliveries; every refused delivery gets the failure answer, the gateway keeps retrying, and the
// order ends Paid exactly once.
func TestWriteFaultsRetriedUntilApplied(t *testing.T) {
	tests := []struct {
		name  string
		arm   func(client.ObjectKey)
		first int // the attempt expected to be acknowledged, at the earliest
	}{
		{"a conflict storm outlasting one delivery's re-decisions (6 writes each) fails two deliveries",
			func(k client.ObjectKey) { faults.ConflictStatusWrites(k, 12) }, 3},
		{"plain write failures (API server unavailable) fail the delivery at once, each one",
			func(k client.ObjectKey) { faults.FailStatusWrites(k, 2) }, 3},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := testfixture.New(t, env, gateway.Options{TimeScale: 0.0005}, withCallback(noQuery))
			name := fmt.Sprintf("storm-%d", i)
			f.Order(name, "8.00", "CNY", 30*time.Minute)
			o := f.WaitPhase(name, v1.PhaseAwaitingPayment, 30*time.Second)
			key := client.ObjectKeyFromObject(o)
			tt.arm(key)
			f.Pay(o.Status.ProviderPaymentID, "succeeded")

			o = f.WaitPhase(name, v1.PhasePaid, 30*time.Second)
			if countTo(o, v1.PhasePaid) != 1 {
				t.Errorf("want one Paid transition: %s", describe(o))
			}
			if left := faults.Pending(key); left != 0 {
				t.Errorf("%d injected faults never fired", left)
			}
			stats := gatewaytest.WaitStats(t, f.GW, 10*time.Second, func(s gateway.Stats) bool {
				d := s.DeliveriesFor(o.Status.OutTradeNo)
				return len(d) == 1 && d[0].Acked
			})
			d := stats.DeliveriesFor(o.Status.OutTradeNo)
			if d[0].AckedOn() < tt.first {
				t.Errorf("deliveries %+v: want one, acknowledged on attempt %d or later", d, tt.first)
			}
			for _, a := range d[0].Attempts[:tt.first-1] {
				if a.Acked || a.StatusCode == http.StatusOK {
					t.Errorf("attempt %d was answered %d %q while its write failed", a.Number, a.StatusCode, a.Body)
				}
			}
		})
	}
}
