package settle

import (
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/statemachine"
	"github.com/kubepay/kubepay/providers"
)

var now = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func order() *v1.PaymentOrder {
	return &v1.PaymentOrder{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "coffee"},
		Spec:       v1.PaymentOrderSpec{ProviderRef: v1.ProviderReference{Name: "alipay"}, Amount: "10.00", Currency: "CNY"},
		Status:     v1.PaymentOrderStatus{Phase: v1.PhaseAwaitingPayment, OutTradeNo: "OTN1", AmountMinor: 1000, ProviderPaymentID: "pay_1"},
	}
}

func provider() *v1.PaymentProvider {
	return &v1.PaymentProvider{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "alipay"},
		Spec:       v1.PaymentProviderSpec{Type: v1.ProviderAlipay, AppID: "app1", MerchantID: "m1"},
	}
}

func notification(status providers.PaymentStatus) providers.Notification {
	return providers.Notification{ID: "n1", Type: "TRADE_SUCCESS", OutTradeNo: "OTN1", ProviderPaymentID: "pay_1",
		Status: status, AmountMinor: 1000, Currency: "CNY", AppID: "app1", MerchantID: "m1", OccurredAt: now.Add(-time.Second)}
}

func TestDecideNotification(t *testing.T) {
	tests := []struct {
		name     string
		why      string
		mutate   func(*providers.Notification)
		wantType statemachine.EventType
		wantAct  bool
		wantWhy  string // substring of the mismatch, "" when none
	}{
		{"success", "a matching success is the payment", nil, statemachine.Succeeded, true, ""},
		{"failure", "a matching failure fails the order", func(n *providers.Notification) { n.Status = providers.StatusFailed }, statemachine.PaymentFailed, true, ""},
		{"closed", "a matching close is an expiry or cancellation, decided by the state machine", func(n *providers.Notification) { n.Status = providers.StatusClosed }, statemachine.Closed, true, ""},
		{"unknown event", "an event kubepay does not act on asks for nothing", func(n *providers.Notification) { n.Status = "" }, "", false, ""},
		{"other amount", "a success for another amount is not this payment", func(n *providers.Notification) { n.AmountMinor = 1 }, "", false, "amount 1"},
		{"other currency", "the same digits in another currency are other money", func(n *providers.Notification) { n.Currency = "USD" }, "", false, "currency"},
		{"other app", "a notification for another app of the provider is someone else's", func(n *providers.Notification) { n.AppID = "app2" }, "", false, "app id"},
		{"other merchant", "a notification for another merchant account is someone else's", func(n *providers.Notification) { n.MerchantID = "m2" }, "", false, "merchant id"},
		{"other payment", "a replay of another payment with the same out_trade_no", func(n *providers.Notification) { n.ProviderPaymentID = "pay_2" }, "", false, "provider payment id"},
		{"failure with another amount", "every notification states the amount; one that disagrees is not about this payment", func(n *providers.Notification) {
			n.Status, n.AmountMinor = providers.StatusFailed, 5
		}, "", false, "amount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := notification(providers.StatusSucceeded)
			if tt.mutate != nil {
				tt.mutate(&n)
			}
			ev, act, err := Decide(order(), provider(), FromNotification(n), now)
			if tt.wantWhy != "" {
				var m *MismatchError
				if !errors.As(err, &m) || !errors.Is(err, ErrMismatch) || !strings.Contains(m.Why, tt.wantWhy) {
					t.Fatalf("%s: error %v, want a mismatch naming %q", tt.why, err, tt.wantWhy)
				}
				if !strings.Contains(err.Error(), "shop/coffee") || !strings.Contains(err.Error(), "n1") {
					t.Errorf("mismatch %q does not name the order and the notification", err)
				}
				return
			}
			if err != nil || act != tt.wantAct || ev.Type != tt.wantType {
				t.Fatalf("%s: got %s act=%v err=%v, want %s act=%v", tt.why, ev.Type, act, err, tt.wantType, tt.wantAct)
			}
			if act && (ev.Source != v1.SourceNotification || ev.NotificationID != "n1" || !ev.At.Equal(now)) {
				t.Errorf("event %+v does not carry the notification's source, id and the decision time", ev)
			}
		})
	}
}

func TestDecideSuccessCarriesTheMoney(t *testing.T) {
	ev, _, err := Decide(order(), provider(), FromNotification(notification(providers.StatusSucceeded)), now)
	if err != nil {
		t.Fatal(err)
	}
	if ev.PaidAmount != "10.00" || !ev.PaidAt.Equal(now.Add(-time.Second)) || ev.ProviderPaymentID != "pay_1" || ev.Reason != v1.ReasonPaid {
		t.Errorf("success event %+v: want paid 10.00 at the provider's time, payment pay_1, reason Paid", ev)
	}
}

// TestDecidePayment: answers to the controller's own authenticated calls are checked for money
// only where money moved; they carry no account to check.
func TestDecidePayment(t *testing.T) {
	tests := []struct {
		name    string
		why     string
		p       providers.Payment
		want    statemachine.EventType
		wantAct bool
		wantErr bool
	}{
		{"open", "an open payment asks for nothing", providers.Payment{ID: "pay_1", Status: providers.StatusOpen}, "", false, false},
		{"paid", "a query finding the payment paid", providers.Payment{ID: "pay_1", Status: providers.StatusSucceeded, AmountMinor: 1000, Currency: "CNY"}, statemachine.Succeeded, true, false},
		{"paid another amount", "never settle an order on a record that disagrees with it", providers.Payment{ID: "pay_1", Status: providers.StatusSucceeded, AmountMinor: 999, Currency: "CNY"}, "", false, true},
		{"closed without amount", "a closed payment's answer may omit the amount; nothing moved, so nothing to check", providers.Payment{ID: "pay_1", Status: providers.StatusClosed}, statemachine.Closed, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, act, err := Decide(order(), nil, FromPayment(tt.p, v1.SourceQuery), now)
			if (err != nil) != tt.wantErr || act != tt.wantAct || ev.Type != tt.want {
				t.Fatalf("%s: got %s act=%v err=%v, want %s act=%v err=%v", tt.why, ev.Type, act, err, tt.want, tt.wantAct, tt.wantErr)
			}
		})
	}
}
